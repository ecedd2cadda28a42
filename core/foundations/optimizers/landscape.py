"""Optimizer paths on a 2-D slice of an MNIST loss surface (the ``optimizer_landscape`` demo).

Reference: Li, Xu, Taylor, Studer & Goldstein, "Visualizing the Loss Landscape of Neural
Nets", NeurIPS 2018 (filter-normalised random directions).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from core.foundations.optimizers.mnist import (
    accuracy,
    batches,
    mnist_net,
    mnist_tensors,
    train_step,
)
from core.foundations.optimizers.optim import make_optimizer, parse_optimizers
from core.protocol import Demo, RunOptions, Snapshot, Ticker, eval_mode, param, start

__all__ = ["MNIST_LR", "LandscapeConfig", "filter_normalize", "flat", "loss_slice", "project",
           "slice_directions", "train_landscape"]

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


def lockstep_step(runners: dict[str, tuple[nn.Module, torch.optim.Optimizer]], xb: torch.Tensor,
                  yb: torch.Tensor) -> dict[str, float]:
    """One optimizer step of every runner on the same batch ``(xb (B, 784), yb (B,))``:
    ``{"loss_<name>": cross-entropy before the step (nats)}``."""
    return {f"loss_{name}": train_step(m, opt, xb, yb) for name, (m, opt) in runners.items()}


def paths_on_slice(cfg: LandscapeConfig, init: nn.Module, paths: dict[str, list[torch.Tensor]],
                   x: torch.Tensor, y: torch.Tensor, gen: torch.Generator) -> dict:
    """The slice through ``init``'s weights (moved to the CPU) along :func:`slice_directions`,
    the recorded weight ``paths`` (each a list of (P,) vectors) projected on it, and the loss on
    the first 1000 of ``(x, y)`` over the slice: ``{"paths": {name: (K, 2)}, "slice": (coords
    (grid,), losses (grid, grid))}``."""
    init_cpu = init.cpu()
    stacked = {n: torch.stack(p) for n, p in paths.items()}
    dirs = slice_directions(cfg.directions, init_cpu, list(stacked.values()), gen)
    w0 = flat(init_cpu)
    proj = {n: project(p, w0, dirs) for n, p in stacked.items()}
    extent = 1.25 * max(1.0 if cfg.directions == "random" else 0.1,
                        max(float(np.abs(p).max()) for p in proj.values()))
    sub = slice(0, 1000)
    coords, z = loss_slice(init_cpu, w0, dirs, x[sub].cpu(), y[sub].cpu(), extent, cfg.grid)
    return {"paths": proj, "slice": (coords, z)}


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
        losses = lockstep_step(runners, *next(data))
        if step % every == 0 or step == cfg.steps:
            for name, (m, _) in runners.items():
                paths[name].append(flat(m).cpu())
        if t(step) and step < cfg.steps:
            yield Snapshot(step, t.elapsed, losses, {"note": note}, total_steps=cfg.steps + 1)
    metrics = {**losses, **{f"test_acc_{n}": accuracy(m, xte, yte) for n, (m, _) in
                            runners.items()}}
    metrics["test_acc"] = max(v for k, v in metrics.items() if k.startswith("test_acc_"))
    yield Snapshot(cfg.steps, t.elapsed, metrics, {"note": note}, total_steps=cfg.steps + 1,
                   phase="computing the loss slice")
    yield Snapshot(cfg.steps + 1, t.elapsed, metrics,
                   {"note": note, **paths_on_slice(cfg, init, paths, xtr, ytr, gen)},
                   total_steps=cfg.steps + 1, final=True)


DEMOS = [
    Demo("optimizer_landscape", LandscapeConfig, train_landscape,
         title="Optimizer paths on an MNIST loss slice",
         description="Optimizers train the same MNIST MLP; their paths on a 2-D "
                     "filter-normalised slice of the loss (Li et al. 2018)."),
]
