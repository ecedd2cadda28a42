"""AppTest: the home page and /playground render, train and show charts without exceptions."""

from tests.apptest_util import assert_says, open_link, open_page, page_charts, set_controls, train_until
from ui.pages import page


def test_home_lists_pages(clean_streamlit):
    at = open_page("")
    text = " ".join(m.value for m in at.markdown) + " ".join(t.value for t in at.title)
    assert "Liveprop" in text
    assert "coming soon" not in text.lower()


def test_playground_trains_and_updates(clean_streamlit):
    at = open_page("playground")
    assert page_charts(at), "the data preview is drawn before any run"
    set_controls(at, {"playground.steps": 500})
    train_until(at)
    assert len(page_charts(at)) >= 2  # boundary, loss
    neurons = [i for i in at.get("image") if "hidden neuron" in i.proto.imgs[0].caption]
    assert neurons, "the hidden neurons' picture is drawn"
    assert any(m.label == "Test accuracy" for m in at.metric)


def test_settings_are_mirrored_in_the_url(clean_streamlit):
    at = open_page("playground")
    set_controls(at, {"playground.dataset": "spiral", "playground.lr": 0.1})
    assert at.query_params["dataset"] == "spiral"
    assert at.query_params["lr"] == "0.1"
    assert "noise" not in at.query_params  # defaults stay out of the link


def test_link_settings_are_applied(clean_streamlit):
    at = open_link("playground", {"dataset": "xor", "noise": "0.3", "activation": "gelu"})
    assert at.selectbox(key="playground.dataset").value == "xor"
    assert at.slider(key="playground.noise").value == 0.3
    assert_says(at.warning, "activation=gelu")


def test_a_later_link_with_new_settings_is_applied_too(clean_streamlit):
    at = open_page("playground")  # the session's first visit reads the (empty) URL
    at.selectbox(key="playground.dataset").set_value("spiral")
    at.run()
    at.run()  # a rerun with only what the form wrote keeps the user's choice
    assert at.selectbox(key="playground.dataset").value == "spiral"
    at.query_params.clear()
    at.query_params.update({"dataset": "moons"})  # e.g. another page's st.page_link
    at.run()
    assert at.selectbox(key="playground.dataset").value == "moons"
    assert at.query_params["dataset"] == "moons"


def test_a_diverging_run_says_so_and_keeps_earlier_runs(clean_streamlit):
    at = open_page("playground")
    set_controls(at, {"playground.steps": 200})
    train_until(at, timeout=150)
    set_controls(at, {"playground.activation": "linear", "playground.optimizer": "sgd",
                      "playground.lr": 3.0, "playground.layer0": 8, "playground.layer1": 8})
    train_until(at, lambda a: any("diverged" in e.value for e in a.error), timeout=150)
    message = next(e.value for e in at.error if "diverged" in e.value)
    assert "learning rate" in message
    assert any(e.label.startswith("Compare runs") for e in at.expander)  # the first run is kept


def test_first_paint_shows_the_controls_before_the_charts(clean_streamlit):
    """A session's first page draws its controls at once and its charts one run later (the
    browser loads the chart bundle behind the Train button); later pages draw directly."""
    at = open_page("playground", first_paint=False)
    assert [b.label for b in at.button][:4] == ["Train", "Stop", "Resume", "Reset"]
    assert not page_charts(at)
    assert any("Drawing the charts" in c.value for c in at.caption)
    at.run()  # what the fragment's first poll asks for in the browser
    assert page_charts(at)
    assert not any("Drawing the charts" in c.value for c in at.caption)
    at.switch_page(page("gridworld").file)
    at.run()
    assert not at.exception, at.exception
    assert len(page_charts(at)) >= 2, "Q-table and value iteration, no second deferral"
