"""Variational autoencoder (VAE) and its baseline, a plain (deterministic) autoencoder (AE).

A VAE (Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014; Rezende et al., ICML 2014)
is an autoencoder whose encoder outputs a *distribution* over the latent code,
``q(z|x) = N(mu(x), diag(sigma(x)^2))``, and whose decoder defines a likelihood ``p(x|z)``.
Training maximises the evidence lower bound (ELBO) on ``log p(x)``::

    log p(x) >= ELBO(x) = E_q[log p(x|z)] - KL(q(z|x) || N(0, I))
    loss = recon + beta * kl,   recon = -E_q[log p(x|z)],   kl = KL(q(z|x) || N(0, I))

with the reparameterization trick ``z = mu + sigma * eps, eps ~ N(0, I)`` so that gradients flow
through the sampling. ``beta != 1`` gives the beta-VAE (Higgins et al., ICLR 2017); the reported
``neg_elbo`` always uses beta = 1 (it is the true bound). The likelihood is Bernoulli on the pixel
intensities (binary cross-entropy summed over pixels), as in the PyTorch examples' MNIST VAE, so
``neg_elbo`` is in nats per image and comparable with it.

The AE baseline has the same encoder and decoder but a deterministic code ``z = mu(x)`` and only
the reconstruction loss. It reconstructs better (nothing pulls its codes together), but its codes
do not fill N(0, I): decoding random N(0, I) vectors lands in the "holes" of its latent space.
The VAE's KL term makes N(0, I) a sensible place to sample from.

Your own images (``dataset="upload"``): a zip of PNG/JPEG files in any folders, unlabelled,
stored by :mod:`core.data.uploads` and named by the config's ``upload`` field, resized to 32x32
colour (the size of CIFAR-10, which the conv nets already model); a seeded fifth of them is held
out for the test -ELBO.

Shapes: images ``(N, C, H, W)`` in [0, 1] with ``H = W`` in {28, 32} for the convolutional nets
(any size for the MLP); codes ``z`` ``(N, latent_dim)``; decoder logits ``(N, C, H, W)``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.blocks.images import image_grid, lerp
from core.blocks.projection import pca_2d
from core.data import ImageData, load_images
from core.data.uploads import UploadError, load_upload, split_upload
from core.protocol import (
    CopyCadence,
    Demo,
    EvalBudget,
    RunningMean,
    RunOptions,
    Snapshot,
    eval_mode,
    param,
    start,
)

DATASETS = ("mnist", "fashion_mnist", "cifar10", "upload")
UPLOAD_SIZE = 32        # your own images are resized to 32x32 colour (like CIFAR-10)
TEST_SHARE = 0.2        # of your own images, held out for the test -ELBO
MIN_UPLOAD = 10         # images needed at least (8 to train on, 2 held out)
ARCHITECTURES = ("conv", "mlp")
N_SAMPLES = 32          # fixed N(0, I) vectors decoded by both models
N_PAIRS = 10            # held-out images shown with their reconstructions
N_SCATTER = 1000        # held-out images in the latent scatter
MANIFOLD_N = 15         # the 2-D latent grid is MANIFOLD_N x MANIFOLD_N decoded images
INTERP_STEPS = 10
EVAL_SHARE = 1 / 3      # held-out evaluation + artifacts take at most a third of the time,
EVAL_INTERVAL_S = 1.0   # and run at most once a second
MODEL_EVERY_S = 5.0     # a frozen copy of the models for the page at most every 5 s


# ----------------------------------------------------------------------------- configs


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


# ----------------------------------------------------------------------------- networks


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


# ----------------------------------------------------------------------------- losses


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


# ----------------------------------------------------------------------------- artifacts


@torch.no_grad()
def decode_images(model: VAE | AE, z: torch.Tensor) -> torch.Tensor:
    """Images ``(N, C, H, W)`` in [0, 1] from codes ``z`` ``(N, latent_dim)``: the Bernoulli means
    ``sigmoid(decoder logits)``, without gradients (``model`` in its current mode)."""
    return torch.sigmoid(model.decode(z))


def load_vae_data(dataset: str, upload: str = "", seed: int = 0) -> tuple[ImageData, ImageData]:
    """(train, test) :class:`core.data.ImageData`: the dataset's own splits, or for
    ``dataset="upload"`` your images stored under the id ``upload`` (x ``(N, 3, 32, 32)``),
    :data:`TEST_SHARE` of them held out by a split fixed by ``seed``.

    Raises:
        UploadError: for an unknown upload id or fewer than :data:`MIN_UPLOAD` images.
    """
    if dataset != "upload":
        return load_images(dataset, "train"), load_images(dataset, "test")
    data = load_upload(upload)
    if len(data) < MIN_UPLOAD:
        raise UploadError(f"A VAE needs at least {MIN_UPLOAD} images; your zip has {len(data)}.")
    return split_upload(data, TEST_SHARE, seed)


def data_preview(dataset: str, n: int = 30, upload: str = "",
                 seed: int = 0) -> tuple[np.ndarray, ImageData, ImageData]:
    """A uint8 grid of the first ``n`` training images (10 per row), and (train, test) as
    :func:`load_vae_data` gives them.

    Raises:
        UploadError: as :func:`load_vae_data`.
    """
    tr, te = load_vae_data(dataset, upload, seed)
    return image_grid(tr.x[:n], ncol=10), tr, te


def prior_quantile_grid(n: int = MANIFOLD_N) -> torch.Tensor:
    """``(n*n, 2)`` codes at the prior's quantiles ``Phi^-1(linspace(0.05, 0.95, n))``.

    Row-major with z2 decreasing down the rows and z1 increasing along them (Kingma & Welling
    2014, figure 4).
    """
    q = torch.distributions.Normal(0.0, 1.0).icdf(torch.linspace(0.05, 0.95, n))
    z2, z1 = torch.meshgrid(q.flip(0), q, indexing="ij")
    return torch.stack([z1.reshape(-1), z2.reshape(-1)], 1)


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


def pick_pairs(y: torch.Tensor, k: int = N_PAIRS) -> torch.Tensor:
    """Indices of ``k`` held-out images, the first of each class in turn (one per digit)."""
    out: list[int] = []
    for c in range(int(y.max()) + 1):
        hits = (y == c).nonzero().flatten()
        if len(hits):
            out.append(int(hits[0]))
    for i in range(len(y)):
        if len(out) >= k:
            break
        if i not in out:
            out.append(i)
    return torch.tensor(out[:k])


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


# ----------------------------------------------------------------------------- training


def make_models(cfg: VaeConfig | AEConfig, shape: tuple[int, int, int], with_vae: bool,
                with_ae: bool, device: torch.device) -> dict[str, VAE | AE]:
    """``{"vae": VAE, "ae": AE}`` (those asked for, in that order) on ``device``.

    Raises:
        ValueError: for conv nets on image sides not divisible by 4.
    """
    if cfg.architecture == "conv" and (shape[1] % 4 or shape[2] % 4):
        raise ValueError(f"the convolutional nets need image sides divisible by 4, got {shape}")
    models: dict[str, VAE | AE] = {}
    if with_vae:
        models["vae"] = VAE(shape, cfg.latent_dim, cfg.architecture, cfg.channels).to(device)
    if with_ae:
        models["ae"] = AE(shape, cfg.latent_dim, cfg.architecture, cfg.channels).to(device)
    return models


def ae_prefix(models: dict) -> str:
    """The AE's metric prefix: none when it trains alone, ``ae_`` next to the VAE."""
    return "ae_" if "vae" in models else ""


