"""Training ``/dqn``: the config and the loop (act ε-greedily, store, train on replayed
mini-batches, evaluate greedily), after CleanRL's ``dqn.py`` (see the package docstring)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from core import handoff
from core.diagnostics import watch
from core.protocol import Demo, Progress, RunningMean, RunOptions, Snapshot, param, start
from core.rl.dqn.env import make_env
from core.rl.dqn.evaluation import evaluate, q_slice
from core.rl.dqn.model import dqn_loss, epsilon_greedy, linear_schedule, q_network, update_target
from core.rl.dqn.replay import ReplayBuffer, n_step_transitions

if TYPE_CHECKING:
    from gymnasium.wrappers import RecordEpisodeStatistics

__all__ = ["POLICY_EVERY_S", "RETURN_WINDOW", "Agent", "DqnConfig", "RunRecord", "env_step",
           "make_agent", "snapshot", "snapshot_artifacts", "snapshot_metrics", "train",
           "train_phase"]

POLICY_EVERY_S = 2.0  # how often a snapshot carries a fresh frozen copy of the Q-network
RETURN_WINDOW = 20  # episodes in the moving average ``return_avg``


@dataclass(frozen=True)
class DqnConfig(RunOptions):
    """Every setting of one DQN run on CartPole-v1 (defaults: see the package docstring)."""

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


def snapshot(cfg: DqnConfig, step: int, progress: Progress, metrics: dict[str, float],
             record: RunRecord, q_net: nn.Module, device: torch.device) -> Snapshot:
    """A snapshot of :func:`train` at environment step ``step``, with a frozen copy of the
    Q-network as ``policy`` when one is due (every ~2 s and at the end); the last one carries
    that copy as the model and :data:`core.handoff.POLICIES`, which it also publishes."""
    snap = progress.snapshot(step, metrics, model=q_net)
    if snap.model is not None:
        record.policy, record.policy_step = snap.model, step
    snap.artifacts = snapshot_artifacts(record, q_net, device)
    if snap.final:
        snap.artifacts[handoff.POLICIES] = record.policies(cfg.hidden)
        handoff.publish(handoff.POLICIES, "dqn", cfg, snap.artifacts[handoff.POLICIES])
    else:
        snap.model = None  # the copy rides as the policy artifact; the model comes at the end
    return snap


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
    record, phase = RunRecord(), {}
    progress = Progress(cfg.steps, copy_every_s=POLICY_EVERY_S)
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
        if progress.due(step) or evaluated:
            metrics = snapshot_metrics(env, agent, record, epsilon, phase)
            yield snapshot(cfg, step, progress, metrics, record, agent.q_net, device)
    env.close()


DEMOS = [Demo("dqn", DqnConfig, train, title="DQN on CartPole",
              description="Deep Q-learning with replay and a target network balances a pole.")]
