"""AppTest: /dqn shows the environment before training, trains live, plays the policy back."""

from urllib.parse import unquote

from tests.apptest_util import (
    assert_says,
    button,
    chart_titles,
    open_page,
    page_charts,
    set_controls,
    train_until,
)


def test_dqn_page_trains_and_plays_back(clean_streamlit):
    at = open_page("dqn")
    assert at.get("image"), "the CartPole frame is shown before any run"
    set_controls(at, {"dqn.steps": 2_000, "dqn.hidden": 32, "dqn.eval_every": 1_000,
                      "dqn.eval_episodes": 2})
    train_until(at, timeout=120)
    assert len(page_charts(at)) >= 4  # returns, loss, max-Q/ε, Q-slice
    assert not at.get("image")
    assert any(m.label == "Evaluation return" for m in at.metric)
    assert "Gradient norm" not in chart_titles(at), "a closed diagnostics panel draws nothing"
    at.session_state["dqn.diagnostics"] = True  # the visitor opens it
    at.run()
    assert "Gradient norm" in chart_titles(at), "the diagnostics panel draws for the Q-network"
    links = [unquote(str(link.proto)) for link in at.get("page_link")]  # the hand-over to the DT page
    assert any("decision-transformer" in link and "dqn_run=hidden=32,steps=2000," in link
               for link in links), links
    at.run()  # the run panel redraws once after the run ends
    for _ in range(3):  # a click can be swallowed by that redraw; retry a couple of times
        button(at, "Play the current policy").click()
        at.run()
        assert not at.exception, at.exception
        gifs = at.get("image")
        if gifs:
            break
    assert gifs, "the played-back episode is shown"
    assert "balanced" in str(gifs[0].proto) and "of 500" in str(gifs[0].proto)


def test_dqn_page_rejects_inconsistent_settings(clean_streamlit):
    at = set_controls(open_page("dqn"), {"dqn.epsilon_start": 0.02})  # below ε end (0.04)
    assert_says(at.error, "can't be trained")
