"""SimCLR: contrastive self-supervised learning of image features, with a few-label evaluation.

Method (Chen, Kornblith, Norouzi & Hinton, "A Simple Framework for Contrastive Learning of Visual
Representations", ICML 2020, arXiv:2002.05709): every unlabelled image ``x`` is augmented twice
into two *views*; an encoder ``f`` maps each view to a feature vector ``h = f(x)`` and a small
projection head ``g`` maps ``h`` to ``z = g(h)``. The NT-Xent loss pulls the two views of the same
image together and pushes them away from the other ``2N - 2`` views in the batch:

    l(i, j) = -log( exp(sim(z_i, z_j) / tau) / sum_{k != i} exp(sim(z_i, z_k) / tau) ),

with ``sim`` the cosine similarity and ``tau`` the temperature, averaged over all ``2N`` views.
After pretraining, the head ``g`` is dropped and the features ``h`` are evaluated with a *linear
probe*: logistic regression on frozen ``h`` using only ``k`` labelled images per class, against
(b) the same encoder trained from scratch on those labels, (c) logistic regression on raw pixels
and optionally (d) fine-tuning the pretrained encoder.

Shapes: images ``(N, C, H, W)`` floats in [0, 1]; features ``h`` ``(N, feat_dim)``; projections
``z`` ``(N, proj_dim)``; a batch of two views stacks to ``(2N, ...)`` with view ``i`` and view
``i + N`` coming from the same image.

Augmentations use kornia (random parameters per image, drawn for a whole batch at once). The
t-SNE of held-out features uses openTSNE (Policar, Strazar & Zupan, J. Stat. Softw. 2024),
warm-started from the previous layout so clusters form smoothly rather than jump.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - the usual alias
from torch import nn

from core.blocks.images import image_grid
from core.blocks.projection import FeatureMap
from core.data import ImageData, load_images
from core.protocol import (
    CopyCadence,
    Demo,
    EvalBudget,
    RunningMean,
    RunOptions,
    Snapshot,
    Ticker,
    config_to_dict,
    eval_mode,
    heartbeats,
    param,
    start,
)

DATASETS = ("mnist", "fashion_mnist", "cifar10")
EMBEDDINGS = ("tsne", "pca", "umap", "off")
K_SHOTS = (1, 5, 10, 50, 100)  # labels per class in the few-label evaluation
METHODS = ("probe", "scratch", "pixels", "finetune")


@dataclass(frozen=True)
class SimCLRConfig(RunOptions):
    """Every setting of one SimCLR run (data, augmentations, model, optimiser, evaluation)."""

    RETIRED_KEYS: ClassVar[tuple[str, ...]] = ("map_every_s",)  # the map now has an EvalBudget

    dataset: str = param("mnist", choices=DATASETS,
                         help="unlabelled training images; Fashion-MNIST and CIFAR-10 fall back "
                         "to bundled MNIST when they are not available")
    encoder: str = param("cnn", choices=("cnn", "resnet"),
                         help="a plain 3-block CNN or a small ResNet with residual blocks")
    channels: int = param(32, choices=(16, 32, 64), label="Encoder width", aliases=("width",),
                          help="channels of the first block (doubled in each later block)")
    proj_dim: int = param(64, choices=(8, 16, 32, 64, 128), label="Projection dimension",
                          help="size of z = g(h), where the loss is computed")
    temperature: float = param(0.2, lo=0.02, hi=2.0, step=0.01, label="Temperature τ",
                               help="NT-Xent temperature: small τ focuses on the hardest "
                               "negatives")
    batch_size: int = param(128, choices=(16, 32, 64, 128, 256, 512), label="Batch size",
                            help="images per batch (each gives 2 views, so 2N - 2 negatives)")
    lr: float = param(1e-2, lo=1e-5, hi=1e-1, log=True, label="Learning rate",
                      help="Adam learning rate (cosine decay to zero)")
    epochs: int = param(20, lo=1, hi=500, help="passes over the unlabelled images")
    max_seconds: float = param(0.0, lo=0.0, hi=3600.0, step=10.0, label="Time limit (s)",
                               help="stop pretraining after this many seconds (0: no limit); "
                               "the learning-rate schedule then follows the clock")
    crop: bool = param(True, label="Random resized crop")
    crop_scale: float = param(0.4, lo=0.08, hi=1.0, step=0.02, label="Crop: smallest area",
                              help="smallest crop as a fraction of the image area")
    affine: bool = param(True, label="Rotation / shift")
    rotation: float = param(15.0, lo=0.0, hi=90.0, step=5.0, label="Rotation (degrees)",
                            help="largest random rotation; with ±10% shift and a small shear")
    blur: bool = param(True, label="Gaussian blur")
    color_jitter: bool = param(True, label="Colour jitter",
                               help="brightness/contrast/saturation/hue jitter and random "
                               "greyscale (colour data only)")
    jitter_strength: float = param(0.5, lo=0.0, hi=1.0, step=0.05, label="Jitter strength")
    flip: bool = param(True, label="Horizontal flip", help="colour data only (digits are not "
                       "mirror-symmetric)")
    embedding: str = param("tsne", choices=EMBEDDINGS, label="Feature map",
                           help="2-D map of held-out features: t-SNE (openTSNE), PCA, UMAP "
                           "(if installed) or off")
    map_points: int = param(1000, choices=(200, 500, 1000, 2000), label="Points in the map")
    evaluate: bool = param(True, label="Few-label evaluation",
                           help="after pretraining, compare probe, scratch and pixels with "
                           "1-100 labels per class (takes a few seconds to a minute)")
    eval_steps: int = param(300, lo=10, hi=5000, help="optimiser steps of each supervised "
                            "baseline (scratch, fine-tune) in the final evaluation")
    finetune: bool = param(False, label="Also fine-tune",
                           help="(d) fine-tune the pretrained encoder on the few labels")
    label_draws: int = param(1, lo=1, hi=5, help="random draws of the labelled images per k; "
                             "accuracies are averaged")


# --------------------------------------------------------------------------------- the loss


def nt_xent_loss(z: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """NT-Xent (normalized temperature-scaled cross-entropy), SimCLR eq. (1).

    Args:
        z: projections of two views, shape (2N, D): rows ``i`` and ``i + N`` are the positive
            pair of image ``i``; every other row is a negative. Need not be normalised.
        temperature: tau > 0 (unitless; similarities are cosines in [-1, 1]).

    Returns:
        the scalar loss in nats, averaged over all 2N anchors (both orders of each pair).

    Raises:
        ValueError: if ``z`` is not 2-D with an even number (>= 4) of rows, or tau <= 0.

    Reference: Chen et al., ICML 2020, arXiv:2002.05709, Sec. 2.1 and Algorithm 1.
    """
    if z.ndim != 2 or z.shape[0] % 2 or z.shape[0] < 4:
        raise ValueError(f"z must have shape (2N, D) with N >= 2, got {tuple(z.shape)}")
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    n2 = z.shape[0]
    n = n2 // 2
    zn = F.normalize(z, dim=1)
    logits = zn @ zn.T / temperature                          # (2N, 2N) cosine / tau
    self_mask = torch.eye(n2, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(self_mask, float("-inf"))     # k != i in the denominator
    positive = torch.cat([torch.arange(n, n2), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(logits, positive)


def pair_similarities(z: torch.Tensor, max_negatives: int = 4000,
                      generator: torch.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Cosine similarities of positive pairs (N,) and of a sample of negative pairs.

    Args:
        z: projections of two views, (2N, D), as for :func:`nt_xent_loss`.
        max_negatives: at most this many negative similarities are returned (random sample).

    Returns:
        ``(positives (N,), negatives (<= max_negatives,))`` float32 arrays in [-1, 1].
    """
    with torch.no_grad():
        zn = F.normalize(z.detach().float(), dim=1)
        n = zn.shape[0] // 2
        sim = zn @ zn.T
        pos = sim[torch.arange(n), torch.arange(n, 2 * n)]
        mask = ~torch.eye(2 * n, dtype=torch.bool, device=z.device)
        mask[torch.arange(n), torch.arange(n, 2 * n)] = False
        mask[torch.arange(n, 2 * n), torch.arange(n)] = False
        neg = sim[mask]
        if neg.numel() > max_negatives:
            idx = torch.randperm(neg.numel(), generator=generator)[:max_negatives]
            neg = neg[idx.to(neg.device)]
    return pos.cpu().numpy().astype(np.float32), neg.cpu().numpy().astype(np.float32)


