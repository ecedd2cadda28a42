"""DQN on CartPole: replay buffer, the loss with a target network, and solving CartPole-v1."""

import numpy as np
import pytest
import torch

from core.protocol import config_from_strings
from core.rl import dqn


def test_replay_buffer_ring_and_sampling():
    buf = dqn.ReplayBuffer(5, seed=0)
    with pytest.raises(ValueError, match="empty"):
        buf.sample(2, torch.device("cpu"))
    for i in range(7):  # overwrites the two oldest
        buf.add(np.full(4, i, np.float32), i % 2, 1.0, np.full(4, i + 1, np.float32), i == 6)
    assert len(buf) == 5
    obs, act, rew, nxt, term, horizon = buf.sample(64, torch.device("cpu"))
    assert torch.equal(horizon, torch.ones(64))
    assert obs.shape == (64, 4) and act.shape == (64,) and term.shape == (64,)
    assert set(obs[:, 0].tolist()) <= {2.0, 3.0, 4.0, 5.0, 6.0}
    assert torch.equal(nxt[:, 0], obs[:, 0] + 1)
    latest = buf.latest(3, torch.device("cpu"))[0][:, 0].tolist()
    assert latest == [6.0, 5.0, 4.0]


def test_loss_uses_the_target_network_and_terminal_flags():
    torch.manual_seed(0)
    q, target = dqn.q_network(hidden=16), dqn.q_network(hidden=16)
    obs, nxt = torch.randn(8, 4), torch.randn(8, 4)
    act = torch.randint(0, 2, (8,))
    rew = torch.ones(8)
    term = torch.tensor([1.0, 0.0] * 4)
    loss, qv = dqn.dqn_loss(q, target, (obs, act, rew, nxt, term), 0.9, double_dqn=False)
    with torch.no_grad():  # y = r + γ (1 - terminated) max_a' Q_target(s', a')
        y = rew + 0.9 * (1 - term) * target(nxt).max(1).values
        q_sa = q(obs).gather(1, act[:, None])[:, 0]
    assert torch.allclose(loss, torch.nn.functional.smooth_l1_loss(q_sa, y))
    assert qv.shape == (8, 2)
    loss.backward()
    assert all(p.grad is None for p in target.parameters())  # no gradient into θ⁻
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in q.parameters())
    # Double DQN values the online network's argmax with the target network
    loss_d, _ = dqn.dqn_loss(q, target, (obs, act, rew, nxt, term), 0.9, double_dqn=True)
    with torch.no_grad():
        a_star = q(nxt).argmax(1, keepdim=True)
        y_d = rew + 0.9 * (1 - term) * target(nxt).gather(1, a_star)[:, 0]
    assert torch.allclose(loss_d, torch.nn.functional.smooth_l1_loss(q_sa, y_d))
    dqn.update_target(target, q, tau=1.0)
    assert all(torch.equal(a, b) for a, b in zip(target.parameters(), q.parameters()))


def test_epsilon_schedule():
    assert dqn.linear_schedule(1.0, 0.1, 5_000, 0) == 1.0
    assert dqn.linear_schedule(1.0, 0.1, 5_000, 2_500) == pytest.approx(0.55)
    assert dqn.linear_schedule(1.0, 0.1, 5_000, 9_000) == pytest.approx(0.1)
    assert dqn.linear_schedule(1.0, 0.1, 0, 1) == 0.1  # exploration_fraction = 0: no decay
    with pytest.raises(ValueError, match="must not exceed"):
        dqn.DqnConfig(epsilon_start=0.1, epsilon_end=0.5)


@pytest.mark.parametrize("old_key, value, field", [
    ("total_steps", "3000", "steps"), ("width", "32", "hidden"),
    ("eps_start", "0.5", "epsilon_start"), ("eps_end", "0.2", "epsilon_end")])
def test_old_field_names_still_set_the_renamed_fields(old_key, value, field):
    """Links and commands written before the renames keep their settings."""
    cfg = config_from_strings(dqn.DqnConfig, {old_key: value})
    assert getattr(cfg, field) == type(getattr(cfg, field))(value)
    assert getattr(cfg, field) != getattr(dqn.DqnConfig(), field)  # it really changed


def test_episode_statistics_come_from_the_wrapper_and_match_the_episodes():
    cfg = dqn.DqnConfig(steps=1500, learning_starts=500, train_freq=250, gradient_steps=4,
                        eval_every=1500, eval_episodes=1, hidden=16, device="cpu")
    last = list(dqn.train(cfg))[-1]
    episodes, m = last.artifacts["episodes"], last.metrics
    assert m["episodes"] == len(episodes) > 20
    assert m["episode_return"] == episodes[-1, 1]
    assert m["return_avg"] == pytest.approx(episodes[-20:, 1].mean())
    assert episodes[:, 1].sum() <= 1500 and (np.diff(episodes[:, 0]) == episodes[1:, 1]).all()
    assert {"loss", "mean_max_q"} <= m.keys() and last.model is not None


def test_default_dqn_solves_cartpole():
    """The default config reaches a mean greedy return >= 475 over 10 episodes within its budget.

    Stops at the first such evaluation (the rest of the budget would only cost test time).
    """
    cfg = dqn.DqnConfig(device="cpu")
    assert cfg.eval_episodes == 10
    best, n_evals = 0.0, 0
    for snap in dqn.train(cfg):
        evals = snap.artifacts["evals"]
        n_evals = len(evals)
        if n_evals:
            best = max(best, float(evals[:, 1].max()))
        if best >= 475:
            break
    assert best >= 475, f"best mean evaluation return {best} after {n_evals} evaluations"
    assert snap.step <= cfg.steps


def test_n_step_transitions_sum_rewards_and_flush_at_episode_end():
    g = 0.5
    obs = [np.full(4, i, np.float32) for i in range(6)]
    pending: list = []
    out = []
    for t in range(4):  # four steps of an episode that goes on
        pending.append((obs[t], t % 2, 1.0))
        out += dqn.n_step_transitions(pending, obs[t + 1], 3, g, False, False)
    # once 3 steps are pending, each step emits the transition that started 3 steps earlier
    assert [(o[0][0], o[2], o[3][0], o[4], o[5]) for o in out] == [
        (0.0, 1.75, 3.0, False, 3), (1.0, 1.75, 4.0, False, 3)]
    pending.append((obs[4], 0, 1.0))  # the pole falls: flush every pending step, no bootstrap
    out = dqn.n_step_transitions(pending, obs[5], 3, g, True, True)
    assert [(o[0][0], o[2], o[4], o[5]) for o in out] == [
        (2.0, 1.75, True, 3), (3.0, 1.5, True, 2), (4.0, 1.0, True, 1)]
    assert pending == []
    # the loss discounts the bootstrap by gamma ** horizon
    torch.manual_seed(0)
    q, target = dqn.q_network(hidden=8), dqn.q_network(hidden=8)
    o, nxt = torch.randn(4, 4), torch.randn(4, 4)
    act, rew = torch.zeros(4, dtype=torch.int64), torch.ones(4)
    term, horizon = torch.zeros(4), torch.tensor([1.0, 2.0, 3.0, 3.0])
    loss, _ = dqn.dqn_loss(q, target, (o, act, rew, nxt, term, horizon), 0.9, double_dqn=False)
    with torch.no_grad():
        y = rew + 0.9 ** horizon * target(nxt).max(1).values
        ref = torch.nn.functional.smooth_l1_loss(q(o)[:, 0], y)
    assert torch.allclose(loss, ref)
