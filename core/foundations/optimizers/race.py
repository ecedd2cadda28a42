"""The optimizer race (the ``optimizers`` demo): seven optimizers from the same start on one
2-D surface; on the quadratic, Distill's predicted rates next to the measured ones.

Shapes: paths are ``(T + 1, 2)`` per optimizer.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from core.foundations.optimizers.optim import NAMES, make_optimizer, parse_optimizers
from core.foundations.optimizers.quadratic import gd_rate, measured_rate, momentum_rate
from core.foundations.optimizers.surfaces import DIVERGED, SURFACES, Surface, stochastic_loss, surface
from core.protocol import Demo, RunOptions, Snapshot, Ticker, param, start

__all__ = ["RACE_LRS", "RaceConfig", "Racer", "make_racers", "quadratic_report", "race_artifacts",
           "race_metrics", "race_step", "train_race"]

_COMMON = {"rmsprop": 0.03, "adagrad": 0.3, "adam": 0.1, "adamw": 0.1}
RACE_LRS = {  # sensible, not tuned, learning rates per surface (the sweep lab tunes them)
    "rosenbrock": {"sgd": 3e-4, "momentum": 1e-3, "nesterov": 1e-3, "rmsprop": 0.01,
                   "adagrad": 0.1, "adam": 0.1, "adamw": 0.1},
    "beale": {"sgd": 0.01, "momentum": 3e-3, "nesterov": 3e-3, **_COMMON},
    "himmelblau": {"sgd": 0.01, "momentum": 3e-3, "nesterov": 3e-3, **_COMMON},
    "saddle": {"sgd": 0.03, "momentum": 0.03, "nesterov": 0.03, **_COMMON},
    "quadratic": {"sgd": 0.1, "momentum": 0.03, "nesterov": 0.03, **_COMMON},
    "noisy_quadratic": {"sgd": 0.1, "momentum": 0.03, "nesterov": 0.03, **_COMMON},
}


@dataclass(frozen=True)
class RaceConfig(RunOptions):
    """Seven optimizers race on one 2-D surface from the same start."""

    surface: str = param("rosenbrock", choices=SURFACES, help="the 2-D loss surface")
    optimizers: str = param("sgd,momentum,nesterov,rmsprop,adagrad,adam,adamw",
                            help="comma-separated optimizers to race")
    x0: float = param(-1.5, lo=-5.0, hi=5.0, step=0.1, label="Start x")
    y0: float = param(2.5, lo=-5.0, hi=5.0, step=0.1, label="Start y")
    steps: int = param(500, lo=10, hi=5000, step=10, help="optimizer steps")
    lr_sgd: float = param(0.0003, lo=1e-5, hi=10.0, log=True, label="SGD learning rate")
    lr_momentum: float = param(0.001, lo=1e-5, hi=10.0, log=True, label="Momentum learning rate")
    lr_nesterov: float = param(0.001, lo=1e-5, hi=10.0, log=True, label="Nesterov learning rate")
    lr_rmsprop: float = param(0.01, lo=1e-5, hi=10.0, log=True, label="RMSprop learning rate")
    lr_adagrad: float = param(0.1, lo=1e-5, hi=10.0, log=True, label="Adagrad learning rate")
    lr_adam: float = param(0.1, lo=1e-5, hi=10.0, log=True, label="Adam learning rate")
    lr_adamw: float = param(0.1, lo=1e-5, hi=10.0, log=True, label="AdamW learning rate")
    momentum: float = param(0.9, lo=0.0, hi=0.99, step=0.01, label="Momentum β")
    beta1: float = param(0.9, lo=0.0, hi=0.999, step=0.001, label="Adam β₁")
    beta2: float = param(0.999, lo=0.9, hi=0.9999, step=0.0001, label="Adam β₂")
    weight_decay: float = param(0.01, lo=0.0, hi=0.5, step=0.01, label="AdamW weight decay")
    kappa: float = param(10.0, lo=1.0, hi=1000.0, log=True, label="Condition number κ",
                         help="λ_max/λ_min of the quadratics")
    noise: float = param(1.0, lo=0.0, hi=10.0, step=0.1, label="Gradient noise σ",
                         help="noisy quadratic only")
    animate_s: float = param(8.0, lo=0.0, hi=30.0, step=1.0, label="Animation (s)",
                             help="how long the race takes to draw; 0 = as fast as possible")

    def __post_init__(self) -> None:
        parse_optimizers(self.optimizers)

    @property
    def chosen(self) -> list[str]:
        return parse_optimizers(self.optimizers)

    def lr(self, name: str) -> float:
        return float(getattr(self, f"lr_{name}"))


@dataclass
class Racer:
    """One optimizer in the race: its point (2,), optimizer, path, losses and gradient norms."""

    name: str
    p: torch.Tensor
    opt: torch.optim.Optimizer
    path: list[tuple[float, float]]
    loss: list[float]
    grad_norm: list[float]
    diverged_at: int | None = None


def make_racers(cfg: RaceConfig, s: Surface) -> list[Racer]:
    """One :class:`Racer` per chosen optimizer, all at ``(x0, y0)`` (float64)."""
    racers = []
    start_xy = (cfg.x0, cfg.y0)
    for name in cfg.chosen:
        p = torch.tensor(start_xy, dtype=torch.float64, requires_grad=True)
        opt = make_optimizer(name, [p], cfg.lr(name), cfg.momentum, cfg.beta1, cfg.beta2,
                             cfg.weight_decay)
        with torch.no_grad():
            f0 = float(s.f(p))
        racers.append(Racer(name, p, opt, [start_xy], [f0], []))
    return racers


def race_step(r: Racer, s: Surface, step: int, noise: float, gen: torch.Generator) -> None:
    """One ``torch.optim`` step of racer ``r``; a racer whose point leaves ``|·| < 1e6`` or
    becomes non-finite is marked diverged and frozen."""
    if r.diverged_at is not None:
        return
    r.opt.zero_grad()
    stochastic_loss(s, r.p, noise, gen).backward()
    r.grad_norm.append(float(r.p.grad.norm()))
    r.opt.step()
    x, y = (float(v) for v in r.p.detach())
    with torch.no_grad():
        f = float(s.f(r.p))
    if not (math.isfinite(f) and abs(x) < DIVERGED and abs(y) < DIVERGED):
        r.diverged_at = step
        return
    r.path.append((x, y))
    r.loss.append(f)


def race_artifacts(racers: list[Racer]) -> dict:
    """What the page draws: per optimizer its path (T+1, 2), losses (T+1,), gradient norms (T,)
    and the step it diverged at (or None)."""
    return {"paths": {r.name: np.asarray(r.path) for r in racers},
            "losses": {r.name: np.asarray(r.loss) for r in racers},
            "grad_norms": {r.name: np.asarray(r.grad_norm) for r in racers},
            "diverged": {r.name: r.diverged_at for r in racers}}


def race_metrics(racers: list[Racer], s: Surface) -> dict[str, float]:
    """``loss_<name>``: the current loss minus the surface's minimum (omitted once diverged)."""
    return {f"loss_{r.name}": r.loss[-1] - s.f_min for r in racers if r.diverged_at is None}


