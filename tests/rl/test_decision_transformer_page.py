"""AppTest: /decision-transformer previews the dataset, trains, and plots achieved vs target."""

from tests.apptest_util import is_done, open_page, train_until
from ui.pages import page


def test_dt_page_trains_and_evaluates(clean_streamlit):
    at = open_page("decision-transformer")
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
    at = open_page("decision-transformer")
    at.text_input(key="decision-transformer.targets_text").set_value("lots, please")
    at.run()
    assert not at.exception
    assert any("Target returns can't be used" in e.value for e in at.error)


def test_dt_page_uses_a_finished_dqn_run(clean_streamlit):
    from core.rl import dqn

    cfg = dqn.DqnConfig(total_steps=2000, learning_starts=500, eval_every=1000, eval_episodes=1,
                        width=32, seed=7, device="cpu")
    for _ in dqn.train(cfg):  # a finished DQN run registers its checkpoints
        pass
    at = open_page("decision-transformer")
    at.segmented_control(key="decision-transformer.source").set_value("dqn")
    at.run()
    pick = at.selectbox(key="decision-transformer.dqn_run_pick")
    key = dqn.run_key(cfg)
    label = next((o for o in pick.options if o.startswith(key)), None)
    assert label is not None, pick.options
    assert "finished, 2 checkpoints" in label
    assert pick.value == key, "the newest finished DQN run is preselected"
    pick.set_value(key)
    at.slider(key="decision-transformer.n_episodes").set_value(20)
    at.select_slider(key="decision-transformer.steps").set_value(100)
    at.text_input(key="decision-transformer.targets_text").set_value("50,500")
    at.slider(key="decision-transformer.eval_episodes").set_value(1)
    at.run()
    assert not at.exception and not at.error
    assert any("finished on the **DQN** page" in c.value for c in at.caption)
    train_until(at, is_done, timeout=120)
    assert any(m.label == "Behaviour cloning return" for m in at.metric)


def test_a_link_from_the_dqn_page_presets_the_run_on_a_later_visit(clean_streamlit):
    at = open_page("decision-transformer")  # first visit, no link
    at.switch_page(page("dqn").file)
    at.run()
    at.query_params.clear()
    at.query_params.update({"source": "dqn", "dqn_run": "total_steps=5000,seed=3"})
    at.switch_page(page("decision-transformer").file)  # as the DQN page's st.page_link does
    at.run()
    assert not at.exception
    assert at.segmented_control(key="decision-transformer.source").value == "dqn"
    assert at.selectbox(key="decision-transformer.dqn_run_pick").value == \
        "total_steps=5000,seed=3"
