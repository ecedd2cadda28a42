"""Deep Q-learning (DQN) on CartPole-v1, written as a readable reference implementation.

The agent learns action values ``Q(s, a)`` with a neural network and acts ε-greedily on them.
Training minimises the Huber loss between ``Q(s, a)`` and the one-step Bellman target

    y = r + γ (1 - terminated) max_a' Q_target(s', a')
    (Double DQN: y = r + γ (1 - terminated) Q_target(s', argmax_a' Q(s', a')))

on mini-batches drawn from a :class:`ReplayBuffer` of past transitions, with a *target network*
``Q_target`` that is a delayed copy of the online network (hard copy every
``target_update_period`` gradient steps, or a soft Polyak update with ``tau < 1``).
The loop in :func:`train` follows CleanRL's ``dqn.py``: :func:`linear_schedule`, the
Q-network (:func:`q_network`), a :class:`ReplayBuffer`, then act / store / train / evaluate.

References:
    Mnih et al., "Human-level control through deep reinforcement learning", Nature 518 (2015).
    van Hasselt, Guez & Silver, "Deep Reinforcement Learning with Double Q-learning", AAAI 2016.
    Hessel et al., "Rainbow: Combining Improvements in Deep Reinforcement Learning", AAAI 2018
    (n-step returns). Huang et al., "CleanRL", JMLR 23 (2022).
    Defaults: rl-baselines3-zoo's DQN for CartPole-v1 (lr 2.3e-3, batch 64, buffer 1e5, learning
    starts 1000, γ 0.99, train frequency 256, exploration fraction 0.16, final ε 0.04) with a
    64 x 64 network, 64 gradient steps per training phase, 3-step returns, Double DQN and a
    learning rate decayed to 10% (bench/results/dqn.md: solves CartPole-v1 stably).

Shapes: observations ``(B, 4)`` float32 (cart position [m], cart velocity [m/s], pole angle
[rad], pole angular velocity [rad/s]); actions ``(B,)`` int64 in {0 = push left, 1 = push right};
``q_values`` ``(B, 2)``. Returns are sums of rewards (CartPole pays +1 per step, at most 500).

A finished run publishes its Q-network's weights at every evaluation as
:data:`core.handoff.POLICIES` (the Decision Transformer's offline dataset).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from core import handoff
from core.blocks.mlp import mlp
from core.diagnostics import watch
from core.protocol import (
    CopyCadence,
    Demo,
    RunningMean,
    RunOptions,
    Snapshot,
    Ticker,
    eval_mode,
    param,
    start,
)

if TYPE_CHECKING:
    from gymnasium.wrappers import RecordEpisodeStatistics

ENV_ID = "CartPole-v1"
OBS_DIM = 4
N_ACTIONS = 2
MAX_RETURN = 500.0
# The 2-D slice of the state space drawn as a heatmap: pole angle x pole angular velocity
# (cart position and velocity held at 0). CartPole terminates at |angle| > 0.2095 rad.
SLICE_N = 41
SLICE_ANGLE = 0.21  # rad
SLICE_ANG_VEL = 2.0  # rad/s
POLICY_EVERY_S = 2.0  # how often a snapshot carries a fresh frozen copy of the Q-network
RETURN_WINDOW = 20  # episodes in the moving average ``return_avg``


@dataclass(frozen=True)
class DqnConfig(RunOptions):
    """Every setting of one DQN run on CartPole-v1 (defaults: see the module docstring)."""

    lr: float = param(2.3e-3, lo=1e-5, hi=1e-1, log=True, label="Learning rate",
                      help="Adam learning rate")
    lr_decay: bool = param(True, label="Decay learning rate",
                           help="anneal the learning rate linearly to 10% of its value by the end")
    gamma: float = param(0.99, lo=0.8, hi=0.999, step=0.001, label="Discount γ")
    batch_size: int = param(64, choices=(16, 32, 64, 128, 256), label="Batch size")
    buffer_size: int = param(100_000, lo=1_000, hi=200_000, step=1_000, label="Replay buffer size",
                             help="transitions kept for replay (oldest are overwritten)")
    learning_starts: int = param(1_000, lo=0, hi=20_000, step=100, label="Learning starts",
                                 help="environment steps of pure exploration before training")
    train_freq: int = param(256, lo=1, hi=1_000, label="Env steps between updates",
                            help="environment steps between training phases (SB3: train_freq)")
    gradient_steps: int = param(64, lo=1, hi=512, label="Gradient steps",
                                help="gradient steps per training phase")
    target_update_period: int = param(64, lo=1, hi=10_000, label="Target update period",
                                      help="gradient steps between target-network updates")
    tau: float = param(1.0, lo=0.001, hi=1.0, step=0.001, label="Target update τ",
                       help="1 = hard copy; < 1 = soft (Polyak) update θ⁻ ← τθ + (1-τ)θ⁻")
    epsilon_start: float = param(1.0, lo=0.0, hi=1.0, step=0.01, label="ε start",
                                 aliases=("eps_start",))
    epsilon_end: float = param(0.04, lo=0.0, hi=1.0, step=0.01, label="ε end",
                               aliases=("eps_end",))
    exploration_fraction: float = param(0.16, lo=0.0, hi=1.0, step=0.01,
                                        label="Exploration fraction",
                                        help="fraction of the steps over which ε decays linearly")
    hidden: int = param(64, choices=(16, 32, 64, 128, 256, 512), label="Network width",
                        help="units in each of the two hidden layers", aliases=("width",))
    n_step: int = param(3, lo=1, hi=10, label="n-step returns",
                        help="bootstrap after n rewards: y = r_t + γ r_t+1 + … + γⁿ max Q(s_t+n)"
                        " (1 = the original DQN; larger n propagates the reward faster)")
    double_dqn: bool = param(True, label="Double DQN",
                             help="choose the next action with the online net, value it with the "
                             "target net")
    no_replay: bool = param(False, label="Ablation: no replay",
                            help="train on the most recent transitions only (no replay buffer)")
    no_target: bool = param(False, label="Ablation: no target network",
                            help="compute targets with the network being trained")
    max_grad_norm: float = param(10.0, lo=0.1, hi=1000.0, log=True, label="Gradient clip norm")
    steps: int = param(50_000, lo=1_000, hi=200_000, step=1_000, label="Total steps",
                       help="environment steps", aliases=("total_steps",))
    eval_every: int = param(2_500, lo=500, hi=50_000, step=500, label="Evaluate every",
                            help="environment steps between greedy evaluations")
    eval_episodes: int = param(10, lo=1, hi=50, label="Evaluation episodes")

    def __post_init__(self) -> None:
        if self.epsilon_end > self.epsilon_start:
            raise ValueError(f"ε end ({self.epsilon_end}) must not exceed ε start "
                             f"({self.epsilon_start})")
        if self.learning_starts >= self.steps:
            raise ValueError(f"learning_starts ({self.learning_starts}) must be below steps "
                             f"({self.steps}), or nothing is ever learned")
        if not self.no_replay and self.buffer_size < self.batch_size:
            raise ValueError(f"the replay buffer ({self.buffer_size}) must hold at least one batch "
                             f"({self.batch_size})")


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


# ------------------------------------------------------------------------------------- training


@dataclass
class Agent:
    """The learner: online network θ, target network θ⁻, optimiser, gradient steps so far."""

    q_net: nn.Sequential
    target_net: nn.Sequential
    opt: torch.optim.Optimizer
    grad_steps: int = 0


def make_agent(cfg: DqnConfig, device: torch.device) -> Agent:
    """Online and target networks (θ⁻ = θ, no gradients) and Adam on θ."""
    q_net = watch(q_network(cfg.hidden).to(device))  # per-layer diagnostics on every snapshot
    target_net = q_network(cfg.hidden).to(device)
    target_net.load_state_dict(q_net.state_dict())
    target_net.requires_grad_(False)
    return Agent(q_net, target_net, torch.optim.Adam(q_net.parameters(), lr=cfg.lr, fused=True))


def train_phase(agent: Agent, buffer: ReplayBuffer, cfg: DqnConfig, step: int,
                device: torch.device) -> dict[str, float]:
    """``cfg.gradient_steps`` gradient steps on replayed mini-batches (the newest transitions
    with ``no_replay``), updating θ⁻ every ``target_update_period`` of them.

    Returns:
        ``{"loss": mean Huber loss, "mean_max_q": mean of max_a Q(s, a)}`` over the phase.
    """
    if cfg.lr_decay:
        for g in agent.opt.param_groups:
            g["lr"] = cfg.lr * (1.0 - 0.9 * step / cfg.steps)
    target_net = agent.q_net if cfg.no_target else agent.target_net
    phase = RunningMean(window=None)  # the mean over this phase, every step of it
    for _ in range(cfg.gradient_steps):
        batch = (buffer.latest(cfg.batch_size, device) if cfg.no_replay
                 else buffer.sample(cfg.batch_size, device))
        loss, q_values = dqn_loss(agent.q_net, target_net, batch, cfg.gamma, cfg.double_dqn)
        agent.opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(agent.q_net.parameters(), cfg.max_grad_norm)
        agent.opt.step()
        agent.grad_steps += 1
        if not cfg.no_target and agent.grad_steps % cfg.target_update_period == 0:
            update_target(agent.target_net, agent.q_net, cfg.tau)
        phase.add(loss=loss.detach(), mean_max_q=q_values.detach().max(1).values.mean())
    return phase.pop()


@dataclass
class RunRecord:
    """What a run has produced so far, for the snapshots: finished episodes ``(end step,
    return)``, evaluations ``(step, mean greedy return)`` with the Q-network's weights at each
    (``states``), seconds spent evaluating, and the latest frozen copy of the Q-network."""

    episodes: list[tuple[int, float]] = field(default_factory=list)
    evals: list[tuple[int, float]] = field(default_factory=list)
    states: list[dict[str, torch.Tensor]] = field(default_factory=list)
    eval_time_s: float = 0.0
    policy: nn.Module | None = None
    policy_step: int = 0
    copies: CopyCadence = field(default_factory=lambda: CopyCadence(POLICY_EVERY_S))

    def refresh_policy(self, q_net: nn.Module, step: int, final: bool) -> None:
        """Take a frozen copy of the Q-network when one is due (every ~2 s and at the end)."""
        if (copy := self.copies(q_net, final)) is not None:
            self.policy, self.policy_step = copy, step

    def evaluate(self, q_net: nn.Module, cfg: DqnConfig, step: int, device: torch.device) -> None:
        """Greedy evaluation over ``cfg.eval_episodes`` fixed start states, and a checkpoint."""
        t0 = time.perf_counter()
        ret = float(evaluate(q_net, cfg.eval_episodes, seed=10_000 + cfg.seed, device=device).mean())
        self.evals.append((step, ret))
        self.states.append({k: v.detach().cpu().clone() for k, v in q_net.state_dict().items()})
        self.eval_time_s += time.perf_counter() - t0

    def policies(self, hidden: int) -> dict:
        """The :data:`core.handoff.POLICIES` payload: every evaluation's checkpoint."""
        return {"steps": torch.tensor([s for s, _ in self.evals], dtype=torch.int64),
                "eval_returns": torch.tensor([r for _, r in self.evals], dtype=torch.float32),
                "hidden": hidden, "state_dicts": list(self.states)}