def train_step(models: dict[str, VAE | AE], opts: dict, xb: torch.Tensor, beta: float,
               losses: RunningMean) -> None:
    """One Adam step of every model on the batch ``xb``; their training losses go to ``losses``
    (``train_neg_elbo`` for the VAE, ``[ae_]train_recon`` for the AE)."""
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
    opts = {n: torch.optim.Adam(m.parameters(), lr=cfg.lr) for n, m in models.items()}
    z_fixed = torch.randn(N_SAMPLES, cfg.latent_dim, generator=gen).to(device)
    x_pairs = xte[pick_pairs(te.y).to(device)]  # the first is a 0, the second a 1
    beta = getattr(cfg, "beta", 1.0)
    n = len(xtr)
    bs = min(cfg.batch_size, n)
    per_epoch = math.ceil(n / bs)
    total = cfg.epochs * per_epoch
    budget = EvalBudget(share=EVAL_SHARE, min_interval_s=EVAL_INTERVAL_S)
    copies = CopyCadence(every_s=MODEL_EVERY_S)
    losses = RunningMean()
    t0 = time.perf_counter()
    order = torch.randperm(n, generator=gen).to(device)
    for step in range(0, total + 1):
        if step > 0:
            epoch, i = divmod(step - 1, per_epoch)
            if i == 0 and epoch > 0:
                order = torch.randperm(n, generator=gen).to(device)
            train_step(models, opts, xtr[order[i * bs:(i + 1) * bs]], beta, losses)
        final = step == total
        if not budget.due(final):
            continue
        with budget.timed():
            metrics, art = evaluate(models, te, xte, x_pairs, z_fixed, judge=tr.name)
        metrics = {"epoch": step / per_epoch, **metrics, **losses.pop()}
        art.update(note=tr.note, dataset=tr.name, classes=tr.classes)
        yield Snapshot(step, time.perf_counter() - t0, metrics, art, total_steps=total,
                       final=final, model=copies(nn.ModuleDict(models), final))


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
