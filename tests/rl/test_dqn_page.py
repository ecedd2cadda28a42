"""AppTest: /dqn shows the environment before training, trains live, plays the policy back."""

from tests.apptest_util import button, is_done, open_page, train_until


def test_dqn_page_trains_and_plays_back(clean_streamlit):
    at = open_page("dqn")
    assert at.get("image"), "the CartPole frame is shown before any run"
    assert [b.label for b in at.button][:4] == ["Train", "Stop", "Resume", "Reset"]
    at.select_slider(key="dqn.total_steps").set_value(2_000)
    at.select_slider(key="dqn.width").set_value(32)
    at.select_slider(key="dqn.eval_every").set_value(1_000)
    at.slider(key="dqn.eval_episodes").set_value(2)
    at.run()
    train_until(at, is_done, timeout=120)
    assert len(at.get("plotly_chart")) >= 4  # returns, loss, max-Q/ε, Q-slice
    assert not at.get("image")
    assert any(m.label == "Evaluation return" for m in at.metric)
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
    at = open_page("dqn")
    at.slider(key="dqn.eps_start").set_value(0.02)  # below ε end (0.04)
    at.run()
    assert not at.exception
    assert any("can't be trained" in e.value for e in at.error)
