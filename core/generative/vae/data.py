"""The images: a dataset's own splits, or your own zip of images with a seeded share held out;
the preview grid, and which held-out images the page reconstructs.

Shapes: images ``(N, C, H, W)`` in [0, 1]; labels ``(N,)`` int64.
"""

from __future__ import annotations

import numpy as np
import torch

from core.blocks.images import image_grid
from core.data import ImageData, load_images
from core.data.uploads import UploadError, load_upload, split_upload

__all__ = ["DATASETS", "MIN_UPLOAD", "N_PAIRS", "TEST_SHARE", "UPLOAD_SIZE", "data_preview",
           "load_vae_data", "pick_pairs"]

DATASETS = ("mnist", "fashion_mnist", "cifar10", "upload")
UPLOAD_SIZE = 32        # your own images are resized to 32x32 colour (like CIFAR-10)
TEST_SHARE = 0.2        # of your own images, held out for the test -ELBO
MIN_UPLOAD = 10         # images needed at least (8 to train on, 2 held out)
N_PAIRS = 10            # held-out images shown with their reconstructions


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
