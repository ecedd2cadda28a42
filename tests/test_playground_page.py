"""AppTest: the home page and /playground render, train and show charts without exceptions."""

from tests.apptest_util import open_page, progress_texts, train_until


def test_home_lists_pages(clean_streamlit):
    at = open_page("")
    text = " ".join(m.value for m in at.markdown) + " ".join(t.value for t in at.title)
    assert "Liveprop" in text
    assert "coming soon" not in text.lower()


def test_playground_trains_and_updates(clean_streamlit):
    at = open_page("pages/playground.py")
    assert at.get("plotly_chart"), "the data preview is drawn before any run"
    assert [b.label for b in at.button][:4] == ["Train", "Stop", "Resume", "Reset"]
    at.select_slider(key="playground.steps").set_value(500)
    at.run()
    train_until(at, lambda a: any(t.startswith("Done") for t in progress_texts(a)))
    charts = at.get("plotly_chart")
    assert len(charts) >= 3  # boundary, loss, neurons
    assert any("Test accuracy" == m.label for m in at.metric)
