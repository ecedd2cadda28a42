"""One adversarial update, shared by both demos: Adam for G and D, a D step (with the WGAN-GP
penalty), a G step, and the metrics of the last step."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

import torch
from torch import nn

from core.generative.gan.losses import d_loss, g_loss, gradient_penalty, score_to_prob

__all__ = ["StepLosses", "d_step", "g_step", "identity", "make_optimizers", "step_metrics"]

if TYPE_CHECKING:
    from core.generative.gan.dcgan import GanConfig
    from core.generative.gan.gan2d import Gan2dConfig


def make_optimizers(cfg: GanConfig | Gan2dConfig, G: nn.Module,
                    D: nn.Module) -> tuple[torch.optim.Adam, torch.optim.Adam]:
    """Adam for G and D with their own learning rates and ``betas = (beta1, 0.999)``
    (``(beta1, 0.9)`` for WGAN-GP, as in Gulrajani et al. 2017)."""
    betas = (cfg.beta1, 0.999) if cfg.loss != "wgan-gp" else (cfg.beta1, 0.9)
    return (torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=betas),
            torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=betas))


def identity(x: torch.Tensor) -> torch.Tensor:
    return x


class StepLosses(NamedTuple):
    """One training step's losses (scalars) and D's last outputs on real and fake data (logits)."""

    loss_d: torch.Tensor
    loss_g: torch.Tensor
    d_real: torch.Tensor
    d_fake: torch.Tensor


def d_step(cfg: GanConfig | Gan2dConfig, D: nn.Module, opt_d: torch.optim.Optimizer,
           real: torch.Tensor, fake: torch.Tensor, aug: Callable = identity,
           gp_weight: float = 10.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One update of D on ``real`` and (detached) ``fake`` batches, both seen through ``aug``;
    WGAN-GP adds ``gp_weight`` times :func:`gradient_penalty`. Returns ``(loss_d, D(real),
    D(fake))``, detached."""
    d_r, d_f = D(aug(real)), D(aug(fake))
    loss_d = d_loss(cfg.loss, d_r, d_f, cfg.label_smoothing)
    if cfg.loss == "wgan-gp":
        loss_d = loss_d + gp_weight * gradient_penalty(D, real, fake)
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()
    return loss_d.detach(), d_r.detach(), d_f.detach()


def g_step(cfg: GanConfig | Gan2dConfig, G: nn.Module, D: nn.Module,
           opt_g: torch.optim.Optimizer, z: torch.Tensor, aug: Callable = identity) -> torch.Tensor:
    """One update of G on latents ``z`` ``(N, latent_dim)``; returns ``loss_g``, detached."""
    loss_g = g_loss(cfg.loss, D(aug(G(z))))
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    opt_g.step()
    return loss_g.detach()


def step_metrics(loss: str, s: StepLosses | None) -> dict[str, float]:
    """``loss_d``, ``loss_g`` and the mean :func:`score_to_prob` of D on real (``d_real``) and
    fake (``d_fake``) data, from the last step (``{}`` before the first)."""
    if s is None:
        return {}
    return {"loss_d": s.loss_d.item(), "loss_g": s.loss_g.item(),
            "d_real": score_to_prob(loss, s.d_real).mean().item(),
            "d_fake": score_to_prob(loss, s.d_fake).mean().item()}
