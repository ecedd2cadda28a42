"""What ``/dqn`` shows of a Q-network: greedy evaluation returns, Q-values on a 2-D slice of
the state space, and a rendered greedy episode."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from core.protocol import eval_mode
from core.rl.dqn.env import OBS_DIM, make_env
from core.rl.dqn.model import greedy_action

__all__ = ["SLICE_ANGLE", "SLICE_ANG_VEL", "SLICE_N", "evaluate", "play_episode", "q_slice",
           "slice_axes"]

# The 2-D slice of the state space drawn as a heatmap: pole angle x pole angular velocity
# (cart position and velocity held at 0). CartPole terminates at |angle| > 0.2095 rad.
SLICE_N = 41
SLICE_ANGLE = 0.21  # rad
SLICE_ANG_VEL = 2.0  # rad/s


def evaluate(q_net: nn.Module, episodes: int = 10, seed: int = 0,
             device: torch.device | str = "cpu") -> np.ndarray:
    """Returns of ``episodes`` greedy episodes (ε = 0), shape (episodes,), each in [0, 500].

    Episode ``k`` starts from ``env.reset(seed=seed + k)``, so evaluations are reproducible.
    """
    env = make_env()
    out = np.zeros(episodes, dtype=np.float32)
    with eval_mode(q_net):
        for k in range(episodes):
            obs, _ = env.reset(seed=seed + k)
            done, ret = False, 0.0
            while not done:
                obs, r, term, trunc, _ = env.step(greedy_action(q_net, obs, device))
                ret += float(r)
                done = term or trunc
            out[k] = ret
    env.close()
    return out


def slice_axes(n: int = SLICE_N) -> tuple[np.ndarray, np.ndarray]:
    """The heatmap's axes: pole angles (n,) in rad and angular velocities (n,) in rad/s."""
    return (np.linspace(-SLICE_ANGLE, SLICE_ANGLE, n, dtype=np.float32),
            np.linspace(-SLICE_ANG_VEL, SLICE_ANG_VEL, n, dtype=np.float32))


@torch.no_grad()
def q_slice(q_net: nn.Module, n: int = SLICE_N,
            device: torch.device | str = "cpu") -> np.ndarray:
    """``q_values`` on the slice (cart position = velocity = 0): array (n_vel, n_angle, 2),
    rows = angular velocity (ascending), columns = pole angle (ascending)."""
    angles, vels = slice_axes(n)
    av, aa = np.meshgrid(vels, angles, indexing="ij")
    obs = np.zeros((n * n, OBS_DIM), dtype=np.float32)
    obs[:, 2], obs[:, 3] = aa.ravel(), av.ravel()
    q = q_net(torch.from_numpy(obs).to(device)).cpu().numpy()
    return q.reshape(n, n, -1).astype(np.float32)


@torch.no_grad()
def play_episode(q_net: nn.Module, seed: int = 0, max_steps: int = 500, every: int = 2,
                 scale: float = 0.5) -> tuple[np.ndarray, float]:
    """Roll out the greedy policy once with ``env.render()`` frames.

    Args:
        q_net: a (frozen) Q-network on the CPU.
        every: keep every ``every``-th frame; ``scale``: resize factor of the 600x400 frames.

    Returns:
        ``(frames (T, H, W, 3) uint8, episode return)``.
    """
    from PIL import Image

    env = make_env(render=True)
    obs, _ = env.reset(seed=seed)
    frames, ret = [], 0.0

    def grab() -> None:
        img = Image.fromarray(env.render())
        if scale != 1.0:
            img = img.resize((int(img.width * scale), int(img.height * scale)), Image.BILINEAR)
        frames.append(np.asarray(img))

    grab()
    for t in range(max_steps):
        obs, r, term, trunc, _ = env.step(greedy_action(q_net, obs))
        ret += float(r)
        if (t + 1) % every == 0 or term or trunc:
            grab()
        if term or trunc:
            break
    env.close()
    return np.stack(frames), ret
