"""The ``vae`` and ``ae`` demos: their configs, the loop that trains the VAE and the AE on the
same batches, and the evaluation at each snapshot on an evaluation budget.

Shapes: images ``(N, C, H, W)`` in [0, 1]; codes ``z`` ``(N, latent_dim)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from core.blocks.images import image_grid
from core.data import ImageData
from core.generative.vae.artifacts import model_artifacts
from core.generative.vae.data import DATASETS, load_vae_data, pick_pairs
from core.generative.vae.evaluation import evaluate_ae, evaluate_vae
from core.generative.vae.losses import recon_nll, vae_loss
from core.generative.vae.model import AE, ARCHITECTURES, HIDDEN_FC, POSTERIOR_STDS, VAE
from core.protocol import (
    Demo,
    Progress,
    RunningMean,
    RunOptions,
    Snapshot,
    param,
    start,
    weight_average,
)

__all__ = ["EMA_DECAYS", "EVAL_INTERVAL_S", "EVAL_SHARE", "MODEL_EVERY_S", "N_SAMPLES",
           "UPLOAD_HELP", "AEConfig", "VaeConfig", "ae_prefix", "check_upload", "evaluate",
           "make_models", "make_optimizer", "train", "train_ae", "train_step",
           "weight_averages"]

N_SAMPLES = 32          # fixed N(0, I) vectors decoded by both models
EVAL_SHARE = 1 / 3      # held-out evaluation + artifacts take at most a third of the time,
EVAL_INTERVAL_S = 1.0   # and run at most once a second
MODEL_EVERY_S = 5.0     # a frozen copy of the models for the page at most every 5 s
EMA_DECAYS = (0.0, 0.99, 0.998, 0.999, 0.9995)  # 0 = no weight average
UPLOAD_HELP = "id of the uploaded images (dataset=upload; set by the page, never read from a link)"


def check_upload(cfg: VaeConfig | AEConfig) -> None:
    """Refuse ``dataset="upload"`` without an upload id.

    Raises:
        ValueError: one plain sentence asking for the zip.
    """
    if cfg.dataset == "upload" and not cfg.upload:
        raise ValueError("upload a zip of your images first")


@dataclass(frozen=True)
class VaeConfig(RunOptions):
    """One VAE run (optionally with the AE baseline trained alongside on the same batches)."""

    dataset: str = param("mnist", choices=DATASETS,
                         help="images to model (Fashion-MNIST and CIFAR-10 need a download; "
                         "upload: your own zip of images, any folders, no labels)")
    upload: str = param("", help=UPLOAD_HELP)
    architecture: str = param("conv", choices=ARCHITECTURES,
                              help="convolutional encoder/decoder, or an MLP (784-400-z)")
    latent_dim: int = param(2, lo=2, hi=32, label="Latent dimension",
                            help="size of z; 2 shows the latent space directly")
    channels: int = param(16, choices=(8, 16, 32), label="Conv channels",
                          help="channels of the first conv layer (the second has twice as many)",
                          aliases=("width",))
    beta: float = param(1.0, lo=0.0, hi=10.0, step=0.1, label="β (KL weight)",
                        help="weight of the KL term in the training loss (1 = VAE, 0 = no prior)")
    lr: float = param(1e-3, lo=1e-5, hi=1e-1, log=True, label="Learning rate", help="Adam")
    batch_size: int = param(64, choices=(16, 32, 64, 128, 256), label="Batch size")
    epochs: int = param(10, lo=1, hi=100, help="passes over the training images")
    baseline: bool = param(True, label="Compare with a plain autoencoder",
                           help="train a plain autoencoder (AE) on the same batches")
    hidden_fc: bool = param(True, label="Hidden FC layer",
                            help=f"a fully connected layer of {HIDDEN_FC} ReLUs between the "
                            "convs and z, in the encoder and the decoder (conv only; off: the "
                            "convs connect to z directly, faster per step)")
    posterior_std: str = param("exp", choices=POSTERIOR_STDS, label="Posterior std σ",
                               help="how the encoder's output h becomes the std of q(z|x): "
                               "exp(h / 2), h being the log-variance (Kingma & Welling), or "
                               "softplus(h), which grows linearly in h and tolerates larger "
                               "learning rates")
    weight_decay: float = param(0.0, lo=0.0, hi=0.5, step=0.01, label="Weight decay",
                                help="decoupled weight decay of AdamW (Loshchilov & Hutter, ICLR "
                                "2019): each step shrinks the weights by lr x this; 0 = Adam")
    adam_beta2: float = param(0.999, choices=(0.99, 0.999), label="Adam β₂",
                              help="decay of Adam's running mean of squared gradients; 0.99 "
                              "adapts the step sizes faster")
    ema_decay: float = param(0.0, choices=EMA_DECAYS, label="EMA of the weights (decay)",
                             help="show and evaluate an exponential moving average of the "
                             "weights (Polyak averaging) instead of the raw ones; the decay is "
                             "warmed up as min(decay, (1 + t) / (10 + t)) at step t; 0 = off")

    def __post_init__(self) -> None:
        check_upload(self)


@dataclass(frozen=True)
class AEConfig(RunOptions):
    """One plain (deterministic) autoencoder run: the VAE's nets without the KL term."""

    dataset: str = param("mnist", choices=DATASETS)
    upload: str = param("", help=UPLOAD_HELP)
    architecture: str = param("conv", choices=ARCHITECTURES)
    latent_dim: int = param(2, lo=2, hi=32, label="Latent dimension")
    channels: int = param(16, choices=(8, 16, 32), label="Conv channels", aliases=("width",))
    lr: float = param(1e-3, lo=1e-5, hi=1e-1, log=True, label="Learning rate", help="Adam")
    batch_size: int = param(64, choices=(16, 32, 64, 128, 256), label="Batch size")
    epochs: int = param(10, lo=1, hi=100, help="passes over the training images")

    def __post_init__(self) -> None:
        check_upload(self)


