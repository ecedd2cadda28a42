"""Decision Transformer: reinforcement learning as conditional sequence modelling, on CartPole-v1.

An offline dataset of trajectories ``(s_0, a_0, r_0, s_1, ...)`` of mixed quality is turned into
token sequences ``(R̂_1, s_1, a_1, R̂_2, s_2, a_2, ...)`` where the *return-to-go*
``R̂_t = Σ_{t' >= t} r_t'`` is the reward still to be collected from step ``t``. A small GPT-style
transformer with causal self-attention reads the last ``K`` timesteps (3K tokens) and is trained
to predict each action ``a_t`` from the output at its state token ``s_t`` (cross-entropy). At test
time we *ask* for a return: start with ``R̂_1 = target``, subtract each reward as it arrives, and
sample the actions the model predicts. If the model has learned how behaviour depends on the
return, the achieved return follows the target.

Reference: Chen, Lu, Rajeswaran, Lee, Grover, Laskin, Abbeel, Srinivas & Mordatch,
"Decision Transformer: Reinforcement Learning via Sequence Modeling", NeurIPS 2021.
The baseline is behaviour cloning (an MLP ``s -> a`` trained on the same data).

Shapes: states ``(B, K, 4)`` float32; actions ``(B, K)`` int64 in {0, 1}; ``return_to_go``
``(B, K, 1)`` float32 (divided by :data:`RTG_SCALE`); timesteps ``(B, K)`` int64 in [0, 500];
``mask`` ``(B, K)`` bool (False = left padding); action logits ``(B, K, 2)``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from core.protocol import Demo, Snapshot, Ticker, frozen_copy, param, resolve_device, seed_everything

OBS_DIM = 4
N_ACTIONS = 2
MAX_EP_LEN = 500
RTG_SCALE = 500.0  # returns-to-go are divided by this before embedding
SOURCES = ("heuristic", "dqn")


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
class DtConfig:
    """Every setting of one Decision Transformer run (dataset, model, training, evaluation)."""

    source: str = param("heuristic", choices=SOURCES, label="Dataset source",
                        help="heuristic: a hand-written controller that gives up after a "
                        "different number of steps in each episode; dqn: the checkpoints of a "
                        "DQN run (see dqn_run), of mixed quality; both add random play")
    dqn_run: str = param("total_steps=20000", label="DQN run",
                         help="source=dqn: the DQN run whose checkpoints play the episodes, as "
                         "its settings (k=v pairs, comma separated; a run finished on the DQN "
                         "page is reused, otherwise it is trained first) or the path of a "
                         "checkpoints.pt written by `python -m core train dqn`")
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
    seed: int = param(0, lo=0, hi=2**31 - 1)
    device: str = param("auto", choices=("auto", "cpu", "cuda"))

    def __post_init__(self) -> None:
        parse_targets(self.targets)
        if self.source == "dqn" and not self.dqn_run.strip().endswith(".pt"):
            from core.rl.dqn import parse_run_key

            parse_run_key(self.dqn_run)  # raises ValueError naming the bad setting
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


N_POLICIES = 5  # DQN checkpoints used as behaviour policies


def pick_checkpoints(eval_returns: np.ndarray, n: int = N_POLICIES) -> list[int]:
    """Indices of up to ``n`` checkpoints spread over the range of their evaluation returns
    (worst, best and evenly spaced quantiles between): a dataset of mixed quality."""
    order = np.argsort(eval_returns, kind="stable")
    picks = np.round(np.linspace(0, len(order) - 1, min(n, len(order)))).astype(int)
    return sorted({int(order[i]) for i in picks})


@functools.lru_cache(maxsize=8)
def collect_dataset(source: str, n_episodes: int, seed: int,
                    dqn_run: str = "total_steps=20000") -> tuple[Trajectory, ...]:
    """The offline dataset, deterministic in its arguments and cached.

    ``heuristic``: a :class:`GiveUpController` that balances well and then, after a number of
    steps spread evenly over [0, 500] across episodes, deliberately lets the pole fall, with 5%
    random actions; one episode in six is random play. Returns range from ~10 to 500.
    ``dqn``: the checkpoints of the DQN run ``dqn_run`` (:func:`core.rl.dqn.checkpoints_of`: a run
    finished on the DQN page, a ``checkpoints.pt`` file, or a run trained now); up to five of
    them spread from its worst to its best evaluation return each play with ε in {0, 0.1, 0.3};
    one episode in six is random play.

    Raises:
        ValueError: for an unknown source, or a DQN run that cannot be used.
    """
    from core.rl import dqn

    if source not in SOURCES:
        raise ValueError(f"unknown dataset source {source!r}; allowed: {', '.join(SOURCES)}")
    env = dqn.make_env()
    rng = np.random.default_rng(seed)
    out = []
    if source == "heuristic":
        give_up = rng.permutation(np.linspace(0, MAX_EP_LEN, n_episodes).astype(int))
        for k, g in enumerate(give_up):
            if k % 6 == 5:  # random play
                out.append(rollout(heuristic_action, env, seed * 100_003 + k, 1.0, rng))
            else:
                out.append(rollout(GiveUpController(int(g)), env, seed * 100_003 + k, 0.05, rng))
    else:
        ck = dqn.checkpoints_of(dqn_run)
        if len(ck["state_dicts"]) == 0:
            raise ValueError(f"the DQN run {dqn_run!r} has no checkpoints")
        idx = pick_checkpoints(np.asarray(ck["eval_returns"]))
        policies = [functools.partial(_greedy, dqn.load_policy(ck, i)) for i in idx]
        for k in range(n_episodes):
            if k % 6 == 5:
                out.append(rollout(heuristic_action, env, seed * 100_003 + k, 1.0, rng))
            else:
                pol = policies[k % len(policies)]
                out.append(rollout(pol, env, seed * 100_003 + k, (0.0, 0.1, 0.3)[k % 3], rng))
    env.close()
    return tuple(out)


def _greedy(net: nn.Module, obs: np.ndarray) -> int:
    from core.rl.dqn import greedy_action

    return greedy_action(net, obs)


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


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention where token ``i`` sees tokens ``<= i`` (and no padding)."""

    def __init__(self, d_model: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        """``x`` (B, L, d) -> (B, L, d); ``allowed`` (B, 1, L, L) bool, True = may attend."""
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.n_heads, d // self.n_heads).permute(
            2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.proj(y.transpose(1, 2).reshape(b, n, d))


class Block(nn.Module):
    """A pre-norm transformer block: ``x + attn(LN(x))``, then ``x + MLP(LN(x))``."""

    def __init__(self, d_model: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.attn = CausalSelfAttention(d_model, n_heads, dropout)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(),
                                 nn.Linear(4 * d_model, d_model), nn.Dropout(dropout))

    def forward(self, x: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), allowed)
        return x + self.mlp(self.ln2(x))


