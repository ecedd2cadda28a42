"""Held-out evaluation: the VAE's -ELBO (with its parts), the AE's reconstruction error, and the
share of decoded samples a classifier is sure of."""

from __future__ import annotations

import torch

from core.generative.vae.losses import kl_std_normal, recon_nll
from core.generative.vae.model import AE, VAE
from core.protocol import eval_mode

__all__ = ["confident_share_or_none", "evaluate_ae", "evaluate_vae"]


def evaluate_vae(model: VAE, x: torch.Tensor, batch: int = 500,
                 return_codes: bool = False, seed: int = 0
                 ) -> dict[str, float] | tuple[dict, torch.Tensor]:
    """Held-out ``neg_elbo``, ``recon`` and ``kl`` in nats per image (one z sample per image).

    ``neg_elbo = recon + kl`` is the negative evidence lower bound, an upper bound on
    ``-log p(x)``; the single-sample estimate is unbiased for it. With ``return_codes`` also
    returns the posterior means ``mu`` ``(N, latent_dim)``. The z samples come from a forked
    random state seeded with ``seed``: an evaluation leaves training's random stream as it was.
    """
    rec = kl = 0.0
    mus = []
    with torch.random.fork_rng(devices=[x.device] if x.is_cuda else []), eval_mode(model):
        torch.manual_seed(seed)
        for i in range(0, len(x), batch):
            xb = x[i:i + batch]
            logits, mu, logvar = model(xb)
            rec += recon_nll(logits, xb).sum().item()
            kl += kl_std_normal(mu, logvar).sum().item()
            mus.append(mu)
    n = max(1, len(x))
    out = {"neg_elbo": (rec + kl) / n, "recon": rec / n, "kl": kl / n}
    return (out, torch.cat(mus)) if return_codes else out


def evaluate_ae(model: AE, x: torch.Tensor, batch: int = 500,
                return_codes: bool = False) -> float | tuple[float, torch.Tensor]:
    """Held-out reconstruction error of the autoencoder: Bernoulli NLL in nats per image.

    With ``return_codes`` also returns the codes ``z`` ``(N, latent_dim)``.
    """
    rec = 0.0
    codes = []
    with eval_mode(model):
        for i in range(0, len(x), batch):
            xb = x[i:i + batch]
            z = model.encode(xb)
            rec += recon_nll(model.decode(z), xb).sum().item()
            codes.append(z)
    rec /= max(1, len(x))
    return (rec, torch.cat(codes)) if return_codes else rec


def confident_share_or_none(images: torch.Tensor, dataset: str = "mnist") -> float | None:
    """The share of samples with max p > 0.9 under ``dataset``'s shipped classifier
    (:mod:`core.blocks.image_metrics`: MNIST or Fashion-MNIST), or None for images that are not
    1x28x28, a set without a classifier, or missing weights."""
    if images.shape[1:] != (1, 28, 28):
        return None
    try:
        from core.blocks.image_metrics import confident_share
        return float(confident_share(images.detach().cpu(), dataset=dataset))
    except (ImportError, FileNotFoundError, ValueError):
        return None
