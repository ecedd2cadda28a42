"""GANs trained live: a DCGAN on 28x28 (or 32x32x3) images and a 2-D mode-collapse lab.

The DCGAN also trains on your own images (``dataset="upload"``): a zip of PNG/JPEG files in any
folders, unlabelled, stored by :mod:`core.data.uploads` and named by the config's ``upload``
field; they are resized to 32x32 colour (like CIFAR-10) and all of them train the GAN.

Two demos:

* ``gan`` — a DCGAN (Radford, Metz & Chintala, "Unsupervised Representation Learning with Deep
  Convolutional Generative Adversarial Networks", ICLR 2016): a transposed-convolution generator
  ``G(z)`` with batch norm after every layer but the last (tanh output), and a strided-conv
  discriminator ``D(x)`` with LeakyReLU(0.2) and batch norm after every layer but the first and
  the last. Images are scaled to [-1, 1] for training and back to [0, 1] for display.
* ``gan2d`` — the same game on 2-D points drawn from a ring of 8 Gaussians or a 5x5 grid of 25,
  with MLPs for G and D (the toy problem of Metz et al., "Unrolled Generative Adversarial
  Networks", ICLR 2017). The page shows real vs generated points, D's decision surface and how the
  generated points move; the metric counts *modes covered* and the share of *high-quality*
  samples (within 3 standard deviations of the nearest mode), as in Unrolled GAN and
  Srivastava et al., "VEEGAN", NeurIPS 2017.

Losses (``D`` outputs a logit ``d``; ``sigma`` is the logistic sigmoid):

* ``minimax`` (Goodfellow et al. 2014): ``L_D = -log sigma(d_real) - log(1 - sigma(d_fake))``,
  ``L_G = log(1 - sigma(d_fake))`` (saturates when D wins: G's gradient vanishes).
* ``nonsaturating`` (same paper): same ``L_D``, ``L_G = -log sigma(d_fake)``.
* ``hinge`` (Lim & Ye 2017; Miyato et al. 2018): ``L_D = relu(1 - d_real) + relu(1 + d_fake)``,
  ``L_G = -d_fake``.
* ``wgan-gp`` (Gulrajani et al., "Improved Training of Wasserstein GANs", 2017):
  ``L_D = d_fake - d_real + 10 (||grad_x D(x_hat)|| - 1)^2`` on random interpolates ``x_hat``,
  ``L_G = -d_fake``; the critic then has no batch norm (the paper's advice).

One-sided label smoothing (Salimans et al., "Improved Techniques for Training GANs", 2016)
replaces the real target 1 by ``1 - label_smoothing`` in the two cross-entropy losses.
The sample grid and the quality metric use an exponential moving average of G's weights when
``ema > 0`` (Yazıcı et al., "The Unusual Effectiveness of Averaging in GAN Training", ICLR 2019),
with the decay warmed up as ``min(ema, (1 + t) / (10 + t))`` so early samples are not stale.

Shapes: ``z`` is ``(N, latent_dim)`` ~ N(0, I); images ``(N, C, H, W)``; 2-D points ``(N, 2)``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from core.blocks import image_metrics
from core.blocks.images import image_grid, lerp, slerp
from core.data import ImageData, load_images
from core.data.uploads import UPLOAD_NAME, UploadError, load_upload
from core.diagnostics import watch
from core.protocol import (
    CopyCadence,
    Demo,
    EvalBudget,
    RunOptions,
    Snapshot,
    Ticker,
    eval_mode,
    param,
    start,
)

LOSSES = ("minimax", "nonsaturating", "hinge", "wgan-gp")
DATASETS = ("mnist", "fashion_mnist", "cifar10", "mnist_full", "upload")
UPLOAD_SIZE = 32  # your own images are resized to 32x32 colour (the 32x32x3 DCGAN of CIFAR-10)
MIN_UPLOAD = 10  # images a GAN needs at least
N_FIXED = 64  # the fixed latent vectors of the sample grid (8 x 8)
N_FID = 500  # generated images per classifier-FID
N_BN = 256  # latents that re-estimate the averaged generator's batch-norm statistics
FID_SHARE, FID_EVERY_S = 0.1, 4.0  # the FID takes at most 10% of the time, at most every 4 s


# ============================================================================== losses


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


# ============================================================================== latent walks


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


# ============================================================================== DCGAN


@dataclass(frozen=True)
class GanConfig(RunOptions):
    """Every setting of one DCGAN run."""

    RETIRED_KEYS: ClassVar[tuple[str, ...]] = ("fid_every_s",)  # FID cadence: FID_SHARE

    dataset: str = param("mnist", choices=DATASETS, help="mnist = the bundled 4,000 training "
                         "digits; the others load through the data layer when available; "
                         "upload: your own zip of images (any folders, no labels)")
    upload: str = param("", help="id of the uploaded images (dataset=upload; set by the page "
                        "after an upload, never read from a link)")
    latent_dim: int = param(64, lo=2, hi=128, label="Latent dimension",
                            help="size of the latent vector z ~ N(0, I)")
    g_channels: int = param(32, choices=(8, 16, 32, 48, 64), label="Generator width",
                            help="channels of G's last hidden layer (ngf); earlier layers have 2x",
                            aliases=("g_width",))
    d_channels: int = param(32, choices=(8, 16, 32, 48, 64), label="Discriminator width",
                            help="channels of D's first layer (ndf); later layers have 2x",
                            aliases=("d_width",))
    lr_g: float = param(1e-3, lo=1e-5, hi=1e-2, log=True, label="Generator learning rate")
    lr_d: float = param(1e-3, lo=1e-5, hi=1e-2, log=True, label="Discriminator learning rate")
    beta1: float = param(0.5, lo=0.0, hi=0.99, step=0.05, label="Adam β1",
                         help="Adam's momentum; DCGAN uses 0.5 (0.9 often oscillates)")
    batch_size: int = param(32, choices=(16, 32, 64, 128, 256), label="Batch size")
    d_steps: int = param(1, lo=1, hi=5, label="D steps per G step")
    loss: str = param("nonsaturating", choices=LOSSES, label="Loss")
    label_smoothing: float = param(0.0, lo=0.0, hi=0.3, step=0.05,
                                   label="One-sided label smoothing",
                                   help="real target 1 - s for D (cross-entropy losses only)")
    diffaugment: bool = param(False, label="DiffAugment",
                              help="show D randomly shifted and cut-out versions of real *and* "
                              "generated images, so it cannot memorise a small training set")
    ema: float = param(0.99, choices=(0.0, 0.99, 0.995, 0.999), label="EMA of G",
                       help="show samples from an exponential moving average of G's weights "
                       "(0 = the raw generator)")
    steps: int = param(3000, lo=10, hi=100000, help="generator updates")

    def __post_init__(self) -> None:
        if self.dataset == "upload" and not self.upload:
            raise ValueError("upload a zip of your images first")


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


def make_optimizers(cfg: GanConfig | Gan2dConfig, G: nn.Module,
                    D: nn.Module) -> tuple[torch.optim.Adam, torch.optim.Adam]:
    """Adam for G and D with their own learning rates and ``betas = (beta1, 0.999)``
    (``(beta1, 0.9)`` for WGAN-GP, as in Gulrajani et al. 2017)."""
    betas = (cfg.beta1, 0.999) if cfg.loss != "wgan-gp" else (cfg.beta1, 0.9)
    return (torch.optim.Adam(G.parameters(), lr=cfg.lr_g, betas=betas),
            torch.optim.Adam(D.parameters(), lr=cfg.lr_d, betas=betas))


def load_upload_images(upload: str) -> ImageData:
    """Your images stored under the id ``upload``, all of them for training: x ``(N, 3, 32, 32)``
    in [0, 1], named :data:`core.data.uploads.UPLOAD_NAME`.

    Raises:
        UploadError: for an unknown id, or fewer than :data:`MIN_UPLOAD` images.
    """
    data = load_upload(upload)
    if len(data) < MIN_UPLOAD:
        raise UploadError(f"A GAN needs at least {MIN_UPLOAD} images; your zip has {len(data)}.")
    return ImageData(data.x, data.y, data.classes, UPLOAD_NAME)


def load_gan_data(name: str, upload: str = "") -> tuple[ImageData, ImageData]:
    """(train, test) :class:`core.data.ImageData` for a GAN run (falls back to bundled MNIST
    with a ``note`` when a downloadable set is unavailable). ``name="upload"`` reads your images
    by the id ``upload`` (:func:`load_upload_images`); they serve as both (no set is held out:
    without a classifier of them no metric needs one).

    Raises:
        UploadError: for ``name="upload"`` with an unknown id or too few images.
    """
    if name == "upload":
        data = load_upload_images(upload)
        return data, data
    return load_images(name, "train"), load_images(name, "test")


def data_preview(name: str, n: int = N_FIXED, upload: str = "") -> tuple[np.ndarray, ImageData]:
    """A uint8 grid of the first ``n`` training images of ``name`` (your images for
    ``name="upload"``, by the id ``upload``), and the training set.

    Raises:
        UploadError: for ``name="upload"`` with an unknown id or too few images.
    """
    train = load_upload_images(upload) if name == "upload" else load_images(name, "train")
    return image_grid(train.x[:n]), train


def make_models(cfg: GanConfig, shape: tuple[int, int, int],
                device: torch.device) -> tuple[nn.Module, nn.Module, nn.Module]:
    """``(G, D, G_avg)`` for images of ``shape`` ``(C, S, S)``, DCGAN-initialised on ``device``;
    ``G_avg`` is an eval-mode copy of G for the weight average, or ``G`` itself when
    ``cfg.ema == 0``."""
    c, size, _ = shape
    G = Generator(cfg.latent_dim, cfg.g_channels, c, size).to(device)
    D = Discriminator(cfg.d_channels, c, size, batch_norm=cfg.loss != "wgan-gp").to(device)
    G.apply(dcgan_init)
    D.apply(dcgan_init)
    return G, D, copy.deepcopy(G).eval() if cfg.ema > 0 else G


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


def train_step(cfg: GanConfig, G: nn.Module, D: nn.Module, opts: tuple, x_all: torch.Tensor,
               gen: torch.Generator) -> StepLosses:
    """``cfg.d_steps`` updates of D on random real batches of ``x_all`` (indices from ``gen``),
    then one of G; with ``cfg.diffaugment`` D sees both through :func:`diff_augment`."""
    opt_g, opt_d = opts
    aug = diff_augment if cfg.diffaugment else identity
    bs, device = min(cfg.batch_size, len(x_all)), x_all.device
    for _ in range(cfg.d_steps):
        real = x_all[torch.randint(0, len(x_all), (bs,), generator=gen).to(device)]
        with torch.no_grad():
            fake = G(torch.randn(bs, cfg.latent_dim, device=device))
        loss_d, d_r, d_f = d_step(cfg, D, opt_d, real, fake, aug)
    loss_g = g_step(cfg, G, D, opt_g, torch.randn(bs, cfg.latent_dim, device=device), aug)
    return StepLosses(loss_d, loss_g, d_r, d_f)


def step_metrics(loss: str, s: StepLosses | None) -> dict[str, float]:
    """``loss_d``, ``loss_g`` and the mean :func:`score_to_prob` of D on real (``d_real``) and
    fake (``d_fake``) data, from the last step (``{}`` before the first)."""
    if s is None:
        return {}
    return {"loss_d": s.loss_d.item(), "loss_g": s.loss_g.item(),
            "d_real": score_to_prob(loss, s.d_real).mean().item(),
            "d_fake": score_to_prob(loss, s.d_fake).mean().item()}


class SampleQuality:
    """Classifier-FID of generated images against ``real`` (``(M, 1, 28, 28)`` sets with a shipped
    classifier: MNIST and Fashion-MNIST; :mod:`core.blocks.image_metrics`), the share of samples
    the classifier is sure of, and its class histogram. ``dataset`` names the classifier (the
    loaded set's name). The real images' features are computed on the first call."""

    def __init__(self, real: torch.Tensor, dataset: str) -> None:
        self.real, self.dataset = real, dataset
        self._feat: torch.Tensor | None = None

    @property
    def available(self) -> bool:
        return (tuple(self.real.shape[1:]) == (1, 28, 28)
                and image_metrics.has_classifier(self.dataset))

    def __call__(self, fake: torch.Tensor) -> tuple[dict[str, float], np.ndarray]:
        """``({"fid", "confident_share"}, class histogram (10,))`` of ``fake``
        ``(N, 1, 28, 28)`` in [0, 1].

        Raises:
            ValueError: when no classifier judges this dataset (check :attr:`available`).
        """
        if self._feat is None:
            self._feat = image_metrics.classifier_features(self.real, self.dataset)
        feat = image_metrics.classifier_features(fake, self.dataset)  # one pass for all three
        out = {"fid": image_metrics.frechet_distance(feat, self._feat)}
        p = image_metrics.probs_from_features(feat, self.dataset)
        out["confident_share"] = float((p.max(1).values > image_metrics.CONFIDENT_P).float().mean())
        return out, np.bincount(p.argmax(1).numpy(), minlength=10) / len(p)


def metrics_note(quality: SampleQuality) -> str | None:
    """One sentence on why FID and the "sure" share are missing for a set, or None."""
    if quality.available:
        return None
    what = "your own images" if quality.dataset == UPLOAD_NAME else f"{quality.dataset} images"
    return (f"FID and the \"sure\" share need a classifier of {what}; only MNIST and "
            "Fashion-MNIST have one here, so they are not shown for this set.")


def sample_grid(G_avg: nn.Module, z_fixed: torch.Tensor,
                z_bn: torch.Tensor | None = None) -> np.ndarray:
    """The uint8 8x8 grid of ``G_avg(z_fixed)`` in eval mode. An averaged generator passes
    ``z_bn`` to get batch-norm statistics of its own first (:func:`recalibrate_batch_norm`)."""
    if z_bn is not None:
        recalibrate_batch_norm(G_avg, z_bn)
    with eval_mode(G_avg):
        return image_grid(generate(G_avg, z_fixed))


def evaluate(G_avg: nn.Module, z_eval: torch.Tensor,
             quality: SampleQuality) -> tuple[dict[str, float], dict]:
    """Quality metrics of ``G_avg(z_eval)`` (eval mode) and the ``class_hist`` artifact."""
    with eval_mode(G_avg):
        fake = generate(G_avg, z_eval)
    metrics, hist = quality(fake)
    return metrics, {"class_hist": hist}


def train_gan(cfg: GanConfig) -> Iterator[Snapshot]:
    """Train a DCGAN live.

    Metrics (every snapshot): ``loss_d``, ``loss_g`` (the losses of the last step, nats for the
    cross-entropy losses), ``d_real`` and ``d_fake`` (mean sigmoid(D) on the last real batch and
    on G(z)). From the first step on (sets with a shipped classifier: MNIST and Fashion-MNIST),
    at most :data:`FID_SHARE` of the time and every :data:`FID_EVERY_S` s or less often, and at
    the end: ``fid``, the classifier-FID of 500 samples against the test images (1,000 bundled
    digits or the 10,000 Fashion-MNIST test images), and ``confident_share`` (share of samples
    that set's LeNet labels with p > 0.9).

    Artifacts: ``samples`` (uint8 8x8 grid of G(z) for 64 fixed z), ``z_fixed`` ((64, D)
    float32), ``class_hist`` ((10,) share of samples per predicted class, with ``fid``),
    ``classes`` (class names), ``metrics_note`` (str or None: why the quality metrics are
    missing), ``data_note`` (str or None). ``model`` is a frozen copy of the (averaged)
    generator on every snapshot, for the page's latent walks.

    ``dataset="upload"`` trains on all your images at 32x32 colour, without the quality metrics.

    Raises:
        UploadError: for ``dataset="upload"`` with an unknown id or too few images.
    """
    device = start(cfg)
    tick = Ticker(total=cfg.steps)
    train, test = load_gan_data(cfg.dataset, cfg.upload)
    x_all = (train.x * 2 - 1).to(device)  # (N, C, H, W) in [-1, 1]
    G, D, G_avg = make_models(cfg, train.shape, device)
    watch(G)  # per-layer diagnostics of the generator on every snapshot
    opts = None  # built after the first snapshot (the first Adam imports slowly)
    gen = torch.Generator().manual_seed(cfg.seed)
    z_fixed, z_eval, z_bn = (torch.randn(n, cfg.latent_dim, generator=gen)
                             for n in (N_FIXED, N_FID, N_BN))
    quality = SampleQuality(test.x, train.name)
    budget = EvalBudget(share=FID_SHARE, min_interval_s=FID_EVERY_S)
    copies = CopyCadence(every_s=2.0)  # the page walks the newest copy (RunView.model)
    last: StepLosses | None = None
    for step in range(0, cfg.steps + 1):
        if step > 0:
            opts = opts or make_optimizers(cfg, G, D)
            last = train_step(cfg, G, D, opts, x_all, gen)
            if G_avg is not G:
                ema_update(G_avg, G, min(cfg.ema, (1 + step) / (10 + step)))
        if not tick(step):
            continue
        final = step == cfg.steps
        metrics = step_metrics(cfg.loss, last)
        samples = sample_grid(G_avg, z_fixed, z_bn if G_avg is not G else None)
        art: dict = {"samples": samples, "z_fixed": z_fixed.numpy(), "data_note": train.note,
                     "classes": list(train.classes), "metrics_note": metrics_note(quality)}
        if quality.available and step > 0 and budget.due(final):
            with budget.timed():
                q, extra = evaluate(G_avg, z_eval, quality)
            metrics.update(q)
            art.update(extra)
        yield Snapshot(step, tick.elapsed, metrics, art, total_steps=cfg.steps, final=final,
                       model=copies(G_avg, final))


# ============================================================================== 2-D lab

TARGETS = ("ring8", "grid25")
GRID_RES = 60  # resolution of D's decision heatmap
N_VIS = 512  # generated points drawn on the page (fixed z)
N_EVAL_2D = 2000  # generated points behind the mode metrics
MIN_SHARE = 0.2  # a mode is covered with this share of its fair share of high-quality points
TRAIL = 8  # snapshots of the points' positions kept for the trails


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


@dataclass(frozen=True)
class Gan2dConfig(RunOptions):
    """Every setting of one 2-D GAN run (the mode-collapse lab)."""

    target: str = param("ring8", choices=TARGETS, label="Target",
                        help="ring of 8 Gaussians or a 5x5 grid of 25")
    latent_dim: int = param(16, lo=2, hi=128, label="Latent dimension")
    g_hidden: int = param(64, choices=(16, 32, 64, 128, 256), label="Generator width",
                          help="units in each of G's 2 hidden layers", aliases=("g_width",))
    d_hidden: int = param(64, choices=(16, 32, 64, 128, 256), label="Discriminator width",
                          help="units in each of D's 2 hidden layers", aliases=("d_width",))
    lr_g: float = param(2e-3, lo=1e-5, hi=1e-1, log=True, label="Generator learning rate")
    lr_d: float = param(2e-3, lo=1e-5, hi=1e-1, log=True, label="Discriminator learning rate")
    beta1: float = param(0.5, lo=0.0, hi=0.99, step=0.05, label="Adam β1")
    batch_size: int = param(128, choices=(32, 64, 128, 256, 512), label="Batch size")
    d_steps: int = param(1, lo=1, hi=5, label="D steps per G step")
    loss: str = param("nonsaturating", choices=LOSSES, label="Loss")
    label_smoothing: float = param(0.0, lo=0.0, hi=0.3, step=0.05,
                                   label="One-sided label smoothing")
    steps: int = param(1500, lo=10, hi=50000, help="generator updates")


def mlp(n_in: int, hidden: int, n_out: int, act: Callable[[], nn.Module] = nn.ReLU) -> nn.Sequential:
    """``Linear(n_in, hidden) -> act -> Linear(hidden, hidden) -> act -> Linear(hidden, n_out)``."""
    return nn.Sequential(nn.Linear(n_in, hidden), act(), nn.Linear(hidden, hidden), act(),
                         nn.Linear(hidden, n_out))


def extent(target: str) -> float:
    """Half-width of the square the page draws for a target."""
    return 3.0 if target == "ring8" else 6.0


def plane_grid(target: str, device: torch.device) -> torch.Tensor:
    """The ``(GRID_RES**2, 2)`` points of D's heatmap over the page's square, row-major with
    rows from the top (+y) down."""
    xs = torch.linspace(-extent(target), extent(target), GRID_RES)
    gy, gx = torch.meshgrid(xs.flip(0), xs, indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], 1).to(device)


def train_step_2d(cfg: Gan2dConfig, G: nn.Module, D: nn.Module, opts: tuple,
                  gen: torch.Generator, device: torch.device) -> StepLosses:
    """``cfg.d_steps`` updates of D on fresh target samples, then one of G (all draws from
    ``gen``); WGAN-GP uses a penalty weight of 0.1 on this small plane."""
    opt_g, opt_d = opts
    bs = cfg.batch_size
    for _ in range(cfg.d_steps):
        real = sample_target(cfg.target, bs, gen).to(device)
        with torch.no_grad():
            fake = G(torch.randn(bs, cfg.latent_dim, generator=gen).to(device))
        loss_d, d_r, d_f = d_step(cfg, D, opt_d, real, fake, gp_weight=0.1)
    loss_g = g_step(cfg, G, D, opt_g, torch.randn(bs, cfg.latent_dim, generator=gen).to(device))
    return StepLosses(loss_d, loss_g, d_r, d_f)


def g_push(loss: str, D: nn.Module, points: torch.Tensor) -> np.ndarray:
    """``-dL_G/dx`` at generated ``points`` ``(N, 2)``: where G's loss pushes each one, scaled
    so that the longest arrow has length 1 (float32 ``(N, 2)``)."""
    x = points.detach().clone().requires_grad_(True)
    grad, = torch.autograd.grad(g_loss(loss, D(x)) * len(x), x)
    arrows = -grad.cpu().numpy()
    return (arrows / max(float(np.linalg.norm(arrows, axis=1).max()), 1e-12)).astype(np.float32)


def plane_snapshot(cfg: Gan2dConfig, G: nn.Module, D: nn.Module, z_vis: torch.Tensor,
                   z_eval: torch.Tensor, grid: torch.Tensor) -> tuple[dict[str, float], dict]:
    """The mode metrics of ``G(z_eval)`` and the plane artifacts of :func:`train_gan2d` but
    ``real``, ``trail``, ``modes`` and ``extent``."""
    with torch.no_grad():
        pts = G(z_eval).cpu().numpy()
        fake_vis = G(z_vis)
        d_map = score_to_prob(cfg.loss, D(grid)).reshape(GRID_RES, GRID_RES).cpu().numpy()
    mm = mode_metrics(pts, cfg.target)
    metrics = {"modes_covered": float(mm["modes_covered"]), "high_quality": mm["high_quality"]}
    art = {"fake": fake_vis.cpu().numpy(), "grad": g_push(cfg.loss, D, fake_vis),
           "d_map": d_map.astype(np.float32), "per_mode": mm["per_mode"]}
    return metrics, art


def train_gan2d(cfg: Gan2dConfig) -> Iterator[Snapshot]:
    """Train a GAN on a 2-D mixture of Gaussians live.

    Metrics: ``loss_d``, ``loss_g``, ``d_real``, ``d_fake`` (as in :func:`train_gan`),
    ``modes_covered`` (of 8 or 25) and ``high_quality`` (share in [0, 1]) on 2,000 samples
    (see :func:`mode_metrics`).

    Artifacts: ``real`` (512, 2) target points; ``fake`` (512, 2) G(z) for fixed z; ``trail``
    (T <= 8, 512, 2) their positions at the previous snapshots (oldest first); ``grad``
    (512, 2) the direction each fake point is pushed by G's loss, ``-dL_G/dx``, scaled to the
    largest arrow = 1; ``d_map`` (60, 60) sigmoid(D) over the plane (rows from the top, +y);
    ``per_mode`` (K,) high-quality counts per mode; ``modes`` (K, 2) centres; ``extent`` the
    half-width of the plane. ``model`` is a frozen ``ModuleDict(G=..., D=...)`` on the final
    snapshot.
    """
    device = start(cfg)
    tick = Ticker(total=cfg.steps)
    gen = torch.Generator().manual_seed(cfg.seed)
    G = mlp(cfg.latent_dim, cfg.g_hidden, 2).to(device)
    D = mlp(2, cfg.d_hidden, 1, act=lambda: nn.LeakyReLU(0.2)).to(device)
    opts = None  # built after the first snapshot (the first Adam imports slowly)
    z_vis = torch.randn(N_VIS, cfg.latent_dim, generator=gen).to(device)
    z_eval = torch.randn(N_EVAL_2D, cfg.latent_dim, generator=gen).to(device)
    fixed = {"real": sample_target(cfg.target, N_VIS, gen).numpy(),
             "modes": target_modes(cfg.target)[0], "extent": extent(cfg.target)}
    grid = plane_grid(cfg.target, device)
    copies = CopyCadence(every_s=0)  # the final snapshot only
    trail: list[np.ndarray] = []
    last: StepLosses | None = None
    for step in range(0, cfg.steps + 1):
        if step > 0:
            opts = opts or make_optimizers(cfg, G, D)
            last = train_step_2d(cfg, G, D, opts, gen, device)
        if not tick(step):
            continue
        final = step == cfg.steps
        metrics, art = plane_snapshot(cfg, G, D, z_vis, z_eval, grid)
        metrics = step_metrics(cfg.loss, last) | metrics
        art.update(fixed, trail=np.stack(trail) if trail else np.zeros((0, N_VIS, 2), np.float32))
        trail = (trail + [art["fake"]])[-TRAIL:]
        yield Snapshot(step, tick.elapsed, metrics, art, total_steps=cfg.steps, final=final,
                       model=copies(nn.ModuleDict({"G": G, "D": D}), final))


DEMOS = [
    Demo("gan", GanConfig, train_gan, title="DCGAN",
         description="A DCGAN learns to draw 28x28 digits (or Fashion-MNIST / CIFAR-10 / "
         "your own images)."),
    Demo("gan2d", Gan2dConfig, train_gan2d, title="2-D GAN: mode-collapse lab",
         description="A GAN learns a ring of 8 or a grid of 25 Gaussians; modes covered."),
]
