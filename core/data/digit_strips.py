"""Strips of real MNIST digits with their spoken form, for the CLIP page.

A strip is one to three bundled MNIST digits (:func:`core.data.load_images`, ``"mnist"``) side by
side, left-aligned in three square slots, an empty slot black; its caption says the digits in
words, in reading order: the strip ``3 0 7`` is captioned ``three zero seven``. Each 28x28 digit
is cropped to its central 24x24 (MNIST centres a 20x20 digit) and area-resized to 16x16, so a
strip is 16x48 pixels. Training strips use the bundled training digits, test strips the bundled
test digits, so every test image is new; :func:`held_out_sequences` names the 3-digit
sequences that training never shows, so a caption like ``seven seven one`` can be kept for a
test of composition (each digit word is still read at each position).

Shapes: images float32 (n, 1, 16, 48) in [0, 1]; digits int64 (n, 3), ``-1`` for an empty slot.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import torch
from torch.nn import functional as F

from core.data.captions import NUMBER_WORDS

__all__ = ["SLOTS", "DIGIT_SIDE", "spoken", "all_sequences", "held_out_sequences",
           "digit_glyphs", "spoken_strips", "as_rgb"]

SLOTS = 3  # digits per strip at most
DIGIT_SIDE = 16  # pixels per digit slot


def spoken(digits: Sequence[int]) -> str:
    """``(3, 0, 7)`` -> ``"three zero seven"`` (empty slots, ``-1``, are skipped)."""
    return " ".join(NUMBER_WORDS[int(d)] for d in digits if d >= 0)


def all_sequences(length: int = SLOTS) -> list[tuple[int, ...]]:
    """Every sequence of ``length`` digits in numeric order (``10**length`` of them)."""
    return [tuple(int(c) for c in f"{i:0{length}d}") for i in range(10 ** length)]


def held_out_sequences(n: int = 100, seed: int = 0) -> list[tuple[int, int, int]]:
    """A fixed random set of ``n`` 3-digit sequences that training strips never show, in
    numeric order; every digit still occurs at every position in the others."""
    pick = np.sort(np.random.default_rng(seed).choice(10 ** SLOTS, n, replace=False))
    seqs = all_sequences()
    return [seqs[i] for i in pick]  # type: ignore[misc]


@functools.lru_cache(maxsize=2)
def digit_glyphs(split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """The bundled MNIST digits of ``split``, cropped and resized for strips: float32
    (N, 16, 16) in [0, 1] and their labels int64 (N,) (N = 4,000 train, 1,000 test).

    Raises:
        ValueError: for an unknown split.
    """
    from core.data import load_images

    d = load_images("mnist", split)
    x = F.adaptive_avg_pool2d(d.x[:, :, 2:26, 2:26], DIGIT_SIDE)[:, 0]
    return x.numpy().astype(np.float32), d.y.numpy().astype(np.int64)


def _draw_digits(rng: np.random.Generator, n: int, lengths: Sequence[int],
                 exclude: set[tuple[int, ...]]) -> np.ndarray:
    """(n, 3) random digit sequences, ``-1`` past each one's length; 3-digit sequences in
    ``exclude`` are drawn again."""
    digits = np.full((n, SLOTS), -1, dtype=np.int64)
    for i in range(n):
        k = int(lengths[rng.integers(len(lengths))])
        seq = tuple(int(d) for d in rng.integers(0, 10, k))
        while k == SLOTS and seq in exclude:
            seq = tuple(int(d) for d in rng.integers(0, 10, k))
        digits[i, :k] = seq
    return digits


def spoken_strips(n: int, split: str = "train", seed: int = 0,
                  lengths: Sequence[int] = (1, 2, 3),
                  exclude: Sequence[tuple[int, ...]] = (),
                  sequences: Sequence[tuple[int, ...]] | None = None
                  ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``n`` strips of bundled MNIST digits with their spoken captions.

    Args:
        n: number of strips.
        split: ``"train"`` or ``"test"``: which bundled digits are drawn.
        seed: RNG seed (the same seed gives the same strips).
        lengths: the numbers of digits a strip may have (drawn uniformly), each 1 to 3.
        exclude: 3-digit sequences never drawn (e.g. :func:`held_out_sequences`).
        sequences: when given, each strip is one of these sequences (drawn uniformly) and
            ``lengths`` / ``exclude`` are ignored.

    Returns:
        ``(images, digits, captions)``: float32 (n, 1, 16, 48) in [0, 1]; int64 (n, 3) with
        ``-1`` for empty slots; n strings such as ``"three zero seven"``.

    Raises:
        ValueError: for an unknown split, a length outside 1-3, or an empty ``sequences``.
    """
    if any(not 1 <= int(k) <= SLOTS for k in lengths) or not len(lengths):
        raise ValueError(f"strip lengths must be 1 to {SLOTS} digits")
    glyphs, labels = digit_glyphs(split)
    rng = np.random.default_rng(seed)
    if sequences is not None:
        if not len(sequences):
            raise ValueError("sequences must hold at least one digit sequence")
        digits = np.full((n, SLOTS), -1, dtype=np.int64)
        for i, j in enumerate(rng.integers(0, len(sequences), n)):
            digits[i, :len(sequences[j])] = sequences[j]
    else:
        digits = _draw_digits(rng, n, lengths, set(map(tuple, exclude)))
    by_label = [np.flatnonzero(labels == d) for d in range(10)]
    images = np.zeros((n, 1, DIGIT_SIDE, DIGIT_SIDE * SLOTS), dtype=np.float32)
    for i, j in zip(*np.nonzero(digits >= 0)):
        pool = by_label[digits[i, j]]
        images[i, 0, :, j * DIGIT_SIDE:(j + 1) * DIGIT_SIDE] = glyphs[pool[rng.integers(len(pool))]]
    return images, digits, [spoken(d) for d in digits]


def as_rgb(images: torch.Tensor) -> torch.Tensor:
    """Grey images (B, 1, H, W) -> (B, 3, H, W), the three channels equal (a view); RGB
    images are returned as they are."""
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images
