"""What the page draws of one model: reconstructions, decoded samples, the latent scatter (PCA
past two dimensions), a straight-line interpolation and, for a 2-D latent, the decoded manifold
at the prior's quantiles (Kingma & Welling 2014, figure 4)."""

from __future__ import annotations

import numpy as np
import torch

from core.blocks.images import image_grid, lerp
from core.blocks.projection import pca_2d
from core.generative.vae.evaluation import confident_share_or_none
from core.generative.vae.model import AE, VAE, decode_images
from core.protocol import eval_mode

__all__ = ["INTERP_STEPS", "MANIFOLD_N", "N_SCATTER", "model_artifacts", "prior_quantile_grid"]

N_SCATTER = 1000        # held-out images in the latent scatter
MANIFOLD_N = 15         # the 2-D latent grid is MANIFOLD_N x MANIFOLD_N decoded images
INTERP_STEPS = 10


def prior_quantile_grid(n: int = MANIFOLD_N) -> torch.Tensor:
    """``(n*n, 2)`` codes at the prior's quantiles ``Phi^-1(linspace(0.05, 0.95, n))``.

    Row-major with z2 decreasing down the rows and z1 increasing along them (Kingma & Welling
    2014, figure 4).
    """
    q = torch.distributions.Normal(0.0, 1.0).icdf(torch.linspace(0.05, 0.95, n))
    z2, z1 = torch.meshgrid(q.flip(0), q, indexing="ij")
    return torch.stack([z1.reshape(-1), z2.reshape(-1)], 1)


@torch.no_grad()
def model_artifacts(name: str, m: VAE | AE, codes: torch.Tensor, x_pairs: torch.Tensor,
                    y: torch.Tensor, z_fixed: torch.Tensor,
                    judge: str | None) -> tuple[dict, dict, torch.Tensor]:
    """One model's pictures (see :func:`train`), its sample-quality metrics (``judge``: the
    dataset whose classifier judges the samples, or None) and its reconstructions of
    ``x_pairs``. ``codes`` are the held-out codes (posterior means for the VAE)."""
    art: dict = {}
    metrics: dict[str, float] = {}
    with eval_mode(m):
        z_pairs = m.encode(x_pairs)
        z_pairs = z_pairs[0] if isinstance(z_pairs, tuple) else z_pairs  # VAE: the posterior mean
        rec = decode_images(m, z_pairs)
        samples = decode_images(m, z_fixed)
        art[f"{name}_samples"] = image_grid(samples, ncol=8)
        share = confident_share_or_none(samples, judge) if judge else None
        if share is not None:
            metrics[f"{name}_confident_share"] = share
        zc = codes[:N_SCATTER].cpu().double().numpy()
        (proj, prior), _ = pca_2d(zc, z_fixed.cpu().double().numpy())
        art[f"{name}_latent"] = {"z": proj.astype(np.float32), "prior": prior.astype(np.float32),
                                 "y": y[:N_SCATTER].cpu().numpy(), "pca": zc.shape[1] > 2}
        t = torch.linspace(0, 1, INTERP_STEPS, device=z_pairs.device)
        art[f"{name}_interp"] = image_grid(decode_images(m, lerp(z_pairs[0], z_pairs[1], t)),
                                           ncol=INTERP_STEPS)
        if m.latent_dim == 2:
            grid_z = prior_quantile_grid().to(z_pairs.device)
            art[f"{name}_manifold"] = image_grid(decode_images(m, grid_z), ncol=MANIFOLD_N, pad=0)
    return art, metrics, rec
