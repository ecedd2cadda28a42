"""The environment of ``/dqn``: Gymnasium's CartPole-v1 (Barto, Sutton & Anderson 1983), its
observation and action sizes, and its first rendered frame."""

from __future__ import annotations

import numpy as np

__all__ = ["ENV_ID", "MAX_RETURN", "N_ACTIONS", "OBS_DIM", "first_frame", "make_env"]

ENV_ID = "CartPole-v1"
OBS_DIM = 4
N_ACTIONS = 2
MAX_RETURN = 500.0


def make_env(render: bool = False):
    """A fresh ``CartPole-v1`` (``render_mode="rgb_array"`` when ``render``)."""
    import gymnasium as gym

    return gym.make(ENV_ID, render_mode="rgb_array" if render else None)


def first_frame(seed: int = 0) -> np.ndarray:
    """The environment as ``env.render()`` draws it right after ``reset(seed=seed)``:
    (400, 600, 3) uint8."""
    env = make_env(render=True)
    env.reset(seed=seed)
    img = env.render()
    env.close()
    return img
