"""Optimizers on loss surfaces: a race on 2-D test functions, Distill's quadratic analysis, a
fair learning-rate sweep, the learning-rate range test and a loss-landscape slice on MNIST.

Every update is a real ``torch.optim`` step (SGD, SGD with momentum, Nesterov, RMSprop, Adagrad,
Adam, AdamW); nothing is animated by hand.

References:
    Goh, "Why Momentum Really Works", Distill (2017): on ``f(w) = ½ wᵀAw`` gradient descent
    converges iff ``0 < α < 2/λ_max``; its best rate ``(κ-1)/(κ+1)`` needs ``α = 2/(λ_min+λ_max)``;
    heavy-ball momentum reaches ``(√κ-1)/(√κ+1)`` with ``α = (2/(√λ_min+√λ_max))²`` and
    ``β = ((√κ-1)/(√κ+1))²``. torch's SGD momentum (``v ← βv + g; w ← w - αv``) is exactly the
    article's ``z ← βz + ∇f; w ← w - αz``.
    Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017 (the range test);
    fastai's ``Learner.lr_find`` (1e-7 to 10, 100 steps, smoothed loss with β = 0.98, stop when
    it exceeds 4x its minimum; suggestion rules ``valley``, ``slide``, ``minimum``, ``steep``).
    Li, Xu, Taylor, Studer & Goldstein, "Visualizing the Loss Landscape of Neural Nets",
    NeurIPS 2018 (filter-normalised random directions).
    Kingma & Ba, "Adam", ICLR 2015; Loshchilov & Hutter, "Decoupled Weight Decay
    Regularization" (AdamW), ICLR 2019; Duchi et al. (Adagrad), JMLR 2011; Tieleman & Hinton
    (RMSprop), 2012; Sutskever et al. (Nesterov momentum in deep learning), ICML 2013.

Shapes: a point on a surface is ``(..., 2)``; paths are ``(T + 1, 2)`` per optimizer; the sweep
optimises ``(n_lrs, n_starts, 2)`` points at once (every update is elementwise, so the rows are
independent runs).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from core.protocol import Demo, RunOptions, Snapshot, Ticker, eval_mode, heartbeats, param, start

OPTIMIZERS = ("sgd", "momentum", "nesterov", "rmsprop", "adagrad", "adam", "adamw")
NAMES = {"sgd": "SGD", "momentum": "Momentum", "nesterov": "Nesterov", "rmsprop": "RMSprop",
         "adagrad": "Adagrad", "adam": "Adam", "adamw": "AdamW"}
SURFACES = ("rosenbrock", "beale", "himmelblau", "saddle", "quadratic", "noisy_quadratic")
DIVERGED = 1e6  # a coordinate beyond this magnitude (or non-finite) counts as diverged
ROTATION = math.pi / 6  # the quadratic's eigenvectors are rotated by 30°: no axis is special


# ------------------------------------------------------------------------------- surfaces


@dataclass(frozen=True)
class Surface:
    """A 2-D test function: ``f`` maps points (..., 2) to losses (...); ``box`` is
    ``(x_lo, x_hi, y_lo, y_hi)`` for the contour plot; ``start`` the usual start; ``minima`` the
    global minimisers (K, 2) and ``f_min`` the minimum value."""

    name: str
    f: Callable[[torch.Tensor], torch.Tensor]
    box: tuple[float, float, float, float]
    start: tuple[float, float]
    minima: tuple[tuple[float, float], ...]
    f_min: float
    formula: str


def _rosenbrock(p: torch.Tensor) -> torch.Tensor:
    x, y = p[..., 0], p[..., 1]
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


def _beale(p: torch.Tensor) -> torch.Tensor:
    x, y = p[..., 0], p[..., 1]
    return (1.5 - x + x * y) ** 2 + (2.25 - x + x * y**2) ** 2 + (2.625 - x + x * y**3) ** 2


def _himmelblau(p: torch.Tensor) -> torch.Tensor:
    x, y = p[..., 0], p[..., 1]
    return (x * x + y - 11) ** 2 + (x + y * y - 7) ** 2


def _saddle(p: torch.Tensor) -> torch.Tensor:
    x, y = p[..., 0], p[..., 1]
    return x * x - y * y + y**4 / 4


def quadratic_matrix(kappa: float) -> np.ndarray:
    """The 2x2 Hessian ``A = R diag(1, κ) Rᵀ`` (R a 30° rotation): eigenvalues 1 and κ."""
    c, s = math.cos(ROTATION), math.sin(ROTATION)
    r = np.array([[c, -s], [s, c]])
    return r @ np.diag([1.0, float(kappa)]) @ r.T


def _quadratic(kappa: float) -> Callable[[torch.Tensor], torch.Tensor]:
    a = torch.tensor(quadratic_matrix(kappa), dtype=torch.float64)

    def f(p: torch.Tensor) -> torch.Tensor:
        return 0.5 * torch.einsum("...i,ij,...j->...", p, a.to(p.dtype), p)
    return f


def surface(name: str, kappa: float = 10.0) -> Surface:
    """The named :class:`Surface` (``kappa`` sets the quadratics' condition number).

    Raises:
        ValueError: for an unknown name.
    """
    if name == "rosenbrock":
        return Surface(name, _rosenbrock, (-2.0, 2.0, -1.0, 3.0), (-1.5, 2.5), ((1.0, 1.0),), 0.0,
                       r"f(x,y) = (1-x)^2 + 100\,(y-x^2)^2")
    if name == "beale":
        return Surface(name, _beale, (-4.5, 4.5, -4.5, 4.5), (1.0, 1.5), ((3.0, 0.5),), 0.0,
                       r"f = (1.5-x+xy)^2 + (2.25-x+xy^2)^2 + (2.625-x+xy^3)^2")
    if name == "himmelblau":
        return Surface(name, _himmelblau, (-5.0, 5.0, -5.0, 5.0), (0.0, -0.5),
                       ((3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186),
                        (3.584428, -1.848126)), 0.0, r"f = (x^2+y-11)^2 + (x+y^2-7)^2")
    if name == "saddle":
        m = math.sqrt(2.0)
        return Surface(name, _saddle, (-2.5, 2.5, -2.5, 2.5), (-2.0, 0.01), ((0.0, m), (0.0, -m)),
                       -1.0, r"f = x^2 - y^2 + y^4/4 \quad(\text{saddle at } 0)")
    if name in ("quadratic", "noisy_quadratic"):
        return Surface(name, _quadratic(kappa), (-3.0, 3.0, -3.0, 3.0), (-2.5, 2.0), ((0.0, 0.0),),
                       0.0, r"f(w) = \tfrac12 w^\top A w,\quad \lambda(A) = \{1, \kappa\}")
    raise ValueError(f"unknown surface {name!r}; allowed: {', '.join(SURFACES)}")


def surface_grid(s: Surface, n: int = 120) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(xs (n,), ys (n,), z (n, n))``: the surface on a grid over its box, ``z[i, j]`` at
    ``(xs[j], ys[i])``."""
    xs = torch.linspace(s.box[0], s.box[1], n, dtype=torch.float64)
    ys = torch.linspace(s.box[2], s.box[3], n, dtype=torch.float64)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    with torch.no_grad():
        z = s.f(torch.stack([gx, gy], -1))
    return xs.numpy(), ys.numpy(), z.numpy()


# ----------------------------------------------------------------------------- optimizers


def make_optimizer(name: str, params: list, lr: float, momentum: float = 0.9,
                   beta1: float = 0.9, beta2: float = 0.999,
                   weight_decay: float = 0.01) -> torch.optim.Optimizer:
    """The real ``torch.optim`` optimizer ``name`` (one of :data:`OPTIMIZERS`) over ``params``
    (tensors or param-group dicts). ``momentum`` is SGD's β (momentum, Nesterov) and RMSprop's
    α-smoothing stays torch's 0.99; ``weight_decay`` is AdamW's decoupled decay only. Nesterov
    with β = 0 is plain SGD (torch refuses ``nesterov=True`` without momentum).

    Raises:
        ValueError: for an unknown name.
    """
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    if name == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=momentum)
    if name == "nesterov":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=momentum > 0)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=lr)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(beta1, beta2))
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=(beta1, beta2), weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}; allowed: {', '.join(OPTIMIZERS)}")


