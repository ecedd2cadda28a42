"""Experience replay for ``/dqn``: the ring buffer of transitions (Lin 1992) and n-step
returns (Sutton 1988; Hessel et al. 2018)."""

from __future__ import annotations

import numpy as np
import torch

from core.rl.dqn.env import OBS_DIM

__all__ = ["ReplayBuffer", "n_step_transitions"]

class ReplayBuffer:
    """A fixed-size ring buffer of transitions ``(s, a, r, s', terminated)``.

    Sampling uniformly from many past transitions breaks the strong correlation between
    consecutive steps and reuses each experience many times (Lin 1992; Mnih et al. 2015).
    ``terminated`` is 1 only when the episode really ended (the pole fell); episodes cut at the
    500-step time limit are *truncated*, and their last transition still bootstraps from ``s'``.
    """

    def __init__(self, capacity: int, obs_dim: int = OBS_DIM, seed: int = 0) -> None:
        self.capacity = int(capacity)
        self.obs = np.zeros((self.capacity, obs_dim), dtype=np.float32)
        self.next_obs = np.zeros((self.capacity, obs_dim), dtype=np.float32)
        self.actions = np.zeros(self.capacity, dtype=np.int64)
        self.rewards = np.zeros(self.capacity, dtype=np.float32)
        self.terminated = np.zeros(self.capacity, dtype=np.float32)
        self.horizon = np.ones(self.capacity, dtype=np.float32)
        self.pos = 0
        self.size = 0
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.size

    def add(self, obs: np.ndarray, action: int, reward: float, next_obs: np.ndarray,
            terminated: bool, horizon: int = 1) -> None:
        """Store one transition, overwriting the oldest when full. For n-step transitions
        ``reward`` is the discounted sum of ``horizon`` rewards and ``next_obs`` the state
        ``horizon`` steps later."""
        i = self.pos
        self.obs[i], self.actions[i], self.rewards[i] = obs, action, reward
        self.next_obs[i], self.terminated[i] = next_obs, float(terminated)
        self.horizon[i] = horizon
        self.pos = (self.pos + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size: int, device: torch.device) -> tuple[torch.Tensor, ...]:
        """A uniform random mini-batch: ``obs (B, 4), actions (B,), rewards (B,),
        next_obs (B, 4), terminated (B,), horizon (B,)`` as tensors on ``device``.

        Raises:
            ValueError: if the buffer is empty.
        """
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        idx = self.rng.integers(0, self.size, size=batch_size)
        return self._batch(idx, device)

    def latest(self, batch_size: int, device: torch.device) -> tuple[torch.Tensor, ...]:
        """The ``batch_size`` most recent transitions (the "no replay" ablation)."""
        n = min(batch_size, self.size)
        idx = (self.pos - 1 - np.arange(n)) % self.capacity
        return self._batch(idx, device)

    def _batch(self, idx: np.ndarray, device: torch.device) -> tuple[torch.Tensor, ...]:
        def t(a: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(a[idx]).to(device)
        return (t(self.obs), t(self.actions), t(self.rewards), t(self.next_obs),
                t(self.terminated), t(self.horizon))


def n_step_transitions(pending: list[tuple[np.ndarray, int, float]], next_obs: np.ndarray,
                       n: int, gamma: float, terminated: bool, ended: bool
                       ) -> list[tuple[np.ndarray, int, float, np.ndarray, bool, int]]:
    """Turn the last steps of an episode into n-step transitions (Sutton 1988; Hessel et al.
    2018, "Rainbow").

    ``pending`` holds ``(obs, action, reward)`` of the steps not yet stored, oldest first; it is
    consumed in place. While the episode goes on, a transition is emitted once ``n`` steps are
    pending: ``(s_t, a_t, Σ_k γ^k r_t+k, s_t+n, False, n)``. When it ends (``ended``), every
    pending step is emitted with the rewards up to the end, bootstrapping from the last state
    unless the pole fell (``terminated``; a time-limit cut still bootstraps).
    """
    out = []
    while pending and (ended or len(pending) >= n):
        ret = sum(gamma ** k * r for k, (_, _, r) in enumerate(pending[:n]))
        obs0, a0, _ = pending[0]
        out.append((obs0, a0, ret, next_obs, terminated, min(n, len(pending))))
        pending.pop(0)
    return out
