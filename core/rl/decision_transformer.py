"""Decision Transformer: reinforcement learning as conditional sequence modelling, on CartPole-v1.

An offline dataset of trajectories ``(s_0, a_0, r_0, s_1, ...)`` of mixed quality is turned into
token sequences ``(R̂_1, s_1, a_1, R̂_2, s_2, a_2, ...)`` where the *return-to-go*
``R̂_t = Σ_{t' >= t} r_t'`` is the reward still to be collected from step ``t``. A small GPT-style
transformer with causal self-attention reads the last ``K`` timesteps (3K tokens) and is trained
to predict each action ``a_t`` from the output at its state token ``s_t`` (cross-entropy). At test
time we *ask* for a return: start with ``R̂_1 = target``, subtract each reward as it arrives, and
sample the actions the model predicts. If the model has learned how behavior depends on the
return, the achieved return follows the target.

Reference: Chen, Lu, Rajeswaran, Lee, Grover, Laskin, Abbeel, Srinivas & Mordatch,
"Decision Transformer: Reinforcement Learning via Sequence Modeling", NeurIPS 2021.
The baseline is behavior cloning (an MLP ``s -> a`` trained on the same data).

Shapes: states ``(B, K, 4)`` float32; actions ``(B, K)`` int64 in {0, 1}; ``return_to_go``
``(B, K, 1)`` float32 (divided by :data:`RTG_SCALE`); timesteps ``(B, K)`` int64 in [0, 500];
``mask`` ``(B, K)`` bool (False = left padding); action logits ``(B, K, 2)``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from core import handoff
from core.blocks.attention import Block, gpt2_init_
from core.checks import check_choice
from core.protocol import Demo, Progress, RunOptions, Snapshot, eval_mode, param, start

OBS_DIM = 4
N_ACTIONS = 2
MAX_EP_LEN = 500
RTG_SCALE = 500.0  # returns-to-go are divided by this before embedding
SOURCES = ("heuristic", "dqn")
ENV_ID = "CartPole-v1"
DQN_DEMO = "dqn"  # the producer of the dqn source's policies (core.handoff.POLICIES)


def parse_targets(text: str) -> list[float]:
    """``"100,300,500"`` -> ``[100.0, 300.0, 500.0]``.

    Raises:
        ValueError: unless it lists 2 to 10 numbers in [0, 1000].
    """
    try:
        vals = [float(s) for s in str(text).replace(" ", "").split(",") if s != ""]
    except ValueError:
        raise ValueError(f"targets={text!r} must be comma-separated numbers, e.g. "
                         "50,150,300,500") from None
    if not 2 <= len(vals) <= 10 or not all(0 <= v <= 1000 for v in vals):
        raise ValueError(f"targets={text!r}: give 2 to 10 target returns between 0 and 1000")
    return vals


@dataclass(frozen=True)
class DtConfig(RunOptions):
    """Every setting of one Decision Transformer run (dataset, model, training, evaluation)."""

    source: str = param("heuristic", choices=SOURCES, label="Dataset source",
                        help="heuristic: a hand-written controller that gives up after a "
                        "different number of steps in each episode; dqn: the checkpoints of a "
                        "DQN run (see dqn_run), of mixed quality; both add random play")
    dqn_run: str = param("steps=20000", label="DQN run",
                         help="source=dqn: the DQN run whose checkpoints play the episodes, as "
                         "its settings (k=v pairs, comma separated; a run finished on the DQN "
                         "page is reused, otherwise it is trained first) or the path of a "
                         "cartpole_policies.pt written by `python -m core train dqn`")
    n_episodes: int = param(160, lo=20, hi=1000, step=10, label="Episodes in the dataset")
    context_len: int = param(8, lo=1, hi=50, label="Context length K",
                             help="timesteps the transformer sees (3K tokens)")
    d_model: int = param(32, choices=(16, 32, 64, 128), label="Embedding size")
    n_layers: int = param(2, lo=1, hi=4, label="Transformer layers")
    n_heads: int = param(2, choices=(1, 2, 4), label="Attention heads")
    dropout: float = param(0.1, lo=0.0, hi=0.5, step=0.05)
    lr: float = param(1e-3, lo=1e-5, hi=1e-2, log=True, label="Learning rate")
    batch_size: int = param(64, choices=(16, 32, 64, 128), label="Batch size")
    steps: int = param(1500, lo=50, hi=20_000, step=50, label="Training steps")
    targets: str = param("50,150,250,350,500", label="Target returns",
                         help="returns to condition on at evaluation, comma separated")
    eval_episodes: int = param(5, lo=1, hi=20, label="Episodes per target")

    def __post_init__(self) -> None:
        parse_targets(self.targets)
        if self.source == "dqn":
            handoff.check_run(DQN_DEMO, self.dqn_run)  # raises ValueError naming the bad setting
        if self.d_model % self.n_heads:
            raise ValueError(f"the embedding size ({self.d_model}) must be divisible by the number "
                             f"of heads ({self.n_heads})")


# --------------------------------------------------------------------------------- data


@dataclass
class Trajectory:
    """One episode: ``observations (T, 4)``, ``actions (T,)``, ``rewards (T,)``."""

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray

    @property
    def ret(self) -> float:
        return float(self.rewards.sum())

    def return_to_go(self) -> np.ndarray:
        """``R̂_t = Σ_{t' >= t} r_t'``, shape (T,)."""
        return np.cumsum(self.rewards[::-1])[::-1].astype(np.float32)


def heuristic_action(obs: np.ndarray) -> int:
    """A hand-written balancing controller: push towards where the pole is falling."""
    x, x_dot, theta, theta_dot = obs
    return int(theta + 0.5 * theta_dot + 0.01 * x + 0.05 * x_dot > 0)


class GiveUpController:
    """:func:`heuristic_action` for ``give_up_after`` steps, then the opposite action, which
    drops the pole within about ten steps: an episode's return is ~``give_up_after + 10``."""

    def __init__(self, give_up_after: int) -> None:
        self.give_up_after = give_up_after
        self.t = 0

    def __call__(self, obs: np.ndarray) -> int:
        self.t += 1
        a = heuristic_action(obs)
        return a if self.t <= self.give_up_after else 1 - a


def rollout(policy, env, seed: int, eps: float, rng: np.random.Generator) -> Trajectory:
    """One episode of ``policy(obs) -> action`` with ε-random actions; returns the trajectory."""
    obs, _ = env.reset(seed=seed)
    o, a, r = [], [], []
    done = False
    while not done:
        act = int(rng.integers(N_ACTIONS)) if rng.random() < eps else policy(obs)
        o.append(obs)
        a.append(act)
        obs, rew, term, trunc, _ = env.step(act)
        r.append(float(rew))
        done = term or trunc
    return Trajectory(np.asarray(o, np.float32), np.asarray(a, np.int64),
                      np.asarray(r, np.float32))


N_POLICIES = 5  # DQN checkpoints used as behavior policies


def pick_checkpoints(eval_returns: np.ndarray, n: int = N_POLICIES) -> list[int]:
    """Indices of up to ``n`` checkpoints spread over the range of their evaluation returns
    (worst, best and evenly spaced quantiles between): a dataset of mixed quality."""
    order = np.argsort(eval_returns, kind="stable")
    picks = np.round(np.linspace(0, len(order) - 1, min(n, len(order)))).astype(int)
    return sorted({int(order[i]) for i in picks})


def make_env():
    """A fresh ``CartPole-v1``."""
    import gymnasium as gym

    return gym.make(ENV_ID)


def greedy(q_net: nn.Module, obs: np.ndarray) -> int:
    """``argmax_a Q(obs, a)`` of a policy from :func:`core.handoff.policy`, for one obs (4,)."""
    with torch.no_grad():
        return int(q_net(torch.as_tensor(obs, dtype=torch.float32)[None]).argmax(1).item())


def dqn_policies(dqn_run: str) -> list:
    """Greedy behavior policies ``obs -> action`` of up to N_POLICIES checkpoints of the DQN
    run ``dqn_run`` (:func:`core.handoff.obtain`: a run finished in this process, a
    ``cartpole_policies.pt`` file written by the CLI, or a run trained now), spread from its
    worst to its best evaluation return.

    Raises:
        ValueError: for a DQN run that cannot be used.
    """
    payload = handoff.obtain(handoff.POLICIES, DQN_DEMO, dqn_run)
    idx = pick_checkpoints(np.asarray(payload["eval_returns"]))
    return [functools.partial(greedy, handoff.policy(payload, i)) for i in idx]


@functools.lru_cache(maxsize=8)
def collect_dataset(source: str, n_episodes: int, seed: int,
                    dqn_run: str = "steps=20000") -> tuple[Trajectory, ...]:
    """The offline dataset, deterministic in its arguments and cached.

    ``heuristic``: a :class:`GiveUpController` that balances well and then, after a number of
    steps spread evenly over [0, 500] across episodes, deliberately lets the pole fall, with 5%
    random actions. ``dqn``: the checkpoints of the DQN run ``dqn_run`` (:func:`dqn_policies`)
    each play with ε in {0, 0.1, 0.3} in turn. In both, one episode in six is random play.
    Returns range from ~10 to 500.

    Raises:
        ValueError: for an unknown source, or a DQN run that cannot be used.
    """
    check_choice("dataset source", source, SOURCES)
    rng = np.random.default_rng(seed)
    if source == "heuristic":
        give_up = rng.permutation(np.linspace(0, MAX_EP_LEN, n_episodes).astype(int))
        players = [(GiveUpController(int(g)), 0.05) for g in give_up]
    else:
        policies = dqn_policies(dqn_run)
        players = [(policies[k % len(policies)], (0.0, 0.1, 0.3)[k % 3])
                   for k in range(n_episodes)]
    env = make_env()
    out = []
    for k, (player, eps) in enumerate(players):
        if k % 6 == 5:  # random play
            player, eps = heuristic_action, 1.0
        out.append(rollout(player, env, seed * 100_003 + k, eps, rng))
    env.close()
    return tuple(out)


def sample_batch(data: tuple[Trajectory, ...], batch_size: int, k: int, rng: np.random.Generator,
                 device: torch.device) -> tuple[torch.Tensor, ...]:
    """A batch of length-``k`` windows, left-padded, as in Chen et al.'s reference code.

    Episodes are drawn in proportion to their length, a start step uniformly within the episode.

    Returns:
        ``(return_to_go (B, k, 1), states (B, k, 4), actions (B, k), timesteps (B, k),
        mask (B, k))`` on ``device``; ``mask`` is False on padding.
    """
    lengths = np.array([len(t.actions) for t in data], dtype=np.float64)
    eps_idx = rng.choice(len(data), size=batch_size, p=lengths / lengths.sum())
    rtg = np.zeros((batch_size, k, 1), np.float32)
    states = np.zeros((batch_size, k, OBS_DIM), np.float32)
    actions = np.zeros((batch_size, k), np.int64)
    steps = np.zeros((batch_size, k), np.int64)
    mask = np.zeros((batch_size, k), bool)
    for b, e in enumerate(eps_idx):
        traj = data[e]
        start = int(rng.integers(len(traj.actions)))
        end = min(start + k, len(traj.actions))
        n = end - start
        rtg[b, k - n:, 0] = traj.return_to_go()[start:end] / RTG_SCALE
        states[b, k - n:] = traj.observations[start:end]
        actions[b, k - n:] = traj.actions[start:end]
        steps[b, k - n:] = np.arange(start, end)
        mask[b, k - n:] = True
    return tuple(torch.from_numpy(a).to(device) for a in (rtg, states, actions, steps, mask))


# --------------------------------------------------------------------------------- model


class DecisionTransformer(nn.Module):
    """GPT over interleaved ``(return_to_go, state, action)`` tokens (Chen et al. 2021).

    Each modality has its own linear embedding; a learned timestep embedding is added to all three
    tokens of a timestep. Causal :class:`~core.blocks.attention.Block` s (GELU MLP, 4x wide) with
    left padding masked; GPT-2 initialization (small embeddings, so no token dominates). The
    action logits for step ``t`` are read from the output at the state token ``s_t``, which by
    causality has seen ``R̂_<=t, s_<=t, a_<t`` only.
    """

    def __init__(self, d_model: int = 64, n_layers: int = 2, n_heads: int = 2,
                 dropout: float = 0.1, obs_dim: int = OBS_DIM, n_actions: int = N_ACTIONS,
                 max_t: int = MAX_EP_LEN) -> None:
        super().__init__()
        self.embed_rtg = nn.Linear(1, d_model)
        self.embed_state = nn.Linear(obs_dim, d_model)
        self.embed_action = nn.Embedding(n_actions, d_model)
        self.embed_timestep = nn.Embedding(max_t + 1, d_model)
        self.ln_in = nn.LayerNorm(d_model)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(d_model, n_heads, dropout) for _ in range(n_layers))
        self.ln_out = nn.LayerNorm(d_model)
        self.predict_action = nn.Linear(d_model, n_actions)
        # states are standardized with the dataset's statistics (set_state_stats), as in the paper
        self.register_buffer("state_mean", torch.zeros(obs_dim))
        self.register_buffer("state_std", torch.ones(obs_dim))
        gpt2_init_(self, n_layers)

    def set_state_stats(self, states: np.ndarray) -> None:
        """Standardise inputs with the mean and std of the dataset's states (N, obs_dim)."""
        self.state_mean.copy_(torch.as_tensor(states.mean(0), dtype=torch.float32))
        self.state_std.copy_(torch.as_tensor(states.std(0) + 1e-6, dtype=torch.float32))

    def forward(self, return_to_go: torch.Tensor, states: torch.Tensor, actions: torch.Tensor,
                timesteps: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Action logits (B, K, n_actions); see the module docstring for input shapes."""
        b, k = actions.shape
        t = self.embed_timestep(timesteps.clamp(0, self.embed_timestep.num_embeddings - 1))
        states = (states - self.state_mean) / self.state_std
        tokens = torch.stack([self.embed_rtg(return_to_go) + t, self.embed_state(states) + t,
                              self.embed_action(actions) + t], dim=2)  # (B, K, 3, d)
        x = self.drop(self.ln_in(tokens.reshape(b, 3 * k, -1)))
        padding = ~mask.repeat_interleave(3, dim=1)  # (B, 3K); a padded token sees itself only
        for block in self.blocks:
            x, _ = block(x, causal=True, key_padding_mask=padding)
        x = self.ln_out(x).reshape(b, k, 3, -1)
        return self.predict_action(x[:, :, 1])


class BehaviorCloning(nn.Module):
    """The baseline: an MLP ``states (B, 4) -> action logits (B, 2)`` imitating all the data."""

    def __init__(self, hidden: int = 128) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(OBS_DIM, hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                                 nn.ReLU(), nn.Linear(hidden, N_ACTIONS))

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        return self.net(states)


# --------------------------------------------------------------------------------- evaluation


def evaluate_dt(model: DecisionTransformer, target: float, episodes: int, k: int, seed: int,
                device: torch.device) -> np.ndarray:
    """Returns of ``episodes`` CartPole episodes conditioned on ``target`` (sampled actions).

    The episodes run in lock-step so that each step is one batched forward pass. Episode ``i``
    starts from ``reset(seed=seed + i)``; actions are sampled from the predicted distribution
    with a generator seeded by ``seed``. Returns an array (episodes,) of returns in [0, 500].
    """
    gen = torch.Generator().manual_seed(seed)
    envs = [make_env() for _ in range(episodes)]
    obs = np.stack([e.reset(seed=seed + i)[0] for i, e in enumerate(envs)]).astype(np.float32)
    S = np.zeros((episodes, MAX_EP_LEN + 1, OBS_DIM), np.float32)
    A = np.zeros((episodes, MAX_EP_LEN + 1), np.int64)
    R = np.zeros((episodes, MAX_EP_LEN + 1), np.float32)
    rets = np.zeros(episodes, np.float32)
    alive = np.ones(episodes, bool)
    S[:, 0], R[:, 0] = obs, target
    for t in range(MAX_EP_LEN):
        idx = np.flatnonzero(alive)
        lo = max(0, t + 1 - k)
        n = t + 1 - lo
        rtg = np.zeros((len(idx), k, 1), np.float32)
        st = np.zeros((len(idx), k, OBS_DIM), np.float32)
        ac = np.zeros((len(idx), k), np.int64)
        ts = np.zeros((len(idx), k), np.int64)
        mk = np.zeros((len(idx), k), bool)
        rtg[:, k - n:, 0] = R[idx, lo:t + 1] / RTG_SCALE
        st[:, k - n:] = S[idx, lo:t + 1]
        ac[:, k - n:] = A[idx, lo:t + 1]  # the current action slot is a placeholder (unseen)
        ts[:, k - n:] = np.arange(lo, t + 1)
        mk[:, k - n:] = True
        batch = [torch.from_numpy(a).to(device) for a in (rtg, st, ac, ts, mk)]
        with eval_mode(model):
            logits = model(*batch)[:, -1].float().cpu()
        acts = torch.multinomial(logits.softmax(-1), 1, generator=gen)[:, 0].numpy()
        for j, i in enumerate(idx):
            o, r, term, trunc, _ = envs[i].step(int(acts[j]))
            A[i, t] = acts[j]
            rets[i] += r
            S[i, t + 1], R[i, t + 1] = o, R[i, t] - r
            if term or trunc:
                alive[i] = False
        if not alive.any():
            break
    for e in envs:
        e.close()
    return rets


def evaluate_bc(model: BehaviorCloning, episodes: int, seed: int,
                device: torch.device) -> np.ndarray:
    """Returns (episodes,) of the behavior-cloning policy (sampled actions), seeds as above."""
    gen = torch.Generator().manual_seed(seed)
    env = make_env()
    out = np.zeros(episodes, np.float32)
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        done = False
        while not done:
            with eval_mode(model):
                p = model(torch.as_tensor(obs, device=device)[None]).softmax(-1).cpu()
            obs, r, term, trunc, _ = env.step(int(torch.multinomial(p, 1, generator=gen)))
            out[i] += r
            done = term or trunc
    env.close()
    return out


# --------------------------------------------------------------------------------- training


def make_learners(cfg: DtConfig, data: tuple[Trajectory, ...], device: torch.device
                  ) -> tuple[DecisionTransformer, BehaviorCloning, list]:
    """The Decision Transformer (states standardized with the dataset's statistics), the
    behavior-cloning baseline and their optimizers ``[AdamW (weight decay 1e-4) with a linear
    warm-up over 5% of the steps, Adam]``."""
    model = DecisionTransformer(cfg.d_model, cfg.n_layers, cfg.n_heads, cfg.dropout).to(device)
    model.set_state_stats(np.concatenate([t.observations for t in data]))
    bc = BehaviorCloning().to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-4)
    warmup = max(1, cfg.steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warmup))
    return model, bc, [opt, sched, torch.optim.Adam(bc.parameters(), lr=cfg.lr)]


def train_step(model: DecisionTransformer, bc: BehaviorCloning, optimizers: list,
               batch: tuple[torch.Tensor, ...]) -> dict[str, torch.Tensor]:
    """One step of each learner on the same windows: action cross-entropy on the real (unpadded)
    timesteps, the DT's gradient clipped at norm 1; ``{"loss", "bc_loss"}`` (detached)."""
    opt, sched, opt_bc = optimizers
    rtg, states, actions, ts, mask = batch
    loss = F.cross_entropy(model(rtg, states, actions, ts, mask)[mask], actions[mask])
    opt.zero_grad(set_to_none=True)
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    sched.step()
    bc_loss = F.cross_entropy(bc(states[mask]), actions[mask])
    opt_bc.zero_grad(set_to_none=True)
    bc_loss.backward()
    opt_bc.step()
    return {"loss": loss.detach(), "bc_loss": bc_loss.detach()}


def train(cfg: DtConfig) -> Iterator[Snapshot]:
    """Collect (or reuse) the offline dataset, train the DT and BC, then evaluate per target.

    Steps ``1..cfg.steps`` are gradient steps (metrics ``loss``: DT action cross-entropy in nats,
    ``bc_loss``: the BC baseline's, means of the last 32 steps); steps ``cfg.steps + 1 ..``
    evaluate one target return each (metrics ``target_return``, ``achieved_return`` (mean over
    ``eval_episodes``), ``achieved_std``, ``bc_return``, ``dataset_best_return``,
    ``dataset_mean_return``). Artifacts: ``dataset_returns`` (n_episodes,), ``eval`` (n_done, 3)
    [target, mean, std], ``phase``. ``model`` (``{"dt", "bc"}``) on the final snapshot.

    Raises:
        ValueError: for an unusable device or dataset source.
    """
    device = start(cfg)
    targets = parse_targets(cfg.targets)
    total = cfg.steps + len(targets)
    yield Snapshot(0, 0.0, {}, {"phase": "collecting the dataset"}, total_steps=total)
    if cfg.source == "dqn":  # a DQN run not finished yet trains first, yielding heartbeats
        yield from handoff.obtain_steps(handoff.POLICIES, DQN_DEMO, cfg.dqn_run)
    data = collect_dataset(cfg.source, cfg.n_episodes, cfg.seed,
                           cfg.dqn_run if cfg.source == "dqn" else "")
    start(cfg)  # again: obtaining a DQN run may have trained one, which moves the global RNGs
    returns = np.array([t.ret for t in data], np.float32)
    stats = {"dataset_best_return": float(returns.max()),
             "dataset_mean_return": float(returns.mean())}
    model, bc, optimizers = make_learners(cfg, data, device)
    rng = np.random.default_rng(cfg.seed)
    art = {"dataset_returns": returns, "phase": "training", "eval": np.zeros((0, 3), np.float32)}
    progress, last = Progress(total), {}
    for step in range(1, cfg.steps + 1):
        batch = sample_batch(data, cfg.batch_size, cfg.context_len, rng, device)
        progress.losses.add(**train_step(model, bc, optimizers, batch))
        if progress.due(step):
            last = progress.losses.pop()
            yield progress.snapshot(step, {**last, **stats}, art)
    last = {**last, **progress.losses.pop()}
    # evaluation: the "achieved vs target return" plot of the paper, one target per step
    bc_ret = float(evaluate_bc(bc, cfg.eval_episodes, 20_000 + cfg.seed, device).mean())
    rows = []
    for i, target in enumerate(targets):
        r = evaluate_dt(model, target, cfg.eval_episodes, cfg.context_len, 20_000 + cfg.seed,
                        device)
        rows.append((target, float(r.mean()), float(r.std())))
        final = i == len(targets) - 1
        art = {**art, "phase": "done" if final else "evaluating",
               "eval": np.asarray(rows, np.float32)}
        yield progress.snapshot(cfg.steps + i + 1,
                                {**last, "target_return": target, "achieved_return": rows[-1][1],
                                 "achieved_std": rows[-1][2], "bc_return": bc_ret, **stats}, art,
                                model=nn.ModuleDict({"dt": model, "bc": bc}))


DEMOS = [Demo("decision_transformer", DtConfig, train, title="Decision Transformer",
              description="RL as sequence modelling: condition on the return you want.")]
