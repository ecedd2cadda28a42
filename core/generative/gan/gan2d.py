"""The ``gan2d`` demo: the mode-collapse lab, a GAN with MLPs for G and D on a 2-D mixture of
Gaussians (the toy problem of Metz et al., "Unrolled Generative Adversarial Networks", ICLR
2017), with D's decision surface and where G's loss pushes each generated point.

Shapes: ``z`` ``(N, latent_dim)`` ~ N(0, I); points ``(N, 2)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from core.generative.gan.losses import LOSSES, g_loss, score_to_prob
from core.generative.gan.mixtures import N_VIS, TARGETS, extent, mode_metrics, sample_target, target_modes
from core.generative.gan.model import mlp
from core.generative.gan.steps import StepLosses, d_step, g_step, make_optimizers, step_metrics
from core.protocol import Demo, Progress, RunOptions, Snapshot, param, start

__all__ = ["GRID_RES", "N_EVAL_2D", "TRAIL", "Gan2dConfig", "g_push", "plane_grid",
           "plane_snapshot", "train_gan2d", "train_step_2d"]

GRID_RES = 60  # resolution of D's decision heatmap
N_EVAL_2D = 2000  # generated points behind the mode metrics
TRAIL = 8  # snapshots of the points' positions kept for the trails


@dataclass(frozen=True)
class Gan2dConfig(RunOptions):
    """Every setting of one 2-D GAN run (the mode-collapse lab)."""

    target: str = param("ring8", choices=TARGETS, label="Target",
                        help="ring of 8 Gaussians or a 5x5 grid of 25")
    latent_dim: int = param(16, lo=2, hi=128, label="Latent dimension")
    g_hidden: int = param(64, choices=(16, 32, 64, 128, 256), label="Generator width",
                          help="units in each of G's 2 hidden layers", aliases=("g_width",))
    d_hidden: int = param(64, choices=(16, 32, 64, 128, 256), label="Discriminator width",
                          help="units in each of D's 2 hidden layers", aliases=("d_width",))
    lr_g: float = param(2e-3, lo=1e-5, hi=1e-1, log=True, label="Generator learning rate")
    lr_d: float = param(2e-3, lo=1e-5, hi=1e-1, log=True, label="Discriminator learning rate")
    beta1: float = param(0.5, lo=0.0, hi=0.99, step=0.05, label="Adam β1")
    batch_size: int = param(128, choices=(32, 64, 128, 256, 512), label="Batch size")
    d_steps: int = param(1, lo=1, hi=5, label="D steps per G step")
    loss: str = param("nonsaturating", choices=LOSSES, label="Loss")
    label_smoothing: float = param(0.0, lo=0.0, hi=0.3, step=0.05,
                                   label="One-sided label smoothing")
    steps: int = param(1500, lo=10, hi=50000, help="generator updates")


def plane_grid(target: str, device: torch.device) -> torch.Tensor:
    """The ``(GRID_RES**2, 2)`` points of D's heatmap over the page's square, row-major with
    rows from the top (+y) down."""
    xs = torch.linspace(-extent(target), extent(target), GRID_RES)
    gy, gx = torch.meshgrid(xs.flip(0), xs, indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], 1).to(device)


def train_step_2d(cfg: Gan2dConfig, G: nn.Module, D: nn.Module, opts: tuple,
                  gen: torch.Generator, device: torch.device) -> StepLosses:
    """``cfg.d_steps`` updates of D on fresh target samples, then one of G (all draws from
    ``gen``); WGAN-GP uses a penalty weight of 0.1 on this small plane."""
    opt_g, opt_d = opts
    bs = cfg.batch_size
    for _ in range(cfg.d_steps):
        real = sample_target(cfg.target, bs, gen).to(device)
        with torch.no_grad():
            fake = G(torch.randn(bs, cfg.latent_dim, generator=gen).to(device))
        loss_d, d_r, d_f = d_step(cfg, D, opt_d, real, fake, gp_weight=0.1)
    loss_g = g_step(cfg, G, D, opt_g, torch.randn(bs, cfg.latent_dim, generator=gen).to(device))
    return StepLosses(loss_d, loss_g, d_r, d_f)


def g_push(loss: str, D: nn.Module, points: torch.Tensor) -> np.ndarray:
    """``-dL_G/dx`` at generated ``points`` ``(N, 2)``: where G's loss pushes each one, scaled
    so that the longest arrow has length 1 (float32 ``(N, 2)``)."""
    x = points.detach().clone().requires_grad_(True)
    grad, = torch.autograd.grad(g_loss(loss, D(x)) * len(x), x)
    arrows = -grad.cpu().numpy()
    return (arrows / max(float(np.linalg.norm(arrows, axis=1).max()), 1e-12)).astype(np.float32)


def plane_snapshot(cfg: Gan2dConfig, G: nn.Module, D: nn.Module, z_vis: torch.Tensor,
                   z_eval: torch.Tensor, grid: torch.Tensor) -> tuple[dict[str, float], dict]:
    """The mode metrics of ``G(z_eval)`` and the plane artifacts of :func:`train_gan2d` but
    ``real``, ``trail``, ``modes`` and ``extent``."""
    with torch.no_grad():
        pts = G(z_eval).cpu().numpy()
        fake_vis = G(z_vis)
        d_map = score_to_prob(cfg.loss, D(grid)).reshape(GRID_RES, GRID_RES).cpu().numpy()
    mm = mode_metrics(pts, cfg.target)
    metrics = {"modes_covered": float(mm["modes_covered"]), "high_quality": mm["high_quality"]}
    art = {"fake": fake_vis.cpu().numpy(), "grad": g_push(cfg.loss, D, fake_vis),
           "d_map": d_map.astype(np.float32), "per_mode": mm["per_mode"]}
    return metrics, art


def train_gan2d(cfg: Gan2dConfig) -> Iterator[Snapshot]:
    """Train a GAN on a 2-D mixture of Gaussians live.

    Metrics: ``loss_d``, ``loss_g``, ``d_real``, ``d_fake`` (as in :func:`train_gan`),
    ``modes_covered`` (of 8 or 25) and ``high_quality`` (share in [0, 1]) on 2,000 samples
    (see :func:`mode_metrics`).

    Artifacts: ``real`` (512, 2) target points; ``fake`` (512, 2) G(z) for fixed z; ``trail``
    (T <= 8, 512, 2) their positions at the previous snapshots (oldest first); ``grad``
    (512, 2) the direction each fake point is pushed by G's loss, ``-dL_G/dx``, scaled to the
    largest arrow = 1; ``d_map`` (60, 60) sigmoid(D) over the plane (rows from the top, +y);
    ``per_mode`` (K,) high-quality counts per mode; ``modes`` (K, 2) centres; ``extent`` the
    half-width of the plane. ``model`` is a frozen ``ModuleDict(G=..., D=...)`` on the final
    snapshot.
    """
    device = start(cfg)
    progress = Progress(cfg.steps)  # a model copy on the final snapshot only
    gen = torch.Generator().manual_seed(cfg.seed)
    G = mlp(cfg.latent_dim, cfg.g_hidden, 2).to(device)
    D = mlp(2, cfg.d_hidden, 1, act=lambda: nn.LeakyReLU(0.2)).to(device)
    opts = None  # built after the first snapshot (the first Adam imports slowly)
    z_vis = torch.randn(N_VIS, cfg.latent_dim, generator=gen).to(device)
    z_eval = torch.randn(N_EVAL_2D, cfg.latent_dim, generator=gen).to(device)
    fixed = {"real": sample_target(cfg.target, N_VIS, gen).numpy(),
             "modes": target_modes(cfg.target)[0], "extent": extent(cfg.target)}
    grid = plane_grid(cfg.target, device)
    trail: list[np.ndarray] = []
    last: StepLosses | None = None
    for step in range(0, cfg.steps + 1):
        if step > 0:
            opts = opts or make_optimizers(cfg, G, D)
            last = train_step_2d(cfg, G, D, opts, gen, device)
        if not progress.due(step):
            continue
        metrics, art = plane_snapshot(cfg, G, D, z_vis, z_eval, grid)
        metrics = step_metrics(cfg.loss, last) | metrics
        art.update(fixed, trail=np.stack(trail) if trail else np.zeros((0, N_VIS, 2), np.float32))
        trail = (trail + [art["fake"]])[-TRAIL:]
        yield progress.snapshot(step, metrics, art, model=nn.ModuleDict({"G": G, "D": D}))


DEMOS = [
    Demo("gan2d", Gan2dConfig, train_gan2d, title="2-D GAN: mode-collapse lab",
         description="A GAN learns a ring of 8 or a grid of 25 Gaussians; modes covered."),
]