class DecisionTransformer(nn.Module):
    """GPT over interleaved ``(return_to_go, state, action)`` tokens (Chen et al. 2021).

    Each modality has its own linear embedding; a learned timestep embedding is added to all three
    tokens of a timestep. The action logits for step ``t`` are read from the output at the state
    token ``s_t``, which by causality has seen ``R̂_<=t, s_<=t, a_<t`` only.
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
        # states are standardised with the dataset's statistics (set_state_stats), as in the paper
        self.register_buffer("state_mean", torch.zeros(obs_dim))
        self.register_buffer("state_std", torch.ones(obs_dim))
        for m in self.modules():  # GPT-2 initialisation: small embeddings, so no token dominates
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, std=0.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)

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
        key_ok = mask.repeat_interleave(3, dim=1)  # (B, 3K)
        causal = torch.tril(torch.ones(3 * k, 3 * k, dtype=torch.bool, device=x.device))
        eye = torch.eye(3 * k, dtype=torch.bool, device=x.device)
        allowed = (causal & key_ok[:, None, :]) | eye  # a padded token attends to itself only
        for block in self.blocks:
            x = block(x, allowed[:, None])
        x = self.ln_out(x).reshape(b, k, 3, -1)
        return self.predict_action(x[:, :, 1])


class BehaviourCloning(nn.Module):
    """The baseline: an MLP ``states (B, 4) -> action logits (B, 2)`` imitating all the data."""

    def __init__(self, width: int = 128) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(OBS_DIM, width), nn.ReLU(), nn.Linear(width, width),
                                 nn.ReLU(), nn.Linear(width, N_ACTIONS))

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        return self.net(states)


# --------------------------------------------------------------------------------- evaluation


@torch.no_grad()
def evaluate_dt(model: DecisionTransformer, target: float, episodes: int, k: int, seed: int,
                device: torch.device) -> np.ndarray:
    """Returns of ``episodes`` CartPole episodes conditioned on ``target`` (sampled actions).

    The episodes run in lock-step so that each step is one batched forward pass. Episode ``i``
    starts from ``reset(seed=seed + i)``; actions are sampled from the predicted distribution
    with a generator seeded by ``seed``. Returns an array (episodes,) of returns in [0, 500].
    """
    from core.rl.dqn import make_env

    model.eval()
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


@torch.no_grad()
def evaluate_bc(model: BehaviourCloning, episodes: int, seed: int,
                device: torch.device) -> np.ndarray:
    """Returns (episodes,) of the behaviour-cloning policy (sampled actions), seeds as above."""
    from core.rl.dqn import make_env

    model.eval()
    gen = torch.Generator().manual_seed(seed)
    env = make_env()
    out = np.zeros(episodes, np.float32)
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        done = False
        while not done:
            p = model(torch.as_tensor(obs, device=device)[None]).softmax(-1).cpu()
            obs, r, term, trunc, _ = env.step(int(torch.multinomial(p, 1, generator=gen)))
            out[i] += r
            done = term or trunc
    env.close()
    return out


# --------------------------------------------------------------------------------- training


def train(cfg: DtConfig) -> Iterator[Snapshot]:
    """Collect (or reuse) the offline dataset, train the DT and BC, then evaluate per target.

    Steps ``1..cfg.steps`` are gradient steps (metrics ``loss``: DT action cross-entropy in nats,
    ``bc_loss``: the BC baseline's); steps ``cfg.steps + 1 ..`` evaluate one target return each
    (metrics ``target_return``, ``achieved_return`` (mean over ``eval_episodes``),
    ``achieved_std``, ``bc_return``, ``dataset_best_return``, ``dataset_mean_return``).
    Artefacts: ``dataset_returns`` (n_episodes,), ``eval`` (n_done, 3) [target, mean, std].

    Raises:
        ValueError: for an unusable device or dataset source.
    """
    device = resolve_device(cfg.device)
    targets = parse_targets(cfg.targets)
    total = cfg.steps + len(targets)
    yield Snapshot(0, 0.0, {}, {"phase": "collecting the dataset"}, total_steps=total)
    data = collect_dataset(cfg.source, cfg.n_episodes, cfg.seed,
                           cfg.dqn_run if cfg.source == "dqn" else "")
    seed_everything(cfg.seed)
    returns = np.array([t.ret for t in data], np.float32)
    stats = {"dataset_best_return": float(returns.max()),
             "dataset_mean_return": float(returns.mean())}
    model = DecisionTransformer(cfg.d_model, cfg.n_layers, cfg.n_heads, cfg.dropout).to(device)
    model.set_state_stats(np.concatenate([t.observations for t in data]))
    bc = BehaviourCloning().to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-4)
    opt_bc = torch.optim.Adam(bc.parameters(), lr=cfg.lr)
    warmup = max(1, cfg.steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warmup))
    rng = np.random.default_rng(cfg.seed)
    art = {"dataset_returns": returns, "phase": "training", "eval": np.zeros((0, 3), np.float32)}
    tick = Ticker(total=total)
    loss_v = bc_v = math.nan
    for step in range(1, cfg.steps + 1):
        model.train()
        bc.train()
        rtg, states, actions, ts, mask = sample_batch(data, cfg.batch_size, cfg.context_len, rng,
                                                      device)
        logits = model(rtg, states, actions, ts, mask)
        loss = F.cross_entropy(logits[mask], actions[mask])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        bc_loss = F.cross_entropy(bc(states[mask]), actions[mask])
        opt_bc.zero_grad(set_to_none=True)
        bc_loss.backward()
        opt_bc.step()
        loss_v, bc_v = loss.item(), bc_loss.item()
        if tick(step) or not math.isfinite(loss_v):
            yield Snapshot(step, tick.elapsed, {"loss": loss_v, "bc_loss": bc_v, **stats}, art,
                           total_steps=total)
            if not math.isfinite(loss_v):
                return
    # evaluation: the "achieved vs target return" plot of the paper, one target per step
    bc_ret = float(evaluate_bc(bc, cfg.eval_episodes, 20_000 + cfg.seed, device).mean())
    rows = []
    for i, target in enumerate(targets):
        r = evaluate_dt(model, target, cfg.eval_episodes, cfg.context_len, 20_000 + cfg.seed,
                        device)
        rows.append((target, float(r.mean()), float(r.std())))
        step = cfg.steps + i + 1
        final = i == len(targets) - 1
        art = {**art, "phase": "done" if final else "evaluating",
               "eval": np.asarray(rows, np.float32)}
        yield Snapshot(step, tick.elapsed,
                       {"loss": loss_v, "bc_loss": bc_v, "target_return": target,
                        "achieved_return": rows[-1][1], "achieved_std": rows[-1][2],
                        "bc_return": bc_ret, **stats}, art, total_steps=total, final=final,
                       model=nn.ModuleDict({"dt": frozen_copy(model),
                                            "bc": frozen_copy(bc)}) if final else None)


DEMOS = [Demo("decision_transformer", DtConfig, train, title="Decision Transformer",
              description="RL as sequence modelling: condition on the return you want.")]
