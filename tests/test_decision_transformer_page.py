"""AppTest: /decision-transformer previews the dataset, trains, and plots achieved vs target."""

from tests.apptest_util import is_done, open_page, train_until


def test_dt_page_trains_and_evaluates(clean_streamlit):
    at = open_page("pages/decision-transformer.py")
    assert at.get("plotly_chart"), "the dataset's returns are shown before any run"
    at.slider(key="decision-transformer.n_episodes").set_value(40)
    at.select_slider(key="decision-transformer.steps").set_value(100)
    at.text_input(key="decision-transformer.targets_text").set_value("50,500")
    at.slider(key="decision-transformer.eval_episodes").set_value(2)
    at.run()
    assert not at.error
    train_until(at, is_done, timeout=120)
    assert len(at.get("plotly_chart")) >= 3  # loss, dataset, achieved vs target
    assert any(m.label == "Behaviour cloning return" for m in at.metric)


def test_dt_page_rejects_bad_targets(clean_streamlit):
    at = open_page("pages/decision-transformer.py")
    at.text_input(key="decision-transformer.targets_text").set_value("lots, please")
    at.run()
    assert not at.exception
    assert any("Target returns can't be used" in e.value for e in at.error)