def stochastic_loss(s: Surface, p: torch.Tensor, noise: float,
                    gen: torch.Generator | None) -> torch.Tensor:
    """The loss whose gradient an optimizer sees at ``p`` (..., 2): the surface itself, or for
    ``noisy_quadratic`` the surface plus ``noise · ξ·p`` with ``ξ ~ N(0, I)`` drawn per call, so
    the gradient is the true one plus Gaussian noise of standard deviation ``noise``."""
    loss = s.f(p)
    if s.name == "noisy_quadratic" and noise > 0:
        xi = torch.randn(p.shape, generator=gen, dtype=p.dtype)
        loss = loss + noise * (xi * p).sum(-1)
    return loss


# ---------------------------------------------------------------------------------- race

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


def parse_optimizers(text: str) -> list[str]:
    """``"adam, sgd"`` -> ``["sgd", "adam"]`` (in :data:`OPTIMIZERS` order, no repeats).

    Raises:
        ValueError: for an unknown name or an empty list.
    """
    names = [t.strip().lower() for t in str(text).split(",") if t.strip()]
    bad = [n for n in names if n not in OPTIMIZERS]
    if bad:
        raise ValueError(f"unknown optimizer {bad[0][:20]!r}; allowed: {', '.join(OPTIMIZERS)}")
    if not names:
        raise ValueError("choose at least one optimizer")
    return [o for o in OPTIMIZERS if o in names]


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