def snapshot_metrics(env: RecordEpisodeStatistics, agent: Agent, record: RunRecord, epsilon: float,
                     phase: dict[str, float]) -> dict[str, float]:
    """The metrics of :func:`train` (those that do not exist yet are absent)."""
    metrics = {}
    if env.return_queue:
        metrics["episode_return"] = float(env.return_queue[-1])
        metrics["return_avg"] = float(np.mean(env.return_queue))
    if record.evals:
        metrics["eval_return"] = record.evals[-1][1]
    metrics.update(epsilon=epsilon, lr=agent.opt.param_groups[0]["lr"],
                   episodes=float(env.episode_count), eval_time_s=record.eval_time_s)
    return {**metrics, **phase}


def snapshot_artifacts(record: RunRecord, q_net: nn.Module, device: torch.device) -> dict:
    """The artifacts of :func:`train` (see there)."""
    return {"episodes": np.asarray(record.episodes, dtype=np.float32).reshape(-1, 2),
            "evals": np.asarray(record.evals, dtype=np.float32).reshape(-1, 2),
            "q_slice": q_slice(q_net, device=device),
            "policy": record.policy, "policy_step": record.policy_step}


def epsilon_greedy(q_net: nn.Module, obs: np.ndarray, epsilon: float, rng: np.random.Generator,
                   device: torch.device, explore_only: bool = False) -> int:
    """A random action with probability ε (always while ``explore_only``: before learning
    starts), else the greedy ``argmax_a Q(obs, a)``. ``rng`` is the run's action stream: it
    draws the coin only when needed, then the random action."""
    if explore_only or rng.random() < epsilon:
        return int(rng.integers(N_ACTIONS))
    return greedy_action(q_net, obs, device)


