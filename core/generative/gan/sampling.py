"""Images from latents: a generator's samples and the page's latent walks (lerp / slerp between
two latents, one coordinate swept).

Shapes: latents ``(D,)`` or ``(N, D)``; images ``(N, C, H, W)`` in [0, 1].
"""

from __future__ import annotations

import torch
from torch import nn

from core.blocks.images import lerp, slerp

__all__ = ["axis_walk", "generate", "interpolate", "latent_walk", "seed_latent"]


@torch.no_grad()
def generate(G: nn.Module, z: torch.Tensor) -> torch.Tensor:
    """Images in [0, 1] ``(N, C, H, W)`` from latents ``(N, D)`` with ``G`` (its current mode)."""
    p = next(G.parameters())
    return (G(z.to(p.device, p.dtype)).float().cpu() + 1) / 2


def latent_walk(G: nn.Module, z0: torch.Tensor, z1: torch.Tensor, n: int = 9,
                mode: str = "slerp") -> torch.Tensor:
    """Images along the walk from ``z0`` to ``z1`` (``(D,)`` each): ``(n, C, H, W)`` in [0, 1].

    Raises:
        ValueError: for a mode other than ``"lerp"`` or ``"slerp"``.
    """
    return generate(G, interpolate(z0, z1, torch.linspace(0, 1, n), mode))


def interpolate(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor | float,
                mode: str = "slerp") -> torch.Tensor:
    """Latents between ``z0`` and ``z1`` (``(D,)`` each) at ``t`` (scalar or ``(T,)``):
    :func:`core.blocks.images.slerp` or ``lerp``; ``(D,)`` or ``(T, D)``.

    Raises:
        ValueError: for a mode other than ``"lerp"`` or ``"slerp"``.
    """
    if mode not in ("lerp", "slerp"):
        raise ValueError(f"unknown interpolation {mode!r}; use lerp or slerp")
    return (lerp if mode == "lerp" else slerp)(z0.float(), z1.float(), t)


def seed_latent(seed: int, latent_dim: int) -> torch.Tensor:
    """The latent ``(latent_dim,)`` ~ N(0, I) drawn from a generator seeded with ``seed``."""
    return torch.randn(latent_dim, generator=torch.Generator().manual_seed(int(seed)))


def axis_walk(G: nn.Module, z: torch.Tensor, axis: int, values: torch.Tensor) -> torch.Tensor:
    """Images ``(len(values), C, H, W)`` from ``z`` ``(D,)`` with coordinate ``axis`` set to each
    of ``values`` (in standard deviations of the prior).

    Raises:
        ValueError: when ``axis`` is not in ``[0, D)``.
    """
    if not 0 <= axis < z.shape[-1]:
        raise ValueError(f"axis {axis} is out of range for a {z.shape[-1]}-d latent")
    zs = z.float().repeat(len(values), 1)
    zs[:, axis] = values.float()
    return generate(G, zs)