# ----------------------------------------------------------------- quadratic (Distill)


def gd_rate(lr: float, lams: np.ndarray) -> float:
    """Gradient descent's linear rate ``max_i |1 - α λ_i|`` on a quadratic with eigenvalues
    ``lams``; below 1 iff ``0 < α < 2/λ_max``."""
    return float(np.max(np.abs(1 - lr * np.asarray(lams))))


def momentum_rate(lr: float, beta: float, lams: np.ndarray) -> float:
    """Heavy-ball momentum's linear rate: the largest spectral radius over the eigenvalues λ of
    Distill's 2x2 iteration matrix ``[[β, λ], [-αβ, 1 - αλ]]``."""
    out = 0.0
    for lam in np.asarray(lams, dtype=float):
        m = np.array([[beta, lam], [-lr * beta, 1 - lr * lam]])
        out = max(out, float(np.max(np.abs(np.linalg.eigvals(m)))))
    return out


def quadratic_theory(kappa: float, lam_min: float = 1.0) -> dict[str, float]:
    """Distill's optimal step sizes and rates for eigenvalues ``λ_min`` and ``κ λ_min``:
    ``lr_max = 2/λ_max`` (GD converges iff ``0 < α < lr_max``), ``gd_lr`` = ``2/(λ_min+λ_max)``
    with ``gd_rate = (κ-1)/(κ+1)``, and ``mom_lr = (2/(√λ_min+√λ_max))²``,
    ``mom_beta = ((√κ-1)/(√κ+1))²`` with ``mom_rate = (√κ-1)/(√κ+1)``."""
    lam_max = kappa * lam_min
    sk = math.sqrt(kappa)
    return {"lr_max": 2 / lam_max, "gd_lr": 2 / (lam_min + lam_max),
            "gd_rate": (kappa - 1) / (kappa + 1),
            "mom_lr": (2 / (math.sqrt(lam_min) + math.sqrt(lam_max))) ** 2,
            "mom_beta": ((sk - 1) / (sk + 1)) ** 2, "mom_rate": (sk - 1) / (sk + 1)}


