"""AppTest: /dqn shows the environment before training, trains live, plays the policy back."""

from urllib.parse import unquote

from tests.apptest_util import button, chart_titles, is_done, open_page, page_charts, train_until


def test_dqn_page_trains_and_plays_back(clean_streamlit):
    at = open_page("dqn")
    assert at.get("image"), "the CartPole frame is shown before any run"
    assert [b.label for b in at.button][:4] == ["Train", "Stop", "Resume", "Reset"]
    at.select_slider(key="dqn.steps").set_value(2_000)
    at.select_slider(key="dqn.hidden").set_value(32)
    at.select_slider(key="dqn.eval_every").set_value(1_000)
    at.slider(key="dqn.eval_episodes").set_value(2)
    at.run()
    train_until(at, is_done, timeout=120)
    assert len(page_charts(at)) >= 4  # returns, loss, max-Q/ε, Q-slice
    assert not at.get("image")
    assert any(m.label == "Evaluation return" for m in at.metric)
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
    at = open_page("dqn")
    at.slider(key="dqn.epsilon_start").set_value(0.02)  # below ε end (0.04)
    at.run()
    assert not at.exception
    assert any("can't be trained" in e.value for e in at.error)


def test_old_links_still_open_their_settings(clean_streamlit):
    from streamlit.testing.v1 import AppTest

    from tests.conftest import ROOT
    from ui.pages import page

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params.update({"total_steps": "20000", "width": "32", "eps_start": "0.5",
                            "eps_end": "0.1"})
    at.run()
    at.switch_page(page("dqn").file)
    at.run()
    assert not at.exception and not at.warning
    assert at.select_slider(key="dqn.steps").value == 20_000
    assert at.select_slider(key="dqn.hidden").value == 32
    assert at.slider(key="dqn.epsilon_start").value == 0.5
    assert at.slider(key="dqn.epsilon_end").value == 0.1
    assert at.query_params["steps"] == "20000" and "total_steps" not in at.query_params
