"""A fair learning-rate sweep (the ``optimizer_sweep`` demo): every optimizer gets the same
log-spaced learning rates and random starts, scored by final loss and area under the curve.

Shapes: the sweep optimises ``(n_lrs, n_starts, 2)`` points at once (every update is
elementwise, so the rows are independent runs).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from core.foundations.optimizers.optim import NAMES, OPTIMIZERS, make_optimizer
from core.foundations.optimizers.surfaces import DIVERGED, SURFACES, Surface, stochastic_loss, surface
from core.protocol import Demo, RunOptions, Snapshot, Ticker, heartbeats, param, start

__all__ = ["SweepConfig", "random_starts", "score", "sweep_one", "train_sweep"]


@dataclass(frozen=True)
class SweepConfig(RunOptions):
    """The same tuning budget for every optimizer: a log-spaced learning-rate sweep, several
    random starts; scored by final loss gap and area under the log-loss curve."""

    surface: str = param("rosenbrock", choices=SURFACES, help="the 2-D loss surface")
    n_lrs: int = param(7, lo=3, hi=13, label="Learning rates per optimizer")
    lr_lo: float = param(1e-4, lo=1e-6, hi=1.0, log=True, label="Smallest learning rate")
    lr_hi: float = param(1.0, lo=1e-4, hi=10.0, log=True, label="Largest learning rate")
    n_starts: int = param(8, lo=1, hi=32, label="Random starts")
    steps: int = param(300, lo=10, hi=3000, step=10, help="optimizer steps per run")
    momentum: float = param(0.9, lo=0.0, hi=0.99, step=0.01, label="Momentum β")
    kappa: float = param(10.0, lo=1.0, hi=1000.0, log=True, label="Condition number κ")
    noise: float = param(1.0, lo=0.0, hi=10.0, step=0.1, label="Gradient noise σ")

    def __post_init__(self) -> None:
        if self.lr_lo >= self.lr_hi:
            raise ValueError("the smallest learning rate must be below the largest")


def random_starts(s: Surface, n: int, seed: int) -> torch.Tensor:
    """``n`` start points (n, 2) drawn uniformly from the inner 80% of the surface's box."""
    g = torch.Generator().manual_seed(seed)
    u = torch.rand(n, 2, generator=g, dtype=torch.float64) * 0.8 + 0.1
    lo = torch.tensor([s.box[0], s.box[2]], dtype=torch.float64)
    hi = torch.tensor([s.box[1], s.box[3]], dtype=torch.float64)
    return lo + u * (hi - lo)


def sweep_one(name: str, lrs: np.ndarray, starts: torch.Tensor, s: Surface, cfg: SweepConfig,
              gen: torch.Generator) -> Iterator[np.ndarray]:
    """Run optimizer ``name`` at every learning rate from every start at once (one param group
    per learning rate, each a (n_starts, 2) tensor). Yields after each step; returns the loss
    gaps ``(n_lrs, n_starts, steps + 1)`` (inf once a run diverged)."""
    ps = [starts.clone().requires_grad_(True) for _ in lrs]
    opt = make_optimizer(name, [{"params": [p], "lr": float(lr)} for p, lr in zip(ps, lrs)],
                         float(lrs[0]), momentum=cfg.momentum)
    gaps = np.full((len(lrs), len(starts), cfg.steps + 1), np.inf)
    with torch.no_grad():
        gaps[:, :, 0] = (s.f(starts) - s.f_min).numpy()
    for t in range(1, cfg.steps + 1):
        opt.zero_grad()
        sum(stochastic_loss(s, p, cfg.noise, gen).sum() for p in ps).backward()
        opt.step()
        with torch.no_grad():
            for i, p in enumerate(ps):
                bad = ~torch.isfinite(p).all(1) | (p.abs() > DIVERGED).any(1)
                p[bad] = float("nan")  # a diverged run stays diverged (its gap is inf)
                g = (s.f(p) - s.f_min).numpy()
                gaps[i, :, t] = np.where(np.isfinite(g), g, np.inf)
        yield gaps
    return gaps


def score(gaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(final, auc)`` per learning rate, both (n_lrs,): the median over starts of the final
    loss gap, and the median area under the curve of ``log10(gap + 1e-12)`` per step (lower is
    better; a diverged run scores +inf)."""
    final = np.median(gaps[:, :, -1], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        auc = np.median(np.mean(np.log10(np.maximum(gaps, 0) + 1e-12), axis=2), axis=1)
    return final, np.where(np.isfinite(auc), auc, np.inf)


def train_sweep(cfg: SweepConfig) -> Iterator[Snapshot]:
    """For each optimizer: every learning rate of the sweep from every start. Metrics per
    optimizer: ``best_auc_<name>`` and ``best_final_<name>`` (the log10 loss gap) at its best
    learning rate by AUC. Artifacts ``table``: one row per (optimizer, lr) with both scores;
    ``curves``: the best run's median gap curve (steps + 1,) per optimizer."""
    start(cfg)
    s = surface(cfg.surface, cfg.kappa)
    gen = torch.Generator().manual_seed(cfg.seed)
    lrs = np.geomspace(cfg.lr_lo, cfg.lr_hi, cfg.n_lrs)
    starts = random_starts(s, cfg.n_starts, cfg.seed)
    t, table, curves, metrics = Ticker(), [], {}, {}
    total = len(OPTIMIZERS) * cfg.steps
    for k, name in enumerate(OPTIMIZERS):
        _, gaps = yield from heartbeats(sweep_one(name, lrs, starts, s, cfg, gen), total=total,
                                        done=k * cfg.steps, phase=f"{NAMES[name]}: step {{units}}")
        final, auc = score(gaps)
        for lr, f, a in zip(lrs, final, auc):
            table.append({"optimizer": NAMES[name], "lr": float(lr), "final_gap": float(f),
                          "auc_log10": float(a)})
        best = int(np.argmin(auc))
        curves[name] = np.median(gaps[best], axis=0)
        if np.isfinite(auc[best]):
            metrics[f"best_auc_{name}"] = float(auc[best])
            metrics[f"best_final_{name}"] = float(np.log10(final[best] + 1e-12))
        done = k == len(OPTIMIZERS) - 1
        yield Snapshot((k + 1) * cfg.steps, t.elapsed, dict(metrics),
                       {"table": list(table), "curves": dict(curves), "lrs": lrs,
                        "starts": starts.numpy()}, total_steps=total, final=done)


DEMOS = [
    Demo("optimizer_sweep", SweepConfig, train_sweep, title="Optimizer fairness sweep",
         description="Every optimizer gets the same learning-rate sweep and random starts; "
                     "scored by final loss and area under the curve."),
]