def env_step(env: RecordEpisodeStatistics, obs: np.ndarray, action: int,
             pending: list[tuple[np.ndarray, int, float]], buffer: ReplayBuffer,
             cfg: DqnConfig) -> tuple[np.ndarray, float | None]:
    """Take ``action`` from ``obs`` and store the n-step transitions that this step completes
    (:func:`n_step_transitions`; ``pending`` keeps the steps still awaiting their return).

    Returns:
        ``(next observation, None)``, or ``(first observation of a new episode, the return of
        the episode that this step ended)``.
    """
    next_obs, reward, terminated, truncated, info = env.step(action)
    pending.append((obs, action, float(reward)))
    for transition in n_step_transitions(pending, next_obs, cfg.n_step, cfg.gamma, terminated,
                                         terminated or truncated):
        buffer.add(*transition)
    if "episode" not in info:
        return next_obs, None
    first_obs, _ = env.reset()
    return first_obs, float(info["episode"]["r"])


def snapshot(cfg: DqnConfig, step: int, tick: Ticker, metrics: dict[str, float],
             record: RunRecord, q_net: nn.Module, device: torch.device) -> Snapshot:
    """A snapshot of :func:`train` at environment step ``step``; the last one carries the model
    and :data:`core.handoff.POLICIES`, which it also publishes."""
    final = step == cfg.steps
    record.refresh_policy(q_net, step, final)
    artifacts = snapshot_artifacts(record, q_net, device)
    if final:
        artifacts[handoff.POLICIES] = record.policies(cfg.hidden)
        handoff.publish(handoff.POLICIES, "dqn", cfg, artifacts[handoff.POLICIES])
    return Snapshot(step, tick.elapsed, metrics, artifacts, total_steps=cfg.steps, final=final,
                    model=record.policy if final else None)


