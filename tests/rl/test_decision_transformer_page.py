"""AppTest: /decision-transformer previews the dataset, trains, and plots achieved vs target."""

from tests.apptest_util import is_done, open_page, page_charts, train_until
from ui.pages import page


def test_dt_page_trains_and_evaluates(clean_streamlit):
    at = open_page("decision-transformer")
    assert page_charts(at), "the dataset's returns are shown before any run"
    at.slider(key="decision-transformer.n_episodes").set_value(40)
    at.select_slider(key="decision-transformer.steps").set_value(100)
    at.text_input(key="decision-transformer.targets").set_value("50,500")
    at.slider(key="decision-transformer.eval_episodes").set_value(2)
    at.run()
    assert not at.error
    train_until(at, is_done, timeout=120)
    assert len(page_charts(at)) >= 3  # loss, dataset, achieved vs target
    assert any(m.label == "Behavior cloning return" for m in at.metric)


def test_dt_page_rejects_bad_targets(clean_streamlit):
    at = open_page("decision-transformer")
    at.text_input(key="decision-transformer.targets").set_value("lots, please")
    at.run()
    assert not at.exception
    assert any("Target returns can't be used" in e.value for e in at.error)


def test_dt_page_uses_a_finished_dqn_run(clean_streamlit):
    from core import handoff
    from core.rl import dqn

    cfg = dqn.DqnConfig(steps=2000, learning_starts=500, eval_every=1000, eval_episodes=1,
                        hidden=32, seed=7, device="cpu")
    for _ in dqn.train(cfg):  # a finished DQN run publishes its policies
        pass
    at = open_page("decision-transformer")
    at.segmented_control(key="decision-transformer.source").set_value("dqn")
    at.run()
    pick = at.selectbox(key="decision-transformer.dqn_run")
    run = handoff.run_name(cfg)
    label = next((o for o in pick.options if o.startswith(run)), None)
    assert label is not None, pick.options
    assert "finished, 2 checkpoints" in label
    assert pick.value == run, "the newest finished DQN run is preselected"
    at.slider(key="decision-transformer.n_episodes").set_value(20)
    at.select_slider(key="decision-transformer.steps").set_value(100)
    at.text_input(key="decision-transformer.targets").set_value("50,500")
    at.slider(key="decision-transformer.eval_episodes").set_value(1)
    at.run()
    assert not at.exception and not at.error
    assert any("finished on the **DQN** page" in c.value for c in at.caption)
    assert at.query_params["dqn_run"] == run, "the chosen run is in the link"
    train_until(at, is_done, timeout=120)
    assert any(m.label == "Behavior cloning return" for m in at.metric)


def test_a_link_from_the_dqn_page_presets_the_run_on_a_later_visit(clean_streamlit):
    at = open_page("decision-transformer")  # first visit, no link
    for run in ("steps=5000,seed=3", "total_steps=6000,seed=3"):  # today's and an old link
        at.switch_page(page("dqn").file)
        at.run()
        at.query_params.clear()
        at.query_params.update({"source": "dqn", "dqn_run": run})
        at.switch_page(page("decision-transformer").file)  # as the DQN page's st.page_link does
        at.run()
        assert not at.exception and not at.error
        assert at.segmented_control(key="decision-transformer.source").value == "dqn"
        assert at.selectbox(key="decision-transformer.dqn_run").value == run
