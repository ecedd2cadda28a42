"""The data of ``/cnn``: translated digits, MNIST, Fashion-MNIST, CIFAR or your own zip of
images, split into a seeded training subset and a fixed held-out subset."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from core.blocks.images import image_grid
from core.data import load_images
from core.data.translated import translated_digits
from core.data.uploads import load_upload, split_upload

if TYPE_CHECKING:
    from core.vision.cnn.train import CnnConfig

__all__ = ["DATASETS", "IN_SHAPES", "MAX_TEST", "N_CLASSES", "TEST_SHARE", "UPLOAD_SIZE", "Split",
           "data_preview", "load_split", "probe_indices"]

DATASETS = ("translated", "mnist", "fashion_mnist", "cifar10", "cifar100", "upload")
UPLOAD_SIZE = 32  # your own images are resized to 32x32 colour (like CIFAR)
IN_SHAPES = {"translated": (1, 40, 40), "mnist": (1, 28, 28), "fashion_mnist": (1, 28, 28),
             "cifar10": (3, 32, 32), "cifar100": (3, 32, 32),
             "upload": (3, UPLOAD_SIZE, UPLOAD_SIZE)}
TEST_SHARE = 0.2  # of each class of your own images, held out for testing
N_CLASSES = {"cifar100": 100}
MAX_TEST = 2000  # held-out images evaluated live (a fixed subset of larger test sets)


@dataclass
class Split:
    """Training and held-out images: ``x_*`` (N, C, H, W) in [0, 1], ``y_*`` (N,)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: list[str]
    name: str
    note: str | None = None

    @property
    def in_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])  # type: ignore[return-value]


def load_split(cfg: CnnConfig) -> Split:
    """The run's data: at most ``n_train`` training images (a seeded subset) and at most
    :data:`MAX_TEST` held-out test images (a fixed subset). Offline, CIFAR falls back to
    bundled MNIST with a ``note``."""
    if cfg.dataset == "translated":
        tr, te = translated_digits("train"), translated_digits("test")
    elif cfg.dataset == "upload":
        tr, te = split_upload(load_upload(cfg.upload), TEST_SHARE, cfg.seed)
    else:
        tr, te = load_images(cfg.dataset, "train"), load_images(cfg.dataset, "test")
    g = torch.Generator().manual_seed(cfg.seed)
    idx = torch.randperm(len(tr), generator=g)[:cfg.n_train] if len(tr) > cfg.n_train else \
        torch.arange(len(tr))
    test_idx = torch.arange(min(len(te), MAX_TEST))
    return Split(tr.x[idx], tr.y[idx], te.x[test_idx], te.y[test_idx], list(tr.classes),
                 tr.name, tr.note)


def data_preview(dataset: str, n: int = 16) -> tuple[np.ndarray, tuple[int, int, int], str | None]:
    """What the page shows before training: a uint8 grid of the first ``n`` test images, the
    input shape (C, H, W) the network will see (after any offline fallback) and the data
    layer's note (``None`` when the set loaded)."""
    te = translated_digits("test") if dataset == "translated" else load_images(dataset, "test")
    return image_grid(te.x[:n], ncol=8, pad=2), te.shape, te.note


def probe_indices(y: torch.Tensor, n_classes: int, n: int = 10) -> list[int]:
    """Indices of up to ``n`` test images: the first of each class 0, 1, ... (the images whose
    feature maps, Grad-CAM and formula view the page shows)."""
    out = []
    for c in range(n_classes):
        hits = (y == c).nonzero()
        if len(hits):
            out.append(int(hits[0]))
        if len(out) == n:
            break
    return out