def train(cfg: DqnConfig) -> Iterator[Snapshot]:
    """Train DQN on CartPole-v1 and yield snapshots; ``step`` counts environment steps.

    Metrics (each absent until it exists): ``episode_return`` (last episode), ``return_avg``
    (mean of the last 20), ``eval_return`` (mean greedy return over ``eval_episodes`` episodes
    at the last evaluation; every evaluation gets a snapshot), ``loss`` and ``mean_max_q`` (of
    the last training phase, see :func:`train_phase`), ``epsilon``, ``lr``, ``episodes``
    (count), ``eval_time_s``.
    Artifacts: ``episodes`` (n, 2) [end step, return]; ``evals`` (m, 2) [step, mean return];
    ``q_slice`` (see :func:`q_slice`); ``policy``: a frozen copy of the Q-network refreshed
    every ~2 s (its step in ``policy_step``). The last snapshot carries ``model`` and
    :data:`core.handoff.POLICIES` (the weights at every evaluation), which it also publishes.

    Raises:
        ValueError: for an unusable device.
    """
    from gymnasium.wrappers import RecordEpisodeStatistics

    device = start(cfg)
    env = RecordEpisodeStatistics(make_env(), buffer_length=RETURN_WINDOW)
    agent = make_agent(cfg, device)
    buffer = ReplayBuffer(cfg.batch_size if cfg.no_replay else cfg.buffer_size, seed=cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    record, phase, tick = RunRecord(), {}, Ticker(total=cfg.steps)
    pending: list[tuple[np.ndarray, int, float]] = []  # steps awaiting their n-step return
    obs, _ = env.reset(seed=cfg.seed)
    for step in range(1, cfg.steps + 1):
        # 1. act ε-greedily (at random before learning starts) and store the transition
        epsilon = linear_schedule(cfg.epsilon_start, cfg.epsilon_end,
                                  cfg.exploration_fraction * cfg.steps, step)
        action = epsilon_greedy(agent.q_net, obs, epsilon, rng, device,
                                explore_only=step <= cfg.learning_starts)
        obs, episode_return = env_step(env, obs, action, pending, buffer, cfg)
        if episode_return is not None:
            record.episodes.append((step, episode_return))
        # 2. every train_freq steps: a training phase on replayed mini-batches
        if step > cfg.learning_starts and step % cfg.train_freq == 0:
            phase = train_phase(agent, buffer, cfg, step, device)
        # 3. greedy evaluation (its time is reported apart from training time)
        if evaluated := step % cfg.eval_every == 0 or step == cfg.steps:
            record.evaluate(agent.q_net, cfg, step, device)
        if tick(step) or evaluated:
            metrics = snapshot_metrics(env, agent, record, epsilon, phase)
            yield snapshot(cfg, step, tick, metrics, record, agent.q_net, device)
    env.close()


DEMOS = [Demo("dqn", DqnConfig, train, title="DQN on CartPole",
              description="Deep Q-learning with replay and a target network balances a pole.")]
