"""The networks: a Gaussian-encoder, Bernoulli-decoder :class:`VAE` and the plain :class:`AE`
with the same encoder and decoder (convolutional, or an MLP 784-400-z as in the PyTorch examples'
VAE), and the decoded images ``sigmoid(logits)``.

Shapes: images ``(N, C, H, W)`` in [0, 1]; codes ``z`` ``(N, latent_dim)``; decoder logits
``(N, C, H, W)``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["AE", "ARCHITECTURES", "VAE", "ConvDecoder", "ConvEncoder", "MlpDecoder", "MlpEncoder",
           "decode_images"]

ARCHITECTURES = ("conv", "mlp")


class ConvEncoder(nn.Module):
    """``(N, C, S, S) -> (N, out_dim)``: two stride-2 4x4 convs (``channels``, ``2 channels``),
    then 256 ReLUs and a linear output. ``S`` must be divisible by 4 (28 for MNIST, 32 for CIFAR).

    Raises:
        ValueError: for image sides not divisible by 4.
    """

    def __init__(self, shape: tuple[int, int, int], out_dim: int, channels: int = 16) -> None:
        super().__init__()
        c, h, w = shape
        if h % 4 or w % 4:
            raise ValueError(f"the convolutional nets need image sides divisible by 4, got {h}x{w}")
        k = channels
        self.net = nn.Sequential(
            nn.Conv2d(c, k, 4, 2, 1), nn.ReLU(),                    # (N, k, S/2, S/2)
            nn.Conv2d(k, 2 * k, 4, 2, 1), nn.ReLU(),                # (N, 2k, S/4, S/4)
            nn.Flatten(), nn.Linear(2 * k * (h // 4) * (w // 4), 256), nn.ReLU(),
            nn.Linear(256, out_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ConvDecoder(nn.Module):
    """``(N, latent_dim) -> (N, C, S, S)`` logits: 256 units, then two stride-2 transposed convs."""

    def __init__(self, shape: tuple[int, int, int], latent_dim: int, channels: int = 16) -> None:
        super().__init__()
        c, h, w = shape
        k = channels
        self.net = nn.Sequential(
            nn.Linear(latent_dim, 256), nn.ReLU(),
            nn.Linear(256, 2 * k * (h // 4) * (w // 4)), nn.ReLU(),
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


def _nets(architecture: str, shape: tuple[int, int, int], enc_out: int,
          latent_dim: int, channels: int) -> tuple[nn.Module, nn.Module]:
    if architecture == "conv":
        return ConvEncoder(shape, enc_out, channels), ConvDecoder(shape, latent_dim, channels)
    if architecture == "mlp":
        return MlpEncoder(shape, enc_out), MlpDecoder(shape, latent_dim)
    raise ValueError(f"unknown architecture {architecture!r}; allowed: {', '.join(ARCHITECTURES)}")


class VAE(nn.Module):
    """Gaussian encoder ``q(z|x) = N(mu, diag(exp(logvar)))`` and Bernoulli decoder ``p(x|z)``.

    Args:
        shape: image shape ``(C, H, W)``.
        latent_dim: size of ``z``.
        architecture: ``"conv"`` or ``"mlp"``.
        channels: channels of the first conv layer (conv only).

    Raises:
        ValueError: for an unknown architecture or conv image sides not divisible by 4.
    """

    def __init__(self, shape: tuple[int, int, int], latent_dim: int,
                 architecture: str = "conv", channels: int = 16) -> None:
        super().__init__()
        self.shape, self.latent_dim = tuple(shape), latent_dim
        self.encoder, self.decoder = _nets(architecture, shape, 2 * latent_dim, latent_dim,
                                           channels)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Images ``(N, C, H, W)`` -> ``(mu, logvar)``, each ``(N, latent_dim)``."""
        mu, logvar = self.encoder(x).chunk(2, dim=1)
        return mu, logvar

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
                 architecture: str = "conv", channels: int = 16) -> None:
        super().__init__()
        self.shape, self.latent_dim = tuple(shape), latent_dim
        self.encoder, self.decoder = _nets(architecture, shape, latent_dim, latent_dim, channels)

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
