"""The DCGAN's images: a dataset's train and test splits, or your own zip of images (all of them
train, resized to 32x32 colour), and the preview grid the page shows before a run.

Shapes: images ``(N, C, H, W)`` in [0, 1].
"""

from __future__ import annotations

import numpy as np

from core.blocks.images import image_grid
from core.data import ImageData, load_images
from core.data.uploads import UPLOAD_NAME, UploadError, load_upload

__all__ = ["DATASETS", "MIN_UPLOAD", "N_FIXED", "UPLOAD_SIZE", "data_preview", "load_gan_data",
           "load_upload_images"]

DATASETS = ("mnist", "fashion_mnist", "cifar10", "mnist_full", "upload")
UPLOAD_SIZE = 32  # your own images are resized to 32x32 colour (the 32x32x3 DCGAN of CIFAR-10)
MIN_UPLOAD = 10  # images a GAN needs at least
N_FIXED = 64  # the fixed latent vectors of the sample grid (8 x 8)


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