def measured_rate(path: np.ndarray, floor: float = 1e-12) -> float | None:
    """The measured linear rate of a path (T+1, 2) towards the optimum at 0: the geometric
    mean of ``‖w_{k+1}‖/‖w_k‖`` over the second half of the steps before ``‖w‖`` hits ``floor``
    (float64 round-off). None when fewer than 4 steps are usable."""
    d = np.linalg.norm(np.asarray(path, dtype=float), axis=1)
    usable = np.nonzero(d > floor)[0]
    if len(usable) < 5:
        return None
    end = int(usable[-1])
    begin = end // 2
    if end - begin < 4 or d[begin] <= 0:
        return None
    return float((d[end] / d[begin]) ** (1 / (end - begin)))


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


# ---------------------------------------------------------------------------------- sweep


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


# ------------------------------------------------------------------- MNIST: the real thing


def mnist_tensors(device: torch.device, n_train: int = 4000) -> tuple[torch.Tensor, ...]:
    """Real MNIST digits (``core.data.load_images("mnist")``) flattened: ``(x_train (N, 784),
    y_train (N,), x_test (M, 784), y_test (M,), note)``; ``note`` is the data layer's fallback
    line or None."""
    from core.data import load_images

    tr, te = load_images("mnist", "train"), load_images("mnist", "test")
    return (tr.x[:n_train].reshape(len(tr.x[:n_train]), -1).to(device), tr.y[:n_train].to(device),
            te.x.reshape(len(te.x), -1).to(device), te.y.to(device), tr.note)


def mnist_net(hidden: int = 32) -> nn.Sequential:
    """A small MLP for MNIST: ``784 -> hidden -> 10`` with ReLU; input (B, 784), logits (B, 10)."""
    return nn.Sequential(nn.Linear(784, hidden), nn.ReLU(), nn.Linear(hidden, 10))


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Share of correct argmax predictions of ``model`` on ``x`` (N, 784), ``y`` (N,)."""
    with eval_mode(model):
        return float((model(x).argmax(1) == y).float().mean())


# ------------------------------------------------------------------------ LR range test


@dataclass(frozen=True)
class LrFinderConfig(RunOptions):
    """Smith's learning-rate range test on MNIST with fastai's defaults, then a short training
    run with each suggested learning rate."""

    optimizer: str = param("adam", choices=OPTIMIZERS, help="the optimizer being tuned")
    start_lr: float = param(1e-7, lo=1e-9, hi=1e-2, log=True, label="Start learning rate")
    end_lr: float = param(10.0, lo=1e-3, hi=100.0, log=True, label="End learning rate")
    num_it: int = param(100, lo=20, hi=500, step=10, label="Range-test steps")
    batch_size: int = param(64, choices=(16, 32, 64, 128, 256))
    hidden: int = param(32, lo=8, hi=256, step=8, help="hidden units of the MLP")
    steps: int = param(300, lo=20, hi=3000, step=20, help="training steps per suggestion")
    momentum: float = param(0.9, lo=0.0, hi=0.99, step=0.01, label="Momentum β")

    def __post_init__(self) -> None:
        if self.start_lr >= self.end_lr:
            raise ValueError("the start learning rate must be below the end learning rate")


def batches(x: torch.Tensor, y: torch.Tensor, batch_size: int,
            gen: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Endless shuffled mini-batches ``(x (B, 784), y (B,))``; each epoch a new permutation."""
    while True:
        order = torch.randperm(len(y), generator=gen).to(x.device)
        for i in range(0, len(y) - batch_size + 1, batch_size):
            idx = order[i:i + batch_size]
            yield x[idx], y[idx]