def make_models(cfg: VaeConfig | AEConfig, shape: tuple[int, int, int], with_vae: bool,
                with_ae: bool, device: torch.device) -> dict[str, VAE | AE]:
    """``{"vae": VAE, "ae": AE}`` (those asked for, in that order) on ``device``.

    Raises:
        ValueError: for conv nets on image sides not divisible by 4.
    """
    if cfg.architecture == "conv" and (shape[1] % 4 or shape[2] % 4):
        raise ValueError(f"the convolutional nets need image sides divisible by 4, got {shape}")
    hidden = HIDDEN_FC if getattr(cfg, "hidden_fc", True) else 0
    models: dict[str, VAE | AE] = {}
    if with_vae:
        models["vae"] = VAE(shape, cfg.latent_dim, cfg.architecture, cfg.channels, hidden,
                            getattr(cfg, "posterior_std", "exp")).to(device)
    if with_ae:
        models["ae"] = AE(shape, cfg.latent_dim, cfg.architecture, cfg.channels,
                          hidden).to(device)
    return models


def make_optimizer(cfg: VaeConfig | AEConfig, model: nn.Module) -> torch.optim.Optimizer:
    """Adam (Kingma & Ba, ICLR 2015) with ``cfg.lr`` and betas ``(0.9, cfg.adam_beta2)``; with
    ``cfg.weight_decay > 0`` AdamW, whose decay applies to every parameter."""
    betas = (0.9, getattr(cfg, "adam_beta2", 0.999))
    decay = getattr(cfg, "weight_decay", 0.0)
    if decay > 0:
        return torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=betas, weight_decay=decay)
    return torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=betas)


def weight_averages(models: dict[str, VAE | AE], decay: float) -> dict[str, AveragedModel]:
    """An exponential moving average (Polyak & Juditsky 1992) of each model's weights, as
    ``core.protocol.weight_average`` (warmed-up decay); call ``update_parameters(model)``
    after each step and read ``.module``. ``{}`` for ``decay == 0``."""
    if decay <= 0:
        return {}
    return {name: weight_average(m, decay) for name, m in models.items()}


def ae_prefix(models: dict) -> str:
    """The AE's metric prefix: none when it trains alone, ``ae_`` next to the VAE."""
    return "ae_" if "vae" in models else ""


def train_step(models: dict[str, VAE | AE], opts: dict, xb: torch.Tensor, beta: float,
               losses: RunningMean, averages: dict[str, AveragedModel] | None = None) -> None:
    """One Adam step of every model on the batch ``xb``, then of its weight average (if in
    ``averages``); their training losses go to ``losses`` (``train_neg_elbo`` for the VAE,
    ``[ae_]train_recon`` for the AE)."""
    for name, m in models.items():
        if name == "vae":
            loss, parts = vae_loss(m, xb, beta)
            losses.add(train_neg_elbo=parts["neg_elbo"])
        else:
            loss = recon_nll(m(xb), xb).mean()
            losses.add(**{ae_prefix(models) + "train_recon": loss.detach()})
        opts[name].zero_grad(set_to_none=True)
        loss.backward()
        opts[name].step()
        if averages and name in averages:
            averages[name].update_parameters(m)


def evaluate(models: dict[str, VAE | AE], te: ImageData, xte: torch.Tensor,
             x_pairs: torch.Tensor, z_fixed: torch.Tensor,
             judge: str | None) -> tuple[dict[str, float], dict]:
    """Held-out metrics and the artifacts of every model (see :func:`train`)."""
    metrics: dict[str, float] = {}
    art: dict = {}
    rows = [x_pairs]
    for name, m in models.items():
        if name == "vae":
            ev, codes = evaluate_vae(m, xte, return_codes=True)
            metrics.update(ev)
        else:
            rec, codes = evaluate_ae(m, xte, return_codes=True)
            metrics[ae_prefix(models) + "recon"] = rec
        a, quality, recon_imgs = model_artifacts(name, m, codes, x_pairs, te.y, z_fixed, judge)
        art.update(a)
        metrics.update(quality)
        rows.append(recon_imgs)
    art["recon_pairs"] = image_grid(torch.cat(rows), ncol=len(x_pairs))
    art["recon_rows"] = ["input"] + [name.upper() for name in models]
    return metrics, art


