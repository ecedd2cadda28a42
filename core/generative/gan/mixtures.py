"""The 2-D lab's targets: a ring of 8 or a 5x5 grid of 25 Gaussians (Metz et al. 2017), and the
Unrolled-GAN / VEEGAN mode metrics of generated points (Srivastava et al. 2017).

Shapes: points ``(N, 2)``; mode centres ``(K, 2)``.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["MIN_SHARE", "N_VIS", "TARGETS", "extent", "mode_metrics", "sample_target",
           "target_modes", "target_preview"]

TARGETS = ("ring8", "grid25")
N_VIS = 512  # generated points drawn on the page (fixed z)
MIN_SHARE = 0.2  # a mode is covered with this share of its fair share of high-quality points


def target_modes(target: str) -> tuple[np.ndarray, float]:
    """The mode centres ``(K, 2)`` and the standard deviation of each Gaussian.

    ``ring8``: 8 modes on a circle of radius 2, sigma 0.05; ``grid25``: a 5x5 grid with spacing 2
    over [-4, 4]^2, sigma 0.05 (Metz et al. 2017; Srivastava et al. 2017).

    Raises:
        ValueError: for an unknown target.
    """
    if target == "ring8":
        a = 2 * np.pi * np.arange(8) / 8
        return np.stack([2 * np.cos(a), 2 * np.sin(a)], 1).astype(np.float32), 0.05
    if target == "grid25":
        g = np.arange(-4, 5, 2, dtype=np.float32)
        xx, yy = np.meshgrid(g, g)
        return np.stack([xx.ravel(), yy.ravel()], 1), 0.05
    raise ValueError(f"unknown target {target!r}; allowed: {', '.join(TARGETS)}")


def sample_target(target: str, n: int, gen: torch.Generator) -> torch.Tensor:
    """``n`` points ``(n, 2)`` from the uniform mixture of the target's Gaussians."""
    modes, sigma = target_modes(target)
    k = torch.randint(0, len(modes), (n,), generator=gen)
    return torch.from_numpy(modes)[k] + sigma * torch.randn(n, 2, generator=gen)


def mode_metrics(points: np.ndarray, target: str, min_share: float = MIN_SHARE) -> dict:
    """Unrolled-GAN / VEEGAN sample quality of generated points ``(N, 2)``.

    A sample is *high quality* when it lies within 3 sigma of its nearest mode; a mode is
    *covered* when it holds at least ``min_share`` of its fair share ``N / K`` of the
    high-quality samples (so a few stray points do not count as covering it).

    Returns:
        ``{"modes_covered": int, "high_quality": float in [0, 1], "per_mode": (K,) int counts
        of high-quality samples per mode, "n_modes": K}``.
    """
    modes, sigma = target_modes(target)
    pts = np.asarray(points, dtype=np.float64)
    dist = np.linalg.norm(pts[:, None, :] - modes[None].astype(np.float64), axis=2)
    nearest = dist.argmin(1)
    good = dist[np.arange(len(pts)), nearest] <= 3 * sigma
    per_mode = np.bincount(nearest[good], minlength=len(modes))
    need = max(1.0, min_share * len(pts) / len(modes))
    return {"modes_covered": int((per_mode >= need).sum()), "high_quality": float(good.mean()),
            "per_mode": per_mode, "n_modes": len(modes)}


def target_preview(target: str, n: int = N_VIS) -> np.ndarray:
    """``n`` target points ``(n, 2)`` drawn with seed 0 (what the page shows before a run)."""
    return sample_target(target, n, torch.Generator().manual_seed(0)).numpy()


def extent(target: str) -> float:
    """Half-width of the square the page draws for a target."""
    return 3.0 if target == "ring8" else 6.0