def train_race(cfg: RaceConfig) -> Iterator[Snapshot]:
    """Race the chosen optimizers for ``cfg.steps`` steps; about 40 frames paced over
    ``cfg.animate_s`` seconds. Artifacts: :func:`race_artifacts` plus, on a quadratic,
    ``analysis`` (:func:`quadratic_report`)."""
    start(cfg)
    s = surface(cfg.surface, cfg.kappa)
    gen = torch.Generator().manual_seed(cfg.seed)
    racers = make_racers(cfg, s)
    frames = min(40, cfg.steps)
    every = max(1, cfg.steps // frames)
    pace = cfg.animate_s / frames
    t = Ticker(total=cfg.steps, interval_s=0.0)
    for step in range(1, cfg.steps + 1):
        for r in racers:
            race_step(r, s, step, cfg.noise, gen)
        if step % every == 0 or step == cfg.steps or step == 1:
            final = step == cfg.steps
            art = race_artifacts(racers)
            if cfg.surface in ("quadratic", "noisy_quadratic"):
                art["analysis"] = quadratic_report(cfg, art["paths"])
            yield Snapshot(step, t.elapsed, race_metrics(racers, s), art, total_steps=cfg.steps,
                           final=final, pace_s=0.0 if final else pace)


def quadratic_report(cfg: RaceConfig, paths: dict[str, np.ndarray]) -> list[dict]:
    """For SGD, momentum and Nesterov on the quadratic: the theoretical rate at the chosen
    step size (and β) next to the rate measured on the path, and whether it converges."""
    lams = np.array([1.0, cfg.kappa])
    rows = []
    for name in ("sgd", "momentum", "nesterov"):
        if name not in paths:
            continue
        lr = cfg.lr(name)
        theory = gd_rate(lr, lams) if name == "sgd" else (
            momentum_rate(lr, cfg.momentum, lams) if name == "momentum" else None)
        rows.append({"optimizer": NAMES[name], "lr": lr, "theory_rate": theory,
                     "measured_rate": measured_rate(paths[name]),
                     "converges": None if theory is None else theory < 1})
    return rows


DEMOS = [
    Demo("optimizers", RaceConfig, train_race, title="Optimizer race",
         description="SGD, momentum, Nesterov, RMSprop, Adagrad, Adam and AdamW race on a 2-D "
                     "loss surface from the same start."),
]
