"""SimCLR's few-label evaluation: a linear probe on frozen features against an encoder trained
from scratch, logistic regression on raw pixels and fine-tuning, with ``k`` labels per class;
and nearest neighbours in feature space.

The probe is SimCLR's linear evaluation (Chen et al., ICML 2020, arXiv:2002.05709: logistic
regression on the frozen features ``h``, the head ``g`` dropped), here with few labels per class.
"""

from __future__ import annotations

import copy
from collections.abc import Generator
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - the usual alias
from torch import nn

from core.data import ImageData
from core.protocol import eval_mode
from core.representation.simclr.model import Encoder

__all__ = ["K_SHOTS", "METHODS", "encode", "eval_units", "few_label_eval", "few_label_eval_steps",
           "logistic_accuracy", "nearest_neighbours", "sample_labelled", "supervised_accuracy",
           "supervised_augment", "supervised_steps"]

if TYPE_CHECKING:
    from core.representation.simclr.train import SimCLRConfig

K_SHOTS = (1, 5, 10, 50, 100)  # labels per class in the few-label evaluation
METHODS = ("probe", "scratch", "pixels", "finetune")


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

    Raises:
        ValueError: for a method not in :data:`METHODS` (at the first ``next``).
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown evaluation method(s) {unknown}; choose from {METHODS}")
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
