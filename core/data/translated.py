"""Translated digits: real MNIST digits pasted at random offsets on a larger blank canvas.

The setting in which a convolutional network's translation equivariance (shared weights) and
pooling visibly beat a fully connected network of the same size: on centred digits the gap is a
point or two; here an MLP must learn every digit at every position separately.

Reference: the "translated MNIST" task of Jaderberg et al., "Spatial Transformer Networks"
(NeurIPS 2015), and Ba, Mnih & Kavukcuoglu, "Multiple Object Recognition with Visual Attention"
(2015), which paste 28x28 MNIST digits at random positions on a larger canvas.
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from core.data import ImageData, load_images

CANVAS = 40  # pixels per side of the canvas
DIGIT = 28  # MNIST digit size


@functools.lru_cache(maxsize=4)
def _translated(split: str, canvas: int, seed: int) -> ImageData:
    src = load_images("mnist", split)  # real digits (bundled: 4,000 train / 1,000 test)
    if src.shape != (1, DIGIT, DIGIT):
        raise ValueError(f"translated digits need 28x28 MNIST digits, got {src.shape}")
    n, room = len(src), canvas - DIGIT
    rng = np.random.default_rng([seed, 0 if split == "train" else 1])
    rows, cols = rng.integers(0, room + 1, n), rng.integers(0, room + 1, n)
    x = torch.zeros(n, 1, canvas, canvas)
    for i in range(n):
        x[i, :, rows[i]:rows[i] + DIGIT, cols[i]:cols[i] + DIGIT] = src.x[i]
    meta = {"offsets": np.stack([rows, cols], 1), "canvas": canvas, "source": src.name}
    return ImageData(x, src.y.clone(), list(src.classes), "translated", note=src.note,
                     requested="translated", meta=meta)


def translated_digits(split: str = "train", canvas: int = CANVAS, seed: int = 0) -> ImageData:
    """The bundled MNIST digits of ``split``, each pasted at a uniformly random offset on a
    ``canvas`` x ``canvas`` black background (fixed by ``seed``; train and test use
    independent offsets).

    Args:
        split: ``"train"`` (4,000 digits) or ``"test"`` (1,000 held-out digits).
        canvas: side of the canvas in pixels, 28 to 96 (28 gives the centred digits back).
        seed: seed of the offsets; the same seed gives the same images on every machine.

    Returns:
        :class:`core.data.ImageData` with ``x`` of shape (N, 1, canvas, canvas) in [0, 1],
        ``y`` (N,), ``name="translated"``, ``meta["offsets"]`` (N, 2) the (row, col) of each
        digit's top-left corner. Cached in memory: do not modify it.

    Raises:
        ValueError: for an unknown split or a canvas outside 28..96.
    """
    if split not in ("train", "test"):
        raise ValueError(f"unknown split {split!r}; allowed: train, test")
    if not DIGIT <= int(canvas) <= 96:
        raise ValueError(f"canvas={canvas} must be between {DIGIT} and 96 pixels")
    return _translated(split, int(canvas), int(seed))
