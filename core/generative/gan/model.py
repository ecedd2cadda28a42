"""The networks: the DCGAN generator and discriminator with their initialization, the MLPs of
the 2-D lab, and the exponential moving average of G's weights with its batch-norm statistics.

Shapes: ``z`` ``(N, latent_dim)``; images ``(N, C, S, S)`` in [-1, 1], S = 28 or 32; 2-D points
``(N, 2)``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

__all__ = ["Discriminator", "Generator", "dcgan_init", "ema_update", "mlp",
           "recalibrate_batch_norm"]


class Generator(nn.Module):
    """DCGAN generator: ``z (N, D) -> image (N, C, S, S)`` in [-1, 1], S = 28 or 32.

    28x28: ``ConvT(D, 2w, 7) -> 7x7 -> ConvT(2w, w, 4, 2, 1) -> 14x14 -> ConvT(w, C, 4, 2, 1)
    -> 28x28``; 32x32 adds a stage (4 -> 8 -> 16 -> 32, widths 4w, 2w, w), where ``w = ngf``.
    Batch norm + ReLU after each hidden layer, tanh at the output (Radford et al. 2016).
    """

    def __init__(self, latent_dim: int, ngf: int, channels: int = 1, size: int = 28) -> None:
        super().__init__()
        if size not in (28, 32):
            raise ValueError(f"image size must be 28 or 32, got {size}")
        self.latent_dim, self.channels, self.size = latent_dim, channels, size
        if size == 28:
            chans, k0 = [2 * ngf, ngf], 7
        else:
            chans, k0 = [4 * ngf, 2 * ngf, ngf], 4
        layers: list[nn.Module] = [nn.ConvTranspose2d(latent_dim, chans[0], k0, 1, 0, bias=False),
                                   nn.BatchNorm2d(chans[0]), nn.ReLU(True)]
        for a, b in zip(chans[:-1], chans[1:]):
            layers += [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b),
                       nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(chans[-1], channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z[:, :, None, None])


class Discriminator(nn.Module):
    """DCGAN discriminator: image ``(N, C, S, S)`` in [-1, 1] -> logit ``(N, 1)``.

    ``Conv(C, w, 4, 2, 1) -> LeakyReLU -> Conv(w, 2w, 4, 2, 1) -> BN -> LeakyReLU
    -> Conv(2w, 4w, k, 2, 1) -> BN -> LeakyReLU -> Conv(4w, 1, 4)``: feature maps 14 -> 7 -> 4
    (28x28, ``k = 3``, as in the 28x28 variant of the PyTorch-examples DCGAN) or 16 -> 8 -> 4
    (32x32, ``k = 4``), and the last kernel covers the remaining 4x4 map; ``w = ndf``. Three
    stages, as in the reference: a two-stage D is too weak a critic (``bench/results/gan.md``).
    ``batch_norm=False`` (for WGAN-GP) drops the batch norms.
    """

    def __init__(self, ndf: int, channels: int = 1, size: int = 28,
                 batch_norm: bool = True) -> None:
        super().__init__()
        chans = [ndf, 2 * ndf, 4 * ndf]
        kernels = [4, 3 if size == 28 else 4]  # 28: 7x7 -> 4x4 needs k=3, s=2, p=1
        layers: list[nn.Module] = [nn.Conv2d(channels, chans[0], 4, 2, 1, bias=False),
                                   nn.LeakyReLU(0.2, True)]
        for a, b, k in zip(chans[:-1], chans[1:], kernels):
            layers += [nn.Conv2d(a, b, k, 2, 1, bias=not batch_norm)]
            if batch_norm:
                layers.append(nn.BatchNorm2d(b))
            layers.append(nn.LeakyReLU(0.2, True))
        layers += [nn.Conv2d(chans[-1], 1, 4, 1, 0), nn.Flatten()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def dcgan_init(m: nn.Module) -> None:
    """DCGAN weight init: conv weights ~ N(0, 0.02), batch-norm scales ~ N(1, 0.02), biases 0."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def mlp(n_in: int, hidden: int, n_out: int, act: Callable[[], nn.Module] = nn.ReLU) -> nn.Sequential:
    """``Linear(n_in, hidden) -> act -> Linear(hidden, hidden) -> act -> Linear(hidden, n_out)``."""
    return nn.Sequential(nn.Linear(n_in, hidden), act(), nn.Linear(hidden, hidden), act(),
                         nn.Linear(hidden, n_out))


@torch.no_grad()
def ema_update(avg: nn.Module, model: nn.Module, decay: float) -> None:
    """``avg <- decay * avg + (1 - decay) * model`` for parameters; buffers are copied."""
    for pa, pm in zip(avg.parameters(), model.parameters()):
        pa.lerp_(pm, 1.0 - decay)
    for ba, bm in zip(avg.buffers(), model.buffers()):
        ba.copy_(bm)


@torch.no_grad()
def recalibrate_batch_norm(model: nn.Module, z: torch.Tensor) -> None:
    """Re-estimate the batch-norm running statistics of ``model`` for its *current* weights from
    one forward pass on ``z`` ``(N, latent_dim)`` (N of a few hundred); the mode is kept.

    Needed for an averaged generator: its weights are an average, but the running means and
    variances copied from the raw generator belong to other weights, and in eval mode that
    mismatch degrades samples (``bench/results/gan.md``). Cumulative averaging
    (``momentum=None``) over the single batch gives exactly that batch's statistics.
    """
    norms = [m for m in model.modules()
             if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d))]
    if not norms:
        return
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    was = model.training
    model.train()
    p = next(model.parameters())
    model(z.to(p.device, p.dtype))
    model.train(was)
    for m, mom in zip(norms, momenta):
        m.momentum = mom
