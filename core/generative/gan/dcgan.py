"""The ``gan`` demo: a DCGAN trained live on 28x28 (or 32x32x3) images, with the classifier-FID
on a time budget and an exponential moving average of G (Radford et al., ICLR 2016).

Shapes: ``z`` ``(N, latent_dim)`` ~ N(0, I); images ``(N, C, H, W)`` in [-1, 1] for training.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from core.blocks.images import image_grid
from core.diagnostics import watch
from core.generative.gan.data import DATASETS, N_FIXED, load_gan_data
from core.generative.gan.losses import LOSSES, diff_augment
from core.generative.gan.metrics import SampleQuality, metrics_note
from core.generative.gan.model import (
    Discriminator,
    Generator,
    dcgan_init,
    ema_update,
    recalibrate_batch_norm,
)
from core.generative.gan.sampling import generate
from core.generative.gan.steps import (
    StepLosses,
    d_step,
    g_step,
    identity,
    make_optimizers,
    step_metrics,
)
from core.protocol import Demo, Progress, RunOptions, Snapshot, eval_mode, param, start

__all__ = ["FID_EVERY_S", "FID_SHARE", "N_BN", "N_FID", "GanConfig", "evaluate", "make_models",
           "sample_grid", "train_gan", "train_step"]

N_FID = 500  # generated images per classifier-FID
N_BN = 256  # latents that re-estimate the averaged generator's batch-norm statistics
FID_SHARE, FID_EVERY_S = 0.1, 4.0  # the FID takes at most 10% of the time, at most every 4 s


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

    Artifacts: ``samples`` (uint8 8x8 grid of G(z) for 64 fixed z; on the snapshots where
    :meth:`~core.protocol.Progress.pictures_due` says so, or with an evaluation or a model
    copy), ``z_fixed`` ((64, D) float32), ``class_hist`` ((10,) share of samples per predicted
    class, with ``fid``), ``classes`` (class names), ``metrics_note`` (str or None: why the
    quality metrics are missing), ``data_note`` (str or None). ``model`` is a frozen copy of the
    (averaged) generator every 2 s and on the final snapshot, for the page's latent walks.

    ``dataset="upload"`` trains on all your images at 32x32 colour, without the quality metrics.

    Raises:
        UploadError: for ``dataset="upload"`` with an unknown id or too few images.
    """
    device = start(cfg)
    # the page walks the newest copy of G (RunView.model)
    progress = Progress(cfg.steps, copy_every_s=2.0, eval_share=FID_SHARE,
                        eval_every_s=FID_EVERY_S)
    train, test = load_gan_data(cfg.dataset, cfg.upload)
    x_all = (train.x * 2 - 1).to(device)  # (N, C, H, W) in [-1, 1]
    G, D, G_avg = make_models(cfg, train.shape, device)
    watch(G)  # per-layer diagnostics of the generator on every snapshot
    opts = None  # built after the first snapshot (the first Adam imports slowly)
    gen = torch.Generator().manual_seed(cfg.seed)
    z_fixed, z_eval, z_bn = (torch.randn(n, cfg.latent_dim, generator=gen)
                             for n in (N_FIXED, N_FID, N_BN))
    quality = SampleQuality(test.x, train.name)
    last: StepLosses | None = None
    for step in range(0, cfg.steps + 1):
        if step > 0:
            opts = opts or make_optimizers(cfg, G, D)
            last = train_step(cfg, G, D, opts, x_all, gen)
            if G_avg is not G:
                ema_update(G_avg, G, min(cfg.ema, (1 + step) / (10 + step)))
        if not progress.due(step):
            continue
        metrics = step_metrics(cfg.loss, last)
        art: dict = {"z_fixed": z_fixed.numpy(), "data_note": train.note,
                     "classes": list(train.classes), "metrics_note": metrics_note(quality)}
        evaluate_now = quality.available and step > 0 and progress.evaluation_due(step)
        # the grid recalibrates G_avg's batch norm, which the FID and the model copy use too
        if progress.pictures_due(step) or evaluate_now or progress.copy_due(step):
            art["samples"] = sample_grid(G_avg, z_fixed, z_bn if G_avg is not G else None)
        if evaluate_now:
            with progress.budget.timed():
                q, extra = evaluate(G_avg, z_eval, quality)
            metrics.update(q)
            art.update(extra)
        yield progress.snapshot(step, metrics, art, model=G_avg)


DEMOS = [
    Demo("gan", GanConfig, train_gan, title="DCGAN",
         description="A DCGAN learns to draw 28x28 digits (or Fashion-MNIST / CIFAR-10 / "
         "your own images)."),
]