def range_test(model: nn.Module, opt: torch.optim.Optimizer, data: Iterator, start_lr: float,
               end_lr: float, num_it: int, beta: float = 0.98) -> Iterator[tuple[float, float]]:
    """Smith's range test as fastai runs it: the learning rate grows exponentially from
    ``start_lr`` to ``end_lr`` over ``num_it`` steps; yields ``(lr, smoothed loss)`` per step,
    the loss an exponential moving average (β = 0.98, bias-corrected); stops when the smoothed
    loss exceeds 4x its minimum or is not finite (divergence)."""
    avg, best = 0.0, math.inf
    for i in range(num_it):
        lr = start_lr * (end_lr / start_lr) ** (i / max(1, num_it - 1))
        for g in opt.param_groups:
            g["lr"] = lr
        xb, yb = next(data)
        loss = nn.functional.cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        raw = loss.item()
        if not math.isfinite(raw):
            return
        avg = beta * avg + (1 - beta) * raw
        smooth = avg / (1 - beta ** (i + 1))
        if smooth > 4 * best:
            return
        best = min(best, smooth)
        yield lr, smooth


def suggestions(lrs: np.ndarray, losses: np.ndarray) -> dict[str, float]:
    """fastai's four suggestion rules on a range test, after dropping its first 10% and last 5
    points as fastai does (``lrs``, ``losses`` (n,), smoothed):

    * ``minimum``: the learning rate at the lowest loss, divided by 10;
    * ``steep``: where the loss falls fastest against ``log lr``;
    * ``valley``: from the longest run of decreasing losses, the point about halfway down;
    * ``slide``: walk left from the end until the loss gradient flattens (interval 15,
      threshold 0.005).

    Raises:
        ValueError: when fewer than 20 points are left (the test diverged too early).
    """
    n = len(losses)
    lrs, losses = np.asarray(lrs[n // 10:n - 5], float), np.asarray(losses[n // 10:n - 5], float)
    if len(losses) < 20:
        raise ValueError("the range test stopped too early to suggest a learning rate; lower "
                         "the start learning rate")
    out = {"minimum": float(lrs[np.argmin(losses)] / 10)}
    grads = np.diff(losses) / np.diff(np.log(lrs))
    out["steep"] = float(lrs[int(np.argmin(grads))])
    out["valley"] = float(lrs[_valley_index(losses)])
    out["slide"] = _slide(lrs, losses)
    return out


def _valley_index(losses: np.ndarray) -> int:
    """fastai's ``valley``: the longest decreasing subsequence, and 1/3 + 1/6 of the way down."""
    n = len(losses)
    lds, max_start, max_end = [1] * n, 0, 0
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and lds[i] < lds[j] + 1:
                lds[i] = lds[j] + 1
            if lds[max_end] < lds[i]:
                max_end, max_start = i, i - lds[i]
    sections = (max_end - max_start) / 3
    return max_start + int(sections) + int(sections / 2)


def _slide(lrs: np.ndarray, losses: np.ndarray, lr_diff: int = 15, thresh: float = 0.005) -> float:
    """fastai's ``slide`` rule (see :func:`suggestions`)."""
    loss_grad = np.gradient(losses)
    r_idx, l_idx = -1, -1 - lr_diff
    local_min_lr = lrs[l_idx]
    while l_idx >= -len(losses) and abs(loss_grad[r_idx] - loss_grad[l_idx]) > thresh:
        local_min_lr = lrs[l_idx]
        r_idx, l_idx = r_idx - 1, l_idx - 1
    return float(local_min_lr)


RULES = ("valley", "slide", "minimum", "steep")


def train_lr_finder(cfg: LrFinderConfig) -> Iterator[Snapshot]:
    """Phase 1: the range test (``smooth_loss`` against ``lr``, one snapshot per tick).
    Phase 2: for each rule a fresh copy of the same initial network trains ``cfg.steps`` steps
    at the suggested learning rate (``loss_<rule>``, ``test_acc_<rule>``; ``test_acc`` is the
    best of them). Artifacts: ``curve`` ``(lrs, losses)``, ``suggest`` {rule: lr}, ``runs``."""
    device = start(cfg)
    xtr, ytr, xte, yte, note = mnist_tensors(device)
    gen = torch.Generator().manual_seed(cfg.seed)
    init = mnist_net(cfg.hidden).to(device)
    model = mnist_net(cfg.hidden).to(device)
    model.load_state_dict(init.state_dict())
    opt = make_optimizer(cfg.optimizer, model.parameters(), cfg.start_lr, cfg.momentum)
    total = cfg.num_it + len(RULES) * cfg.steps
    t, lrs, losses = Ticker(total=total), [], []
    for i, (lr, loss) in enumerate(range_test(model, opt, batches(xtr, ytr, cfg.batch_size, gen),
                                              cfg.start_lr, cfg.end_lr, cfg.num_it), start=1):
        lrs.append(lr)
        losses.append(loss)
        if t(i):
            yield Snapshot(i, t.elapsed, {"smooth_loss": loss, "lr": lr},
                           {"curve": (np.array(lrs), np.array(losses)), "note": note},
                           total_steps=total, phase=f"range test: lr {lr:.2g}")
    suggest = suggestions(np.array(lrs), np.array(losses))
    yield from _train_suggestions(cfg, init, suggest, (xtr, ytr, xte, yte),
                                  {"curve": (np.array(lrs), np.array(losses)), "note": note,
                                   "suggest": suggest}, t, total)


def _train_suggestions(cfg: LrFinderConfig, init: nn.Module, suggest: dict[str, float],
                       data: tuple, art: dict, t: Ticker, total: int) -> Iterator[Snapshot]:
    """Phase 2 of :func:`train_lr_finder`: one short run per suggestion from the same init."""
    xtr, ytr, xte, yte = data
    runs: dict[str, list[float]] = {}
    metrics: dict[str, float] = {}
    for k, rule in enumerate(RULES):
        gen = torch.Generator().manual_seed(cfg.seed + 1)  # the same batches for every rule
        model = mnist_net(cfg.hidden).to(xtr.device)
        model.load_state_dict(init.state_dict())
        opt = make_optimizer(cfg.optimizer, model.parameters(), suggest[rule], cfg.momentum)
        data_it, runs[rule] = batches(xtr, ytr, cfg.batch_size, gen), []
        for s in range(1, cfg.steps + 1):
            xb, yb = next(data_it)
            loss = nn.functional.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            value = loss.item()
            runs[rule].append(min(value, 1e3) if math.isfinite(value) else 1e3)
            step = cfg.num_it + k * cfg.steps + s
            final = k == len(RULES) - 1 and s == cfg.steps
            if s == cfg.steps:
                metrics[f"test_acc_{rule}"] = accuracy(model, xte, yte)
                metrics["test_acc"] = max(v for key, v in metrics.items()
                                          if key.startswith("test_acc_"))
            if t(step) or s == cfg.steps:
                yield Snapshot(step, t.elapsed, {**metrics, f"train_{rule}": runs[rule][-1]},
                               {**art, "runs": {r: np.array(v) for r, v in runs.items()}},
                               total_steps=total, final=final,
                               phase=f"{rule} (lr {suggest[rule]:.2g}): step {s}")


# ------------------------------------------------------- loss-landscape slice (Li et al.)

MNIST_LR = {"sgd": 0.1, "momentum": 0.02, "nesterov": 0.02, "rmsprop": 1e-3, "adagrad": 0.03,
            "adam": 1e-3, "adamw": 1e-3}  # stable defaults for the 784-32-10 MLP, batch 64


@dataclass(frozen=True)
class LandscapeConfig(RunOptions):
    """The optimizers train the same MNIST MLP from the same initial weights on the same
    batches; their weight paths are projected on a 2-D slice of the loss surface."""

    optimizers: str = param("sgd,momentum,adam", help="comma-separated optimizers to train")
    steps: int = param(300, lo=20, hi=3000, step=20)
    batch_size: int = param(64, choices=(16, 32, 64, 128, 256))
    lr_scale: float = param(1.0, lo=0.01, hi=100.0, log=True, label="Learning-rate scale",
                            help="multiplies every optimizer's default learning rate")
    hidden: int = param(32, lo=8, hi=128, step=8, help="hidden units of the MLP")
    directions: str = param("pca", choices=("pca", "random"),
                            help="random: two filter-normalised Gaussian directions (Li et al. "
                                 "2018 §4); pca: the top two principal directions of the paths "
                                 "(Li et al. §7), filter-normalised")
    grid: int = param(21, lo=9, hi=41, step=2, help="slice resolution (grid x grid losses)")

    def __post_init__(self) -> None:
        parse_optimizers(self.optimizers)


def flat(model: nn.Module) -> torch.Tensor:
    """All parameters of ``model`` as one vector (P,)."""
    return nn.utils.parameters_to_vector(model.parameters()).detach().clone()


def filter_normalize(d: torch.Tensor, ref: nn.Module) -> torch.Tensor:
    """Li et al.'s filter normalisation of a direction ``d`` (P,): each filter (a row of a
    weight matrix, one output unit) is rescaled to the norm of the same filter of ``ref``;
    bias entries are set to 0 (the paper's ``ignore biases``)."""
    out, i = torch.zeros_like(d), 0
    for p in ref.parameters():
        n = p.numel()
        if p.dim() > 1:
            chunk = d[i:i + n].view_as(p)
            scale = p.detach().flatten(1).norm(dim=1) / (chunk.flatten(1).norm(dim=1) + 1e-10)
            out[i:i + n] = (chunk * scale.view(-1, *[1] * (p.dim() - 1))).flatten()
        i += n
    return out


def slice_directions(kind: str, ref: nn.Module, paths: list[torch.Tensor],
                     gen: torch.Generator) -> torch.Tensor:
    """Two filter-normalised directions (2, P) around the weights of ``ref``: Gaussian
    (``random``) or the top two principal directions of the stacked path offsets from the
    start (``pca``; each path (T, P))."""
    w0 = flat(ref)
    if kind == "random":
        raw = torch.randn(2, len(w0), generator=gen, dtype=w0.dtype)
    else:
        offsets = torch.cat([p - w0 for p in paths])
        _, _, v = torch.linalg.svd(offsets - offsets.mean(0), full_matrices=False)
        raw = v[:2]
    return torch.stack([filter_normalize(r, ref) for r in raw])


def project(path: torch.Tensor, w0: torch.Tensor, dirs: torch.Tensor) -> np.ndarray:
    """Least-squares coordinates (T, 2) of ``path - w0`` (T, P) in the span of ``dirs`` (2, P)."""
    sol = torch.linalg.lstsq(dirs.T.double(), (path - w0).T.double()).solution
    return sol.T.numpy()


def loss_slice(model: nn.Module, w0: torch.Tensor, dirs: torch.Tensor, x: torch.Tensor,
               y: torch.Tensor, extent: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Cross-entropy on ``(x, y)`` at ``w0 + a d1 + b d2`` over an ``n x n`` grid of
    ``a, b ∈ [-extent, extent]``: ``(coords (n,), losses (n, n))`` with ``losses[i, j]`` at
    ``(a=coords[j], b=coords[i])``. ``model`` is overwritten."""
    coords = np.linspace(-extent, extent, n)
    z = np.zeros((n, n))
    with eval_mode(model):
        for i, b in enumerate(coords):
            for j, a in enumerate(coords):
                nn.utils.vector_to_parameters(w0 + float(a) * dirs[0] + float(b) * dirs[1],
                                              model.parameters())
                z[i, j] = float(nn.functional.cross_entropy(model(x), y))
    return coords, z


def _landscape_setup(cfg: LandscapeConfig, device: torch.device) -> tuple:
    """The data, the common initial network and one (model, optimizer) per chosen optimizer."""
    xtr, ytr, xte, yte, note = mnist_tensors(device)
    init = mnist_net(cfg.hidden).to(device)
    runners = {}
    for name in parse_optimizers(cfg.optimizers):
        m = mnist_net(cfg.hidden).to(device)
        m.load_state_dict(init.state_dict())
        runners[name] = (m, make_optimizer(name, m.parameters(), MNIST_LR[name] * cfg.lr_scale))
    return (xtr, ytr, xte, yte, note), init, runners


def train_landscape(cfg: LandscapeConfig) -> Iterator[Snapshot]:
    """Train every chosen optimizer in lockstep (``loss_<name>`` per snapshot, ``test_acc_<name>``
    at the end), recording weights every few steps; then the loss on a 2-D slice through the
    initial weights with every path projected on it. Artifacts: ``paths`` {name: (K, 2)},
    ``slice`` ``(coords, losses)`` (final snapshot), ``note``."""
    device = start(cfg)
    (xtr, ytr, xte, yte, note), init, runners = _landscape_setup(cfg, device)
    gen = torch.Generator().manual_seed(cfg.seed)
    data = batches(xtr, ytr, cfg.batch_size, gen)
    every = max(1, cfg.steps // 60)
    paths = {name: [flat(init).cpu()] for name in runners}
    t = Ticker(total=cfg.steps)
    for step in range(1, cfg.steps + 1):
        xb, yb = next(data)
        losses = {}
        for name, (m, opt) in runners.items():
            loss = nn.functional.cross_entropy(m(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses[f"loss_{name}"] = loss.item()
            if step % every == 0 or step == cfg.steps:
                paths[name].append(flat(m).cpu())
        if t(step) and step < cfg.steps:
            yield Snapshot(step, t.elapsed, losses, {"note": note}, total_steps=cfg.steps + 1)
    metrics = {**losses, **{f"test_acc_{n}": accuracy(m, xte, yte) for n, (m, _) in
                            runners.items()}}
    metrics["test_acc"] = max(v for k, v in metrics.items() if k.startswith("test_acc_"))
    yield Snapshot(cfg.steps, t.elapsed, metrics, {"note": note}, total_steps=cfg.steps + 1,
                   phase="computing the loss slice")
    init_cpu = init.cpu()
    stacked = {n: torch.stack(p) for n, p in paths.items()}
    dirs = slice_directions(cfg.directions, init_cpu, list(stacked.values()), gen)
    w0 = flat(init_cpu)
    proj = {n: project(p, w0, dirs) for n, p in stacked.items()}
    extent = 1.25 * max(1.0 if cfg.directions == "random" else 0.1,
                        max(float(np.abs(p).max()) for p in proj.values()))
    sub = slice(0, 1000)
    coords, z = loss_slice(init_cpu, w0, dirs, xtr[sub].cpu(), ytr[sub].cpu(), extent, cfg.grid)
    yield Snapshot(cfg.steps + 1, t.elapsed, metrics,
                   {"note": note, "paths": proj, "slice": (coords, z)},
                   total_steps=cfg.steps + 1, final=True)


DEMOS = [
    Demo("optimizers", RaceConfig, train_race, title="Optimizer race",
         description="SGD, momentum, Nesterov, RMSprop, Adagrad, Adam and AdamW race on a 2-D "
                     "loss surface from the same start."),
    Demo("optimizer_sweep", SweepConfig, train_sweep, title="Optimizer fairness sweep",
         description="Every optimizer gets the same learning-rate sweep and random starts; "
                     "scored by final loss and area under the curve."),
    Demo("lr_finder", LrFinderConfig, train_lr_finder, title="Learning-rate range test",
         description="Smith's LR range test on MNIST with fastai's four suggestions, each "
                     "then trained for a short run."),
    Demo("optimizer_landscape", LandscapeConfig, train_landscape,
         title="Optimizer paths on an MNIST loss slice",
         description="Optimizers train the same MNIST MLP; their paths on a 2-D "
                     "filter-normalised slice of the loss (Li et al. 2018)."),
]
