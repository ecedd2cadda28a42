"""Decision Transformer: causal masking, return-to-go, achieved return that follows the target."""

import numpy as np
import pytest
import torch

from core.rl import decision_transformer as dt


def test_return_to_go_and_dataset_is_mixed_quality():
    traj = dt.Trajectory(np.zeros((3, 4), np.float32), np.zeros(3, np.int64),
                         np.array([1.0, 2.0, 3.0], np.float32))
    assert traj.return_to_go().tolist() == [6.0, 5.0, 3.0]
    data = dt.collect_dataset("heuristic", 60, 0)
    assert data is dt.collect_dataset("heuristic", 60, 0)  # cached
    rets = np.array([t.ret for t in data])
    assert rets.min() < 50 and rets.max() >= 450  # random play and near-perfect control


def test_causal_attention_does_not_see_the_future():
    torch.manual_seed(0)
    model = dt.DecisionTransformer(d_model=32, n_layers=2, n_heads=2, dropout=0.0).eval()
    b, k = 2, 6
    rtg, states = torch.rand(b, k, 1), torch.randn(b, k, 4)
    actions, ts = torch.randint(0, 2, (b, k)), torch.arange(k).repeat(b, 1)
    mask = torch.ones(b, k, dtype=torch.bool)
    mask[1, :2] = False  # left padding
    out = model(rtg, states, actions, ts, mask)
    assert out.shape == (b, k, 2) and torch.isfinite(out).all()
    # the action a_t itself and everything after step t must not change the logits for a_t
    actions2, states2 = actions.clone(), states.clone()
    actions2[:, 3:] = 1 - actions2[:, 3:]
    states2[:, 4:] += 5.0
    out2 = model(rtg, states2, actions2, ts, mask)
    assert torch.allclose(out[:, :4], out2[:, :4], atol=1e-5)
    assert not torch.allclose(out[:, 4:], out2[:, 4:], atol=1e-3)


def test_bad_targets_are_rejected():
    with pytest.raises(ValueError, match="comma-separated"):
        dt.DtConfig(targets="high,low")
    with pytest.raises(ValueError, match="2 to 10"):
        dt.DtConfig(targets="5000,10")


def test_achieved_return_increases_with_target():
    cfg = dt.DtConfig(n_episodes=120, steps=600, targets="30,150,500", eval_episodes=6,
                      seed=0, device="cpu")
    snaps = list(dt.train(cfg))
    losses = [s.metrics["loss"] for s in snaps if "loss" in s.metrics]
    assert np.mean(losses[-3:]) < losses[0] - 0.05  # the loss falls from ~ln 2
    final = snaps[-1]
    assert final.final
    rows = final.artifacts["eval"]
    assert rows[:, 0].tolist() == [30.0, 150.0, 500.0]
    achieved = rows[:, 1]
    # monotone in the target, with a clear spread between the lowest and the highest target
    assert achieved[0] < achieved[1] < achieved[2], achieved
    assert achieved[2] - achieved[0] >= 150, achieved


def test_dataset_from_a_finished_dqn_run_and_its_policies_file(tmp_path, monkeypatch):
    from core import handoff
    from core.__main__ import main
    from core.rl import dqn

    monkeypatch.setenv("LIVEPROP_DATA", str(tmp_path))  # finished runs and files live there
    cfg = dqn.DqnConfig(steps=3000, learning_starts=500, eval_every=1000, eval_episodes=1,
                        hidden=32, seed=5, device="cpu")
    last = list(dqn.train(cfg))[-1]
    policies = last.artifacts[handoff.POLICIES]
    assert policies["steps"].tolist() == [1000, 2000, 3000]
    run = handoff.run_name(cfg)
    assert any(e.run == run for e in handoff.finished(handoff.POLICIES)), "finished runs publish"
    with monkeypatch.context() as m:  # the DT reuses the published run: no DQN training here
        m.setattr(handoff, "_train", lambda *a, **k: pytest.fail("retrained the DQN run"))
        data = dt.collect_dataset("dqn", 12, 0, run)
    assert len(data) == 12 and all(len(t.actions) >= 1 for t in data)
    assert dt.pick_checkpoints(np.array([10.0, 500.0, 30.0, 200.0]), 3) == [0, 1, 3]
    # the CLI writes the same policies to a file the DT can read (weights_only)
    out = tmp_path / "dqn"
    main(["train", "dqn", "--quiet", "--out", str(out),
          *sum((["--set", kv] for kv in run.split(",") if not kv.startswith("device")), [])])
    path = out / f"{handoff.POLICIES}.pt"
    assert path.exists()
    assert len(dt.collect_dataset("dqn", 12, 0, str(path))) == 12
    with pytest.raises(ValueError, match="no such file"):
        dt.collect_dataset("dqn", 12, 0, str(tmp_path / "missing.pt"))
    with pytest.raises(ValueError, match="unknown key"):
        dt.DtConfig(source="dqn", dqn_run="nonsense=3")


def test_old_dqn_run_links_still_name_the_same_run():
    from core.protocol import config_from_strings

    cfg = config_from_strings(dt.DtConfig, {"source": "dqn", "dqn_run": "total_steps=5000"})
    assert cfg.dqn_run == "total_steps=5000"  # accepted: the DQN config's alias reads it
    assert dt.DtConfig().dqn_run == "steps=20000"