def _train(cfg: VaeConfig | AEConfig, with_vae: bool, with_ae: bool) -> Iterator[Snapshot]:
    device = start(cfg)
    gen = torch.Generator().manual_seed(cfg.seed)
    tr, te = load_vae_data(cfg.dataset, cfg.upload, cfg.seed)
    xtr, xte = tr.x.to(device), te.x.to(device)
    models = make_models(cfg, tuple(tr.shape), with_vae, with_ae, device)
    opts = {n: make_optimizer(cfg, m) for n, m in models.items()}
    averages = weight_averages(models, getattr(cfg, "ema_decay", 0.0))
    shown = {n: averages[n].module if n in averages else m for n, m in models.items()}
    z_fixed = torch.randn(N_SAMPLES, cfg.latent_dim, generator=gen).to(device)
    x_pairs = xte[pick_pairs(te.y).to(device)]  # the first is a 0, the second a 1
    beta = getattr(cfg, "beta", 1.0)
    n = len(xtr)
    bs = min(cfg.batch_size, n)
    per_epoch = math.ceil(n / bs)
    total = cfg.epochs * per_epoch
    # a snapshot with every evaluation, which comes on the budget
    progress = Progress(total, copy_every_s=MODEL_EVERY_S, eval_share=EVAL_SHARE,
                        eval_every_s=EVAL_INTERVAL_S)
    order = torch.randperm(n, generator=gen).to(device)
    for step in range(0, total + 1):
        if step > 0:
            epoch, i = divmod(step - 1, per_epoch)
            if i == 0 and epoch > 0:
                order = torch.randperm(n, generator=gen).to(device)
            train_step(models, opts, xtr[order[i * bs:(i + 1) * bs]], beta, progress.losses,
                       averages)
        if not progress.evaluation_due(step):
            continue
        with progress.budget.timed():
            metrics, art = evaluate(shown, te, xte, x_pairs, z_fixed, judge=tr.name)
        metrics = {"epoch": step / per_epoch, **metrics, **progress.losses.pop()}
        art.update(note=tr.note, dataset=tr.name, classes=tr.classes)
        yield progress.snapshot(step, metrics, art, model=nn.ModuleDict(shown))


def train(cfg: VaeConfig) -> Iterator[Snapshot]:
    """Train a VAE (and, with ``cfg.baseline``, the AE on the same batches) on images.

    Both models see the same mini-batches with the same budget (``cfg.epochs`` passes); the
    held-out split is the dataset's test split (your images: a seeded :data:`TEST_SHARE` of
    them, see :func:`load_vae_data`). A snapshot (step 0 first, then at most once a
    second and with at most a third of the time spent on it) carries:

    Metrics (held-out, nats per image): ``neg_elbo``, ``recon``, ``kl`` (VAE, beta = 1 in
    ``neg_elbo``); ``ae_recon`` (AE); ``train_neg_elbo``, ``ae_train_recon`` (mean over the
    training batches since the last snapshot); ``vae_confident_share``, ``ae_confident_share``
    (share of the 32 decoded N(0, I) samples the data set's classifier labels with p > 0.9; MNIST
    and Fashion-MNIST only, when ``assets/{mnist,fashion}_lenet.pt`` exists); ``epoch``.

    Artifacts: ``recon_pairs`` (uint8 grid: inputs, VAE, AE reconstructions as rows) and
    ``recon_rows`` (the row names); ``{vae,ae}_samples`` (decoded fixed N(0, I) vectors, the same
    for both models); ``{vae,ae}_latent`` (dict: ``z`` (N, 2) held-out codes or their PCA
    projection, ``prior`` (32, 2) the N(0, I) vectors in the same projection, ``y`` labels,
    ``pca`` flag); ``{vae,ae}_interp`` (decoded straight line between the codes of a held-out 0
    and 1); for a 2-D latent ``{vae,ae}_manifold`` (decoded 15x15 grid at the prior's quantiles);
    ``note``, ``dataset``, ``classes`` of the data. ``model``: an ``nn.ModuleDict`` with ``vae``
    (and ``ae``), on the final snapshot and every ~5 s.

    Raises:
        ValueError: for unusable settings (e.g. a CUDA device that is not there).
        UploadError: for ``dataset="upload"`` with an unknown id or too few images.
    """
    return _train(cfg, with_vae=True, with_ae=cfg.baseline)


def train_ae(cfg: AEConfig) -> Iterator[Snapshot]:
    """Train only the plain autoencoder; metrics ``recon`` (held-out) and ``train_recon``.

    Artifacts as in :func:`train` for the ``ae`` model (``recon_pairs`` has two rows).
    """
    return _train(cfg, with_vae=False, with_ae=True)


DEMOS = [
    Demo("vae", VaeConfig, train, title="Variational autoencoder",
         description="A VAE (with a plain-autoencoder baseline) on MNIST; held-out -ELBO in nats."),
    Demo("ae", AEConfig, train_ae, title="Plain autoencoder",
         description="The plain autoencoder baseline of the VAE page; held-out reconstruction."),
]
