"""The adversarial losses, the WGAN-GP penalty and DiffAugment (what D sees).

Each loss takes D's logits ``d`` ``(N, 1)``; see the package docstring for the formulas of
``minimax`` and ``nonsaturating`` (Goodfellow et al. 2014), ``hinge`` (Lim & Ye 2017) and
``wgan-gp`` (Gulrajani et al. 2017).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["LOSSES", "d_loss", "diff_augment", "g_loss", "gradient_penalty", "score_to_prob"]

LOSSES = ("minimax", "nonsaturating", "hinge", "wgan-gp")


def d_loss(loss: str, d_real: torch.Tensor, d_fake: torch.Tensor,
           label_smoothing: float = 0.0) -> torch.Tensor:
    """The discriminator's loss (without the WGAN-GP penalty) for logits ``(N, 1)``.

    Args:
        loss: one of :data:`LOSSES`.
        d_real: ``D(x)`` on real data, logits ``(N, 1)``.
        d_fake: ``D(G(z))``, logits ``(M, 1)``.
        label_smoothing: one-sided smoothing: real targets are ``1 - label_smoothing``
            (cross-entropy losses only).

    Returns:
        a scalar tensor (nats for the cross-entropy losses).

    Raises:
        ValueError: for an unknown loss.
    """
    if loss in ("minimax", "nonsaturating"):
        real_t = torch.full_like(d_real, 1.0 - label_smoothing)
        return (F.binary_cross_entropy_with_logits(d_real, real_t)
                + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
    if loss == "hinge":
        return F.relu(1.0 - d_real).mean() + F.relu(1.0 + d_fake).mean()
    if loss == "wgan-gp":
        return d_fake.mean() - d_real.mean()
    raise ValueError(f"unknown loss {loss!r}; allowed: {', '.join(LOSSES)}")


def g_loss(loss: str, d_fake: torch.Tensor) -> torch.Tensor:
    """The generator's loss for ``D(G(z))`` logits ``(N, 1)`` (see the module docstring).

    Raises:
        ValueError: for an unknown loss.
    """
    if loss == "minimax":
        return -F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake))
    if loss == "nonsaturating":
        return F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))
    if loss in ("hinge", "wgan-gp"):
        return -d_fake.mean()
    raise ValueError(f"unknown loss {loss!r}; allowed: {', '.join(LOSSES)}")


def diff_augment(x: torch.Tensor, shift: float = 0.125, cutout: float = 0.5) -> torch.Tensor:
    """Differentiable augmentation of images ``(N, C, H, W)`` (Zhao et al., "Differentiable
    Augmentation for Data-Efficient GAN Training", NeurIPS 2020): a random translation by up to
    ``shift`` of the image size (zeros enter at the border), then one zeroed square of side
    ``cutout`` of the image size at a random place, both per sample. Gradients flow to ``x``, so
    G learns through the same augmentation D sees.
    """
    n, _, h, w = x.shape
    dev = x.device
    # translation: an integer shift per sample through a one-hot sampling grid
    tx = torch.randint(-int(w * shift), int(w * shift) + 1, (n, 1, 1), device=dev)
    ty = torch.randint(-int(h * shift), int(h * shift) + 1, (n, 1, 1), device=dev)
    gy, gx = torch.meshgrid(torch.arange(h, device=dev), torch.arange(w, device=dev),
                            indexing="ij")
    src_x, src_y = gx[None] - tx, gy[None] - ty  # (N, H, W) source pixel of each output pixel
    inside = ((src_x >= 0) & (src_x < w) & (src_y >= 0) & (src_y < h)).to(x.dtype)
    flat = (src_y.clamp(0, h - 1) * w + src_x.clamp(0, w - 1)).view(n, 1, h * w)
    x = x.flatten(2).gather(2, flat.expand(-1, x.shape[1], -1)).view_as(x) * inside[:, None]
    # cutout: zero one square per sample (in [-1, 1] images zero is mid-grey, as in the paper)
    ch, cw = int(h * cutout + 0.5), int(w * cutout + 0.5)
    top = torch.randint(0, h - ch + 1, (n, 1, 1), device=dev)
    left = torch.randint(0, w - cw + 1, (n, 1, 1), device=dev)
    cut = ((gy[None] >= top) & (gy[None] < top + ch) & (gx[None] >= left)
           & (gx[None] < left + cw))
    return x * (~cut)[:, None].to(x.dtype)


def gradient_penalty(D: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """WGAN-GP penalty ``E[(||grad_x D(x_hat)||_2 - 1)^2]`` at random interpolates (scalar).

    ``x_hat = eps * real + (1 - eps) * fake`` with ``eps ~ U(0, 1)`` per sample (Gulrajani et al.
    2017, Algorithm 1). ``real`` and ``fake`` have the same shape ``(N, ...)``.
    """
    eps = torch.rand((real.shape[0],) + (1,) * (real.ndim - 1), device=real.device)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    grad, = torch.autograd.grad(D(x_hat).sum(), x_hat, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1.0).pow(2).mean()


def score_to_prob(loss: str, d: torch.Tensor) -> torch.Tensor:
    """What the page calls "D's belief that x is real": sigmoid of the logit for the
    cross-entropy losses; for hinge / WGAN-GP critics (unbounded scores) also a sigmoid, which
    keeps the sign (score > 0 means "real") and squashes the scale."""
    return torch.sigmoid(d)
