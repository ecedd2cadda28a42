"""Your own image on ``/cnn``: an uploaded or drawn PNG/JPEG checked, preprocessed as MNIST
or CIFAR images are, and classified by the trained CNN."""

from __future__ import annotations

import io

import numpy as np
import torch
from torch import nn

from core.protocol import eval_mode

__all__ = ["MAX_SIDE", "MAX_UPLOAD_BYTES", "MIN_SIDE", "predict", "prepare_image", "read_upload"]

MAX_UPLOAD_BYTES = 2_000_000
MIN_SIDE, MAX_SIDE = 8, 4096


def read_upload(data: bytes, in_shape: tuple[int, int, int]) -> torch.Tensor:
    """Validate an uploaded PNG/JPEG and turn it into a model input (1, C, H, W) in [0, 1].

    Checks, in order: not empty, at most :data:`MAX_UPLOAD_BYTES`, really a PNG or JPEG (by its
    content, not its name), sides between :data:`MIN_SIDE` and :data:`MAX_SIDE` pixels, decodes.
    Then :func:`prepare_image`.

    Raises:
        ValueError: one plain sentence saying what is wrong and what to upload instead.
    """
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise ValueError("The file is empty; upload a PNG or JPEG picture of one digit.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ValueError(f"The file has {len(data) / 1e6:.1f} MB; upload an image of at most "
                         f"{MAX_UPLOAD_BYTES // 1_000_000} MB.")
    try:
        img = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, OSError, ValueError):
        raise ValueError("That file is not a PNG or JPEG image.") from None
    if img.format not in ("PNG", "JPEG"):
        raise ValueError(f"That is a {img.format} image; upload a PNG or JPEG.")
    w, h = img.size
    if min(w, h) < MIN_SIDE or max(w, h) > MAX_SIDE:
        raise ValueError(f"The image is {w}x{h} pixels; use one between {MIN_SIDE} and "
                         f"{MAX_SIDE} pixels per side.")
    try:
        img.load()
    except (OSError, ValueError, Image.DecompressionBombError):
        raise ValueError("The image could not be decoded (is the file damaged?).") from None
    return prepare_image(img, in_shape)


def prepare_image(img, in_shape: tuple[int, int, int]) -> torch.Tensor:
    """A PIL image as a model input (1, C, H, W) in [0, 1].

    One channel (digits, Fashion-MNIST): greyscale (transparent pixels become white), inverted
    when the background is light (MNIST is white ink on black), cropped to the ink, scaled to
    20 px on its longer side and centred in 28x28 as MNIST does, then centred on the
    model's canvas. Three channels (CIFAR): resized to H x W.

    Raises:
        ValueError: when the image holds no ink (a blank or one-colour image).
    """
    from PIL import Image

    c, h, w = in_shape
    if img.mode in ("RGBA", "LA", "P"):
        rgba = img.convert("RGBA")
        img = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    if c == 3:
        a = np.asarray(img.convert("RGB").resize((w, h), Image.BILINEAR), dtype=np.float32)
        return torch.from_numpy(a / 255.0).permute(2, 0, 1)[None]
    a = np.asarray(img.convert("L"), dtype=np.float32) / 255.0
    if np.median(a) > 0.5:
        a = 1.0 - a
    ink = a > max(0.2, 0.5 * float(a.max()))
    if not ink.any() or float(a.max() - a.min()) < 0.1:
        raise ValueError("The image looks blank; draw or upload a dark digit on a light "
                         "background (or a light one on dark).")
    rows, cols = np.where(ink)
    crop = a[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    scale = 20.0 / max(crop.shape)
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    small = np.asarray(Image.fromarray((crop * 255).astype(np.uint8)).resize(size, Image.LANCZOS),
                       dtype=np.float32) / 255.0
    out = np.zeros((h, w), dtype=np.float32)
    r0, c0 = (h - small.shape[0]) // 2, (w - small.shape[1]) // 2
    out[r0:r0 + small.shape[0], c0:c0 + small.shape[1]] = small
    return torch.from_numpy(out / max(float(out.max()), 1e-6))[None, None]


def predict(cnn: nn.Module, x: torch.Tensor) -> np.ndarray:
    """Class probabilities (K,) of one image ``x`` (1, C, H, W)."""
    with eval_mode(cnn):
        return cnn(x).softmax(1)[0].cpu().numpy()
