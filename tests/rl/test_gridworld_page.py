"""AppTest: /gridworld renders its grid editor, trains and shows the Q-table and curves."""

from tests.apptest_util import is_done, open_page, page_charts, train_until
from ui.pages import page


def test_gridworld_page_trains(clean_streamlit):
    at = open_page("gridworld")
    assert len(page_charts(at)) == 2  # learned Q (empty) and value iteration
    at.select_slider(key="gridworld.episodes").set_value(200)
    at.slider(key="gridworld.pace_ms").set_value(0)
    at.run()
    train_until(at, is_done)
    assert len(page_charts(at)) >= 4  # Q-table, value iteration, returns, gap
    labels = [m.label for m in at.metric]
    assert "Policy matches value iteration" in labels


def test_bad_link_value_falls_back_with_a_notice(clean_streamlit):
    from streamlit.testing.v1 import AppTest

    from tests.conftest import ROOT

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params["gamma"] = "7"
    at.query_params["alpha"] = "0.5"
    at.run()
    at.switch_page(page("gridworld").file)
    at.run()
    assert not at.exception
    warnings = " ".join(w.value for w in at.warning)
    assert "gamma=7" in warnings
    assert at.slider(key="gridworld.alpha").value == 0.5
    assert at.slider(key="gridworld.gamma").value == 0.95


def test_old_links_still_open_their_settings(clean_streamlit):
    from streamlit.testing.v1 import AppTest

    from tests.conftest import ROOT

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params.update({"epsilon": "0.5", "epsilon_min": "0.2"})
    at.run()
    at.switch_page(page("gridworld").file)
    at.run()
    assert not at.exception and not at.warning
    assert at.slider(key="gridworld.epsilon_start").value == 0.5
    assert at.slider(key="gridworld.epsilon_end").value == 0.2
    assert at.query_params["epsilon_start"] == "0.5" and "epsilon" not in at.query_params
