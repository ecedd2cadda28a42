"""AppTest: /decision-transformer previews the dataset, trains, and plots achieved vs target."""

from tests.apptest_util import assert_says, open_page, page_charts, set_controls, train_until
from ui.pages import page


def test_dt_page_trains_and_evaluates(clean_streamlit):
    at = open_page("decision-transformer")
    assert page_charts(at), "the dataset's returns are shown before any run"
    set_controls(at, {"decision-transformer.n_episodes": 40, "decision-transformer.steps": 100,
                      "decision-transformer.targets": "50,500",
                      "decision-transformer.eval_episodes": 2})
    assert not at.error
    train_until(at, timeout=120)
    assert len(page_charts(at)) >= 3  # loss, dataset, achieved vs target
    assert any(m.label == "Behavior cloning return" for m in at.metric)


def test_dt_page_rejects_bad_targets(clean_streamlit):
    at = set_controls(open_page("decision-transformer"),
                      {"decision-transformer.targets": "lots, please"})
    assert_says(at.error, "Target returns can't be used")


def test_dt_page_uses_a_finished_dqn_run(clean_streamlit):
    from core import handoff
    from core.rl import dqn

    cfg = dqn.DqnConfig(steps=2000, learning_starts=500, eval_every=1000, eval_episodes=1,
                        hidden=32, seed=7, device="cpu")
    for _ in dqn.train(cfg):  # a finished DQN run publishes its policies
        pass
    at = open_page("decision-transformer")
    set_controls(at, {"decision-transformer.source": "dqn"})
    pick = at.selectbox(key="decision-transformer.dqn_run")
    run = handoff.run_name(cfg)
    label = next((o for o in pick.options if o.startswith(run)), None)
    assert label is not None, pick.options
    assert "finished, 2 checkpoints" in label
    assert pick.value == run, "the newest finished DQN run is preselected"
    set_controls(at, {"decision-transformer.n_episodes": 20, "decision-transformer.steps": 100,
                      "decision-transformer.targets": "50,500",
                      "decision-transformer.eval_episodes": 1})
    assert not at.error
    assert any("finished on the **DQN** page" in c.value for c in at.caption)
    assert at.query_params["dqn_run"] == run, "the chosen run is in the link"
    train_until(at, timeout=120)
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
