"""AppTest: /gridworld renders its grid editor, trains and shows the Q-table and curves."""

from tests.apptest_util import assert_says, open_link, open_page, page_charts, set_controls, train_until


def test_gridworld_page_trains(clean_streamlit):
    at = open_page("gridworld")
    assert len(page_charts(at)) == 2  # learned Q (empty) and value iteration
    set_controls(at, {"gridworld.episodes": 200, "gridworld.pace_ms": 0})
    train_until(at)
    assert len(page_charts(at)) >= 4  # Q-table, value iteration, returns, gap
    labels = [m.label for m in at.metric]
    assert "Policy matches value iteration" in labels


def test_bad_link_value_falls_back_with_a_notice(clean_streamlit):
    at = open_link("gridworld", {"gamma": "7", "alpha": "0.5"})
    assert_says(at.warning, "gamma=7")
    assert at.slider(key="gridworld.alpha").value == 0.5
    assert at.slider(key="gridworld.gamma").value == 0.95
