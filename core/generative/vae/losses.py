"""The negative ELBO: the Bernoulli reconstruction term, the closed-form KL to N(0, I) and the
beta-VAE training loss (Kingma & Welling, ICLR 2014; Higgins et al., ICLR 2017), in nats per
image."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from core.generative.vae.model import VAE

__all__ = ["kl_std_normal", "recon_nll", "vae_loss"]


def recon_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Bernoulli negative log-likelihood ``-log p(x|z)`` summed over pixels, per image.

    Args:
        logits: decoder output ``(N, C, H, W)``.
        x: target intensities in [0, 1], same shape.

    Returns:
        ``(N,)`` nats per image.
    """
    return F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1).sum(1)


def kl_std_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``KL(N(mu, diag(exp(logvar))) || N(0, I))`` in closed form, per row: ``(N,)`` nats.

    ``0.5 * sum(mu^2 + exp(logvar) - 1 - logvar)`` (Kingma & Welling 2014, appendix B).
    """
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)


def vae_loss(model: VAE, x: torch.Tensor, beta: float = 1.0) -> tuple[torch.Tensor, dict]:
    """The beta-VAE training loss on a batch, averaged over images.

    Returns:
        ``(loss, parts)``: ``loss = mean(recon + beta * kl)`` (a scalar with gradients) and
        ``parts = {"recon", "kl", "neg_elbo"}``, detached scalar tensors in nats per image
        (beta = 1 for ``neg_elbo``; read them with ``float()`` or a
        :class:`core.protocol.RunningMean`, which avoids a device sync per step).
    """
    logits, mu, logvar = model(x)
    rec, kl = recon_nll(logits, x), kl_std_normal(mu, logvar)
    loss = (rec + beta * kl).mean()
    r, k = rec.detach().mean(), kl.detach().mean()
    return loss, {"recon": r, "kl": k, "neg_elbo": r + k}