# ------------------------------------------------------------------------------- the models


def _conv_bn(c_in: int, c_out: int, stride: int = 1, k: int = 3) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, k, stride, k // 2, bias=False),
                         nn.BatchNorm2d(c_out),
                         nn.ReLU(inplace=True))


class ResidualBlock(nn.Module):
    """Basic ResNet block (He et al., CVPR 2016): ``relu(x + bn(conv(relu(bn(conv(x))))))``,
    with a strided 1x1 projection on the shortcut when the shape changes."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True), nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False),
            nn.BatchNorm2d(c_out))
        self.short = nn.Identity() if stride == 1 and c_in == c_out else nn.Sequential(
            nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.short(x))


class Encoder(nn.Module):
    """The encoder ``f``: images (N, C, H, W) -> features ``h`` (N, 4 * channels).

    ``kind="cnn"``: three conv-BN-ReLU blocks (c, 2c, 4c channels; the first two
    with stride 2, so a 28x28 digit becomes 7x7 maps), then global average pooling. Strided
    convolutions instead of max pooling keep a CPU step cheap. ``kind="resnet"``: the same
    stride-2 stem, then three residual blocks (the last two with stride 2), then global average
    pooling.
    """

    def __init__(self, in_channels: int = 1, channels: int = 32, kind: str = "cnn") -> None:
        super().__init__()
        w = channels
        if kind == "cnn":
            self.body = nn.Sequential(
                _conv_bn(in_channels, w, stride=2, k=5), _conv_bn(w, 2 * w, stride=2),
                _conv_bn(2 * w, 4 * w))
        elif kind == "resnet":
            self.body = nn.Sequential(
                _conv_bn(in_channels, w, stride=2, k=5), ResidualBlock(w, w),
                ResidualBlock(w, 2 * w, stride=2), ResidualBlock(2 * w, 4 * w, stride=2))
        else:
            raise ValueError(f"unknown encoder {kind!r}; allowed: cnn, resnet")
        self.feat_dim = 4 * w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).mean(dim=(2, 3))


class ProjectionHead(nn.Module):
    """The projection head ``g``: ``Linear -> BN -> ReLU -> Linear``, h (N, F) -> z (N, P)."""

    def __init__(self, feat_dim: int, proj_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(feat_dim, feat_dim), nn.BatchNorm1d(feat_dim),
                                 nn.ReLU(inplace=True), nn.Linear(feat_dim, proj_dim))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(h)


def build_model(cfg: SimCLRConfig, in_channels: int) -> nn.ModuleDict:
    """``ModuleDict(encoder=Encoder, projector=ProjectionHead)`` for this config."""
    enc = Encoder(in_channels, cfg.channels, cfg.encoder)
    return nn.ModuleDict({"encoder": enc, "projector": ProjectionHead(enc.feat_dim, cfg.proj_dim)})


# ------------------------------------------------------------------------------ augmentations


def build_augment(cfg: SimCLRConfig, channels: int, size: int) -> nn.Module:
    """The random view generator: a kornia pipeline drawing new parameters for every image.

    Digits (1 channel): random resized crop, rotation/shift/shear, Gaussian blur. Colour data
    (3 channels) adds horizontal flip, colour jitter and random greyscale (SimCLR's recipe).
    Each part can be switched off in the config. Input and output: (N, C, size, size) in [0, 1].
    """
    import kornia.augmentation as K  # noqa: N812 - kornia's usual alias

    ops: list[nn.Module] = []
    if cfg.crop:
        ops.append(K.RandomResizedCrop((size, size), scale=(cfg.crop_scale, 1.0),
                                       ratio=(0.75, 4 / 3)))
    if cfg.affine:
        ops.append(K.RandomAffine(degrees=cfg.rotation, translate=(0.1, 0.1), shear=10.0, p=1.0))
    if channels == 3 and cfg.flip:
        ops.append(K.RandomHorizontalFlip())
    if channels == 3 and cfg.color_jitter and cfg.jitter_strength > 0:
        s = cfg.jitter_strength
        ops.append(K.ColorJitter(0.8 * s, 0.8 * s, 0.8 * s, 0.2 * s, p=0.8))
        ops.append(K.RandomGrayscale(p=0.2))
    if cfg.blur:
        ops.append(K.RandomGaussianBlur((3, 3), (0.1, 1.5), p=0.5))
    return nn.Sequential(*ops) if ops else nn.Identity()


def augment_pairs(cfg: SimCLRConfig, images: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Two random views of each image, for the augmentation viewer.

    Args:
        images: (n, C, H, W) in [0, 1].

    Returns:
        (n, 3, C, H, W): the original, view 1 and view 2 of each image.
    """
    state = torch.get_rng_state()
    torch.manual_seed(seed)
    try:
        aug = build_augment(cfg, images.shape[1], images.shape[-1])
        with torch.no_grad():
            v1, v2 = aug(images), aug(images)
    finally:
        torch.set_rng_state(state)
    return torch.stack([images, v1.clamp(0, 1), v2.clamp(0, 1)], 1)


def pairs_grid(pairs: torch.Tensor) -> np.ndarray:
    """Tile (n, 3, C, H, W) view triples as a uint8 image: one row per image, 3 columns."""
    n = pairs.shape[0]
    return image_grid(pairs.reshape(n * 3, *pairs.shape[2:]), ncol=3, pad=2)


# ------------------------------------------------------------------------ few-label evaluation


def encode(encoder: nn.Module, x: torch.Tensor, device: torch.device,
           batch: int = 1000) -> torch.Tensor:
    """Features ``h`` of images x (N, C, H, W) with the encoder in eval mode: (N, F) on CPU."""
    with eval_mode(encoder):
        return torch.cat([encoder(x[i:i + batch].to(device)).float().cpu()
                          for i in range(0, len(x), batch)])


def sample_labelled(y: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``k`` random examples of every class in labels ``y`` (N,) (fewer if a class
    has fewer), shape (<= k * classes,)."""
    idx = [rng.permutation(np.flatnonzero(y == c))[:k] for c in np.unique(y)]
    return np.concatenate(idx)


def logistic_accuracy(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray,
                      y_test: np.ndarray, c: float = 1.0,
                      stats: tuple[np.ndarray, np.ndarray] | None = None) -> float:
    """Test accuracy of multinomial logistic regression (L2, strength ``1/c``) on standardised
    inputs: the linear probe on features (N, F), or the pixel baseline on flat images (N, HW).

    ``stats`` = (mean, std) to standardise with (e.g. of the whole unlabelled pool, which is
    less noisy than 10 labelled images per class); default: those of ``x_train``."""
    from sklearn.linear_model import LogisticRegression

    mu, sd = stats if stats is not None else (x_train.mean(0), x_train.std(0) + 1e-6)
    if len(np.unique(y_train)) < 2:
        return float(np.mean(y_test == y_train[0]))
    clf = LogisticRegression(C=c, max_iter=500)
    clf.fit((x_train - mu) / sd, y_train)
    return float(np.mean(clf.predict((x_test - mu) / sd) == y_test))


def _l2_rows(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def supervised_augment(channels: int) -> nn.Module:
    """The mild augmentation of the supervised baselines: rotation up to 10 degrees, shifts up
    to 10% and scaling 0.9-1.1 (plus horizontal flips for colour data). SimCLR's strong views
    (crops of 40% of a digit, blur) would hurt a classifier trained on a few labels."""
    import kornia.augmentation as K  # noqa: N812 - kornia's usual alias

    ops: list[nn.Module] = [K.RandomAffine(degrees=10.0, translate=(0.1, 0.1), scale=(0.9, 1.1),
                                           p=1.0)]
    if channels == 3:
        ops.append(K.RandomHorizontalFlip())
    return nn.Sequential(*ops)


def supervised_steps(encoder: nn.Module, x_train: torch.Tensor, y_train: torch.Tensor,
                     x_test: torch.Tensor, y_test: torch.Tensor, n_classes: int,
                     augment: nn.Module | None, steps: int, lr: float,
                     device: torch.device, seed: int = 0) -> Generator[None, None, float]:
    """Train ``encoder`` + a linear head with cross-entropy on a few labelled images, yielding
    after every Adam step, and return the test accuracy. Used for (b) training from scratch (a
    freshly initialised encoder) and (d) fine-tuning (a copy of the pretrained one).
    ``encoder`` is modified in place.

    Args:
        x_train: (n, C, H, W) labelled images; y_train: (n,) labels.
        augment: the same random views as pretraining (or None) applied to every batch.
        steps: Adam steps on batches of up to 128 images.
    """
    g = torch.Generator().manual_seed(seed)
    head = nn.Linear(encoder.feat_dim, n_classes).to(device)
    model = nn.Sequential(encoder, head).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=5e-4)
    xt, yt = x_train.to(device), y_train.to(device)
    bs = min(128, len(xt))
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, len(xt), (bs,), generator=g).to(device)
        xb = xt[idx]
        if augment is not None:
            with torch.no_grad():
                xb = augment(xb)
        loss = F.cross_entropy(model(xb), yt[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        yield
    with eval_mode(model):
        pred = torch.cat([model(x_test[i:i + 1000].to(device)).argmax(1).cpu()
                          for i in range(0, len(x_test), 1000)])
    return float((pred == y_test.cpu()).float().mean())


def supervised_accuracy(*args: Any, **kwargs: Any) -> float:
    """:func:`supervised_steps` run to its end: the test accuracy."""
    return _run_to_end(supervised_steps(*args, **kwargs))


def _run_to_end(gen: Generator[Any, None, Any]) -> Any:
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


def few_label_eval(*args: Any, **kwargs: Any) -> dict[str, dict[int, float]]:
    """:func:`few_label_eval_steps` run to its end: ``{method: {k: accuracy}}``."""
    return _run_to_end(few_label_eval_steps(*args, **kwargs))


def eval_units(cfg: SimCLRConfig, methods: tuple[str, ...], ks: tuple[int, ...] = K_SHOTS) -> int:
    """Units of work :func:`few_label_eval_steps` yields: one per supervised Adam step, one
    per probe."""
    per_draw = sum(cfg.eval_steps for m in methods if m in ("scratch", "finetune")) + 1
    return len(ks) * cfg.label_draws * per_draw


def few_label_eval_steps(model: nn.ModuleDict, cfg: SimCLRConfig, train: ImageData,
                         x_test: torch.Tensor, y_test: torch.Tensor, device: torch.device,
                         ks: tuple[int, ...] = K_SHOTS, draws: int = 1,
                         methods: tuple[str, ...] = ("probe", "scratch", "pixels"),
                         ) -> Generator[None, None, dict[str, dict[int, float]]]:
    """Accuracy on held-out images with ``k`` labelled training images per class, yielding
    after every unit of work (:func:`eval_units`) so that a long evaluation can be paused.

    Methods: ``probe`` (logistic regression on the frozen features h, L2-normalised and
    standardised with the statistics of the whole unlabelled pool), ``scratch`` (a fresh encoder
    of the same architecture trained on the labels with mild augmentation, see
    :func:`supervised_augment`), ``pixels`` (logistic regression on raw pixels), ``finetune``
    (the pretrained encoder fine-tuned on the labels, same augmentation). Each accuracy is the
    mean over ``draws`` random draws of the labelled images.

    Returns:
        ``{method: {k: accuracy in [0, 1]}}``.
    """
    n_classes = len(train.classes)
    ytr = train.y.numpy()
    feats_tr = _l2_rows(encode(model["encoder"], train.x, device).numpy())
    feats_te = _l2_rows(encode(model["encoder"], x_test, device).numpy())
    pool_stats = (feats_tr.mean(0), feats_tr.std(0) + 1e-6)
    pix_tr = train.x.reshape(len(train.x), -1).numpy()
    pix_te = x_test.reshape(len(x_test), -1).numpy()
    yte = y_test.numpy()
    aug = supervised_augment(train.x.shape[1]).to(device)
    res: dict[str, dict[int, list[float]]] = {m: {k: [] for k in ks} for m in methods}
    for k in ks:
        for d in range(draws):
            rng = np.random.default_rng(cfg.seed * 1000 + 17 * k + d)
            idx = sample_labelled(ytr, k, rng)
            if "probe" in methods:
                res["probe"][k].append(logistic_accuracy(feats_tr[idx], ytr[idx], feats_te, yte,
                                                         c=1.0, stats=pool_stats))
            yield
            if "pixels" in methods:
                res["pixels"][k].append(logistic_accuracy(pix_tr[idx], ytr[idx], pix_te, yte,
                                                          c=0.01))
            ti = torch.from_numpy(idx)
            if "scratch" in methods:
                torch.manual_seed(cfg.seed + 7919 * k + d)
                enc = Encoder(train.x.shape[1], cfg.channels, cfg.encoder).to(device)
                res["scratch"][k].append((yield from supervised_steps(
                    enc, train.x[ti], train.y[ti], x_test, y_test, n_classes, aug, cfg.eval_steps,
                    1e-3, device, seed=cfg.seed + d)))
            if "finetune" in methods:
                enc = copy.deepcopy(model["encoder"]).to(device)
                for p in enc.parameters():
                    p.requires_grad_(True)
                res["finetune"][k].append((yield from supervised_steps(
                    enc, train.x[ti], train.y[ti], x_test, y_test, n_classes, aug, cfg.eval_steps,
                    3e-4, device, seed=cfg.seed + d)))
    return {m: {k: float(np.mean(v)) for k, v in per.items()} for m, per in res.items()}


def nearest_neighbours(features: np.ndarray, query: int, n: int = 8) -> np.ndarray:
    """Indices of the ``n`` rows of ``features`` (N, F) with the highest cosine similarity to row
    ``query`` (itself excluded), best first.

    Raises:
        IndexError: if ``query`` is not a row index.
    """
    if not 0 <= query < len(features):
        raise IndexError(f"query {query} is not in 0..{len(features) - 1}")
    f = features / (np.linalg.norm(features, axis=1, keepdims=True) + 1e-12)
    sim = f @ f[query]
    sim[query] = -np.inf
    return np.argsort(-sim)[:n]


# ------------------------------------------------------------------------------------ trainer


def load_data(cfg: SimCLRConfig) -> tuple[ImageData, ImageData]:
    """(train, held-out test) splits of the configured dataset (bundled MNIST when offline)."""
    return load_images(cfg.dataset, "train"), load_images(cfg.dataset, "test")


def pretrain_step(model: nn.ModuleDict, augment: nn.Module, opt: torch.optim.Optimizer,
                  x: torch.Tensor, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """One SimCLR step on a batch of images x (N, C, H, W): two views, z (2N, P), NT-Xent,
    an optimiser step. Returns ``(loss, z.detach())``."""
    with torch.no_grad():  # one call on the doubled batch: kornia draws parameters per image
        views = augment(torch.cat([x, x]))
    z = model["projector"](model["encoder"](views))
    loss = nt_xent_loss(z, temperature)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.detach(), z.detach()


def batch_metrics(z: torch.Tensor, generator: torch.Generator) -> tuple[dict, np.ndarray,
                                                                           np.ndarray]:
    """Of one batch's projections z (2N, P): ``pos_sim`` / ``neg_sim`` (mean cosine of positive
    and negative pairs), ``contrast_acc`` (fraction of views whose most similar other view is
    their positive), and the similarity samples ``(positives (N,), negatives)``."""
    pos, neg = pair_similarities(z, generator=generator)
    zn = F.normalize(z, dim=1)
    sim = zn @ zn.T
    sim.fill_diagonal_(-2.0)
    n = len(z) // 2
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    acc = float((sim.argmax(1) == target).float().mean())
    return {"pos_sim": float(pos.mean()), "neg_sim": float(neg.mean()), "contrast_acc": acc}, \
        pos, neg


class LiveMap:
    """The live view of held-out features: a linear probe with 10 labels per class, the features
    of every held-out image (L2-normalised, float16) and a 2-D map of ``map_points`` of them."""

    def __init__(self, cfg: SimCLRConfig, train_d: ImageData, test_d: ImageData) -> None:
        self.train_d, self.test_d = train_d, test_d
        n_map = min(cfg.map_points, len(test_d.x))
        self.index = np.sort(np.random.default_rng(cfg.seed).permutation(len(test_d.x))[:n_map])
        self.fmap = FeatureMap(cfg.embedding, seed=cfg.seed) if cfg.embedding != "off" else None
        self.probe_idx = sample_labelled(train_d.y.numpy(), 10,
                                         np.random.default_rng(cfg.seed + 1))
        self.budget = EvalBudget(share=0.25, min_interval_s=3.0)
        self.probe_acc = math.nan

    def update(self, encoder: nn.Module, device: torch.device, step: int) -> dict:
        """Encode, probe and map now: the artifacts ``features``, ``map``, ``map_step``."""
        feats = encode(encoder, self.test_d.x, device).numpy()
        x_lab = encode(encoder, self.train_d.x[torch.from_numpy(self.probe_idx)], device).numpy()
        y_test = self.test_d.y.numpy()[self.index]
        self.probe_acc = logistic_accuracy(x_lab, self.train_d.y.numpy()[self.probe_idx],
                                           feats[self.index], y_test, c=0.1)
        fm = feats / (np.linalg.norm(feats, axis=1, keepdims=True) + 1e-12)
        art = {"features": fm.astype(np.float16)}
        if self.fmap is not None:
            art.update(map=self.fmap.update(fm[self.index]), map_step=step)
        return art


class LRClock:
    """SimCLR's learning-rate factor: 20 warm-up steps, then cosine decay to 0 over the run,
    whose progress is counted in steps or, with ``max_seconds``, on the clock (whichever is
    further); :meth:`out_of_time` ends a time-limited run."""

    def __init__(self, total_steps: int, max_seconds: float) -> None:
        self.total, self.max_seconds = total_steps, max_seconds
        self.t0, self.frac = time.perf_counter(), 0.0

    def tick(self) -> bool:
        """Read the clock; True when the time limit is reached."""
        if self.max_seconds > 0:
            self.frac = (time.perf_counter() - self.t0) / self.max_seconds
        return self.frac >= 1.0

    def __call__(self, step: int) -> float:
        frac = min(1.0, max(step / self.total, self.frac))
        return min(1.0, (step + 1) / 20) * 0.5 * (1 + math.cos(math.pi * frac))

    def expected_total(self, step: int) -> int:
        """Steps the run will take: the planned total, or within the time limit."""
        if self.max_seconds > 0 and self.frac > 0:
            return max(step, min(self.total, int(step / min(1.0, self.frac))))
        return self.total


def pretrain(cfg: SimCLRConfig, x_all: torch.Tensor, model: nn.ModuleDict, live: LiveMap,
             device: torch.device, tick: Ticker) -> Iterator[tuple[int, dict, dict, int, bool]]:
    """SimCLR pretraining on images x_all (N, C, H, W); yields ``(step, metrics, artifacts,
    expected total steps, last)`` when a snapshot is due (see :func:`train` for the names)."""
    gen = torch.Generator().manual_seed(cfg.seed)
    bs = min(cfg.batch_size, len(x_all))
    steps_per_epoch = max(1, len(x_all) // bs)
    augment = build_augment(cfg, x_all.shape[1], x_all.shape[-1]).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=1e-6)
    clock = LRClock(cfg.epochs * steps_per_epoch, cfg.max_seconds)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, clock)
    sample = x_all[torch.randperm(len(x_all), generator=gen)[:8]]
    losses = RunningMean()
    art = {"views": pairs_grid(augment_pairs(cfg, sample, cfg.seed))}
    x_dev, step = x_all.to(device), 0
    model.train()
    for epoch in range(cfg.epochs):
        order = torch.randperm(len(x_all), generator=gen).to(device)
        for b in range(steps_per_epoch):
            step += 1
            loss, z = pretrain_step(model, augment, opt, x_dev[order[b * bs:(b + 1) * bs]],
                                    cfg.temperature)
            losses.add(nt_xent=loss)
            last = clock.tick() or step == clock.total
            sched.step()
            tick.total = step if last else clock.total
            if not tick(step):
                continue
            # negatives sampled from a generator of this step: not from how many snapshots came
            metrics, pos, neg = batch_metrics(z, torch.Generator().manual_seed(cfg.seed + 2 + step))
            metrics = {**losses.pop(), **metrics, "epoch": epoch + (b + 1) / steps_per_epoch}
            art = {**art, "pos_hist": pos, "neg_hist": neg}
            if math.isfinite(metrics["nt_xent"]) and live.budget.due(last):
                with live.budget.timed():
                    art.update(live.update(model["encoder"], device, step))
            metrics["live_probe_k10"] = live.probe_acc
            yield step, metrics, art, clock.expected_total(step), last
            if last:
                return


def train(cfg: SimCLRConfig) -> Iterator[Snapshot]:
    """Pretrain with SimCLR, then evaluate with few labels; yields live snapshots.

    Metrics: ``nt_xent`` (nats, mean of the last 32 steps), ``pos_sim`` / ``neg_sim``
    (mean cosine of positive and negative pairs in the batch), ``contrast_acc`` (fraction of
    views whose most similar other view is their positive), ``live_probe_k10`` (linear-probe
    accuracy on the mapped held-out images with 10 labels per class, at each map update), and at
    the end ``probe_acc_k{k}``, ``scratch_acc_k{k}``, ``pixels_acc_k{k}`` (and
    ``finetune_acc_k{k}``) for k in :data:`K_SHOTS`. Artifacts: ``views`` (uint8 grid of
    augmented pairs), ``pos_hist`` / ``neg_hist`` (similarity samples), ``map`` (n, 2) with
    ``map_labels``/``map_index``, ``features`` of all held-out images (for nearest neighbours),
    ``eval`` (final accuracies) and ``phase`` (a sentence). The map, the features and the live
    probe take at most a quarter of the time (:class:`core.protocol.EvalBudget`, at most every
    3 s). The final snapshot carries the trained encoder and head (``model``, with
    ``model.simclr_config``) so other pages can reuse it.
    """
    device = start(cfg)
    tick = Ticker()
    train_d, test_d = load_data(cfg)
    model = build_model(cfg, train_d.x.shape[1]).to(device)
    live = LiveMap(cfg, train_d, test_d)
    fixed = {"map_index": live.index, "map_labels": test_d.y.numpy()[live.index],
             "classes": list(train_d.classes), "phase": "pretraining",
             "note": train_d.note or (live.fmap.note if live.fmap else None)}
    for step, metrics, art, expected, _ in pretrain(cfg, train_d.x, model, live, device, tick):
        yield Snapshot(step, tick.elapsed, metrics, {**fixed, **art}, total_steps=expected,
                       final=False)
    art = {**fixed, **art, "config": config_to_dict(cfg)}
    frozen = CopyCadence(every_s=0)(model, final=True)
    frozen.simclr_config = config_to_dict(cfg)
    if cfg.evaluate:
        art["phase"] = "evaluating with few labels (probe, scratch, pixels)"
        yield Snapshot(step, tick.elapsed, metrics, dict(art), total_steps=step, final=False)
        methods = ("probe", "scratch", "pixels") + (("finetune",) if cfg.finetune else ())
        # heartbeats every ~0.5 s: Stop and the server's budgets act during the evaluation
        units = eval_units(cfg, methods)
        _, art["eval"] = yield from heartbeats(
            few_label_eval_steps(model, cfg, train_d, test_d.x, test_d.y, device,
                                 draws=cfg.label_draws, methods=methods),
            total=step + units, done=step, phase="evaluating with few labels: {units} of "
            f"{units} steps")
        metrics = {**metrics, **{f"{m}_acc_k{k}": acc for m, per in art["eval"].items()
                                 for k, acc in per.items()}}
    art["phase"] = "done"
    yield Snapshot(step, tick.elapsed, metrics, art, total_steps=step, final=True, model=frozen)


DEMOS = [Demo("simclr", SimCLRConfig, train, title="SimCLR",
              description="Contrastive self-supervised features (NT-Xent), a live t-SNE of them, "
              "and a few-label linear probe against training from scratch and raw pixels.")]
