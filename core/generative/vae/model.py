"""The networks: a Gaussian-encoder, Bernoulli-decoder :class:`VAE` and the plain :class:`AE`
with the same encoder and decoder (convolutional, or an MLP 784-400-z as in the PyTorch examples'
VAE), and the decoded images ``sigmoid(logits)``.

Shapes: images ``(N, C, H, W)`` in [0, 1]; codes ``z`` ``(N, latent_dim)``; decoder logits
``(N, C, H, W)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["AE", "ARCHITECTURES", "HIDDEN_FC", "POSTERIOR_STDS", "VAE", "ConvDecoder", "ConvEncoder",
           "MlpDecoder", "MlpEncoder", "decode_images", "posterior_logvar"]

ARCHITECTURES = ("conv", "mlp")
POSTERIOR_STDS = ("exp", "softplus")  # sigma = exp(logvar / 2), or sigma = softplus(output)
HIDDEN_FC = 256                       # units of the conv nets' fully connected hidden layer
MIN_STD = 1e-6                        # added to the softplus std so its log stays finite


def _fc(n_in: int, n_out: int, hidden: int) -> list[nn.Module]:
    """``Linear(n_in, n_out)``, or ``Linear(n_in, hidden) -> ReLU -> Linear(hidden, n_out)``."""
    if not hidden:
        return [nn.Linear(n_in, n_out)]
    return [nn.Linear(n_in, hidden), nn.ReLU(), nn.Linear(hidden, n_out)]


class ConvEncoder(nn.Module):
    """``(N, C, S, S) -> (N, out_dim)``: two stride-2 4x4 convs (``channels``, ``2 channels``),
    then ``hidden`` ReLUs (none for ``hidden=0``) and a linear output. ``S`` must be divisible by
    4 (28 for MNIST, 32 for CIFAR).

    Raises:
        ValueError: for image sides not divisible by 4.
    """

    def __init__(self, shape: tuple[int, int, int], out_dim: int, channels: int = 16,
                 hidden: int = HIDDEN_FC) -> None:
        super().__init__()
        c, h, w = shape
        if h % 4 or w % 4:
            raise ValueError(f"the convolutional nets need image sides divisible by 4, got {h}x{w}")
        k = channels
        self.net = nn.Sequential(
            nn.Conv2d(c, k, 4, 2, 1), nn.ReLU(),                    # (N, k, S/2, S/2)
            nn.Conv2d(k, 2 * k, 4, 2, 1), nn.ReLU(),                # (N, 2k, S/4, S/4)
            nn.Flatten(), *_fc(2 * k * (h // 4) * (w // 4), out_dim, hidden))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ConvDecoder(nn.Module):
    """``(N, latent_dim) -> (N, C, S, S)`` logits: ``hidden`` units (none for ``hidden=0``), then
    two stride-2 transposed convs."""

    def __init__(self, shape: tuple[int, int, int], latent_dim: int, channels: int = 16,
                 hidden: int = HIDDEN_FC) -> None:
        super().__init__()
        c, h, w = shape
        k = channels
        self.net = nn.Sequential(
            *_fc(latent_dim, 2 * k * (h // 4) * (w // 4), hidden), nn.ReLU(),
            nn.Unflatten(1, (2 * k, h // 4, w // 4)),
            nn.ConvTranspose2d(2 * k, k, 4, 2, 1), nn.ReLU(),          # (N, k, S/2, S/2)
            nn.ConvTranspose2d(k, c, 4, 2, 1))                         # (N, C, S, S) logits

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class MlpEncoder(nn.Module):
    """``(N, C, H, W) -> (N, out_dim)`` through one hidden layer of 400 ReLUs (the reference)."""

    def __init__(self, shape: tuple[int, int, int], out_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(math.prod(shape), 400), nn.ReLU(),
                                 nn.Linear(400, out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class MlpDecoder(nn.Module):
    """``(N, latent_dim) -> (N, C, H, W)`` logits through one hidden layer of 400 ReLUs."""

    def __init__(self, shape: tuple[int, int, int], latent_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(latent_dim, 400), nn.ReLU(),
                                 nn.Linear(400, math.prod(shape)), nn.Unflatten(1, shape))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


def _nets(architecture: str, shape: tuple[int, int, int], enc_out: int, latent_dim: int,
          channels: int, hidden: int) -> tuple[nn.Module, nn.Module]:
    if architecture == "conv":
        return (ConvEncoder(shape, enc_out, channels, hidden),
                ConvDecoder(shape, latent_dim, channels, hidden))
    if architecture == "mlp":
        return MlpEncoder(shape, enc_out), MlpDecoder(shape, latent_dim)
    raise ValueError(f"unknown architecture {architecture!r}; allowed: {', '.join(ARCHITECTURES)}")


def posterior_logvar(h: torch.Tensor, posterior_std: str = "exp") -> torch.Tensor:
    """The log-variance of ``q(z|x)`` from the encoder's second half ``h`` ``(N, latent_dim)``.

    ``"exp"``: ``h`` is the log-variance, ``sigma = exp(h / 2)`` (Kingma & Welling 2014).
    ``"softplus"``: ``sigma = softplus(h) + 1e-6``, which grows linearly instead of exponentially
    in ``h``, so a large step cannot blow the noise up (as the latent states of PlaNet and
    Dreamer, Hafner et al. 2019); returned as ``2 log sigma``.

    Raises:
        ValueError: for another ``posterior_std``.
    """
    if posterior_std == "exp":
        return h
    if posterior_std == "softplus":
        return 2.0 * torch.log(F.softplus(h) + MIN_STD)
    raise ValueError(f"unknown posterior_std {posterior_std!r}; allowed: "
                     f"{', '.join(POSTERIOR_STDS)}")


class VAE(nn.Module):
    """Gaussian encoder ``q(z|x) = N(mu, diag(sigma^2))`` and Bernoulli decoder ``p(x|z)``.

    Args:
        shape: image shape ``(C, H, W)``.
        latent_dim: size of ``z``.
        architecture: ``"conv"`` or ``"mlp"``.
        channels: channels of the first conv layer (conv only).
        hidden: units of the fully connected hidden layer between the convs and ``z`` (conv
            only; 0 = the convs connect to ``z`` directly).
        posterior_std: how ``sigma`` comes from the encoder (:func:`posterior_logvar`).

    Raises:
        ValueError: for an unknown architecture or posterior_std, or conv image sides not
            divisible by 4.
    """

    def __init__(self, shape: tuple[int, int, int], latent_dim: int,
                 architecture: str = "conv", channels: int = 16, hidden: int = HIDDEN_FC,
                 posterior_std: str = "exp") -> None:
        super().__init__()
        posterior_logvar(torch.zeros(1), posterior_std)  # an unknown choice fails here
        self.shape, self.latent_dim, self.posterior_std = tuple(shape), latent_dim, posterior_std
        self.encoder, self.decoder = _nets(architecture, shape, 2 * latent_dim, latent_dim,
                                           channels, hidden)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images ``(N, C, H, W)`` -> ``(mu, logvar)``, each ``(N, latent_dim)``."""
        mu, h = self.encoder(x).chunk(2, dim=1)
        return mu, posterior_logvar(h, self.posterior_std)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Codes ``(N, latent_dim)`` -> Bernoulli logits ``(N, C, H, W)``."""
        return self.decoder(z)

    @staticmethod
    def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """``z = mu + exp(logvar / 2) * eps`` with ``eps ~ N(0, I)`` (same shape as ``mu``)."""
        return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``x (N, C, H, W)`` -> ``(logits (N, C, H, W), mu, logvar)`` with one sample of z."""
        mu, logvar = self.encode(x)
        return self.decode(self.reparameterize(mu, logvar)), mu, logvar


class AE(nn.Module):
    """Deterministic autoencoder: ``z = encoder(x)``, Bernoulli logits ``decoder(z)`` (arguments as
    :class:`VAE`)."""

    def __init__(self, shape: tuple[int, int, int], latent_dim: int,
                 architecture: str = "conv", channels: int = 16,
                 hidden: int = HIDDEN_FC) -> None:
        super().__init__()
        self.shape, self.latent_dim = tuple(shape), latent_dim
        self.encoder, self.decoder = _nets(architecture, shape, latent_dim, latent_dim, channels,
                                           hidden)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Images ``(N, C, H, W)`` -> codes ``(N, latent_dim)``."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Codes ``(N, latent_dim)`` -> Bernoulli logits ``(N, C, H, W)``."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


@torch.no_grad()
def decode_images(model: VAE | AE, z: torch.Tensor) -> torch.Tensor:
    """Images ``(N, C, H, W)`` in [0, 1] from codes ``z`` ``(N, latent_dim)``: the Bernoulli means
    ``sigmoid(decoder logits)``, without gradients (``model`` in its current mode)."""
    return torch.sigmoid(model.decode(z))
