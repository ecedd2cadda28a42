"""The learner of ``/dqn``: the Q-network, the ε schedule and ε-greedy action choice, the
(Double) DQN loss and the target-network update (Mnih et al. 2015; van Hasselt et al. 2016;
CleanRL's ``dqn.py``)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from core.blocks.mlp import mlp
from core.rl.dqn.env import N_ACTIONS, OBS_DIM

__all__ = ["dqn_loss", "epsilon_greedy", "greedy_action", "linear_schedule", "q_network",
           "update_target"]

def q_network(hidden: int = 64) -> nn.Sequential:
    """The Q-network ``obs (B, 4) -> q_values (B, 2)``: an MLP with two ReLU hidden layers of
    ``hidden`` units (:func:`core.blocks.mlp.mlp`, so :func:`core.handoff.policy` rebuilds it)."""
    return mlp([OBS_DIM, hidden, hidden, N_ACTIONS])


def linear_schedule(start_e: float, end_e: float, duration: float, t: int) -> float:
    """ε after ``t`` environment steps: linear from ``start_e`` to ``end_e`` over ``duration``
    steps, then ``end_e`` (CleanRL's ``linear_schedule``)."""
    if duration <= 0:
        return end_e
    return start_e + min(1.0, t / duration) * (end_e - start_e)


def dqn_loss(q_net: nn.Module, target_net: nn.Module, batch: tuple[torch.Tensor, ...],
             gamma: float, double_dqn: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """The DQN loss on one mini-batch (Mnih et al. 2015, with van Hasselt 2016's Double DQN).

    ``loss = mean Huber(Q(s, a) - y)`` with
    ``y = r + γ (1 - terminated) Q_target(s', a*)``, ``a* = argmax_a' Q_target(s', a')``
    (or ``argmax_a' Q(s', a')`` for Double DQN). No gradient flows through ``y``. For n-step
    transitions ``γ`` becomes ``γ^horizon``.

    Args:
        batch: ``(obs (B, 4), actions (B,), rewards (B,), next_obs (B, 4), terminated (B,))``,
            optionally with ``horizon (B,)`` (steps between ``obs`` and ``next_obs``) last.

    Returns:
        ``(loss, q_values (B, n_actions))`` for the observations of the batch.
    """
    obs, actions, rewards, next_obs, terminated = batch[:5]
    discount = gamma ** batch[5] if len(batch) > 5 else gamma
    q_values = q_net(obs)
    q_taken = q_values.gather(1, actions[:, None])[:, 0]
    with torch.no_grad():
        next_q = target_net(next_obs)
        if double_dqn:
            best = q_net(next_obs).argmax(1, keepdim=True)
            next_v = next_q.gather(1, best)[:, 0]
        else:
            next_v = next_q.max(1).values
        y = rewards + discount * (1.0 - terminated) * next_v
    return nn.functional.smooth_l1_loss(q_taken, y), q_values


@torch.no_grad()
def update_target(target_net: nn.Module, q_net: nn.Module, tau: float) -> None:
    """θ⁻ ← τ θ + (1 − τ) θ⁻ (τ = 1: hard copy)."""
    for pt, p in zip(target_net.parameters(), q_net.parameters()):
        if tau >= 1.0:
            pt.copy_(p)
        else:
            pt.mul_(1.0 - tau).add_(p, alpha=tau)


@torch.no_grad()
def greedy_action(q_net: nn.Module, obs: np.ndarray, device: torch.device | str = "cpu") -> int:
    """argmax_a Q(obs, a) for one observation (4,)."""
    x = torch.as_tensor(obs, dtype=torch.float32, device=device)[None]
    return int(q_net(x).argmax(1).item())


def epsilon_greedy(q_net: nn.Module, obs: np.ndarray, epsilon: float, rng: np.random.Generator,
                   device: torch.device, explore_only: bool = False) -> int:
    """A random action with probability ε (always while ``explore_only``: before learning
    starts), else the greedy ``argmax_a Q(obs, a)``. ``rng`` is the run's action stream: it
    draws the coin only when needed, then the random action."""
    if explore_only or rng.random() < epsilon:
        return int(rng.integers(N_ACTIONS))
    return greedy_action(q_net, obs, device)
