"""Coloured-shape scenes for the CLIP and segmentation pages, drawn by the renderer behind
``/captioning`` (:mod:`core.data.captions`: its colours, shapes, sizes and shape masks).

* :func:`object_scenes` — 32x32 scenes of **one** shape (a colour x shape *composition*, a size
  and a side), each with four captions that say more or less of it (``a red circle``,
  ``a big red circle``, ``a red circle on the left``, ``a big red circle on the left``). The
  composition is the class a zero-shot prompt names; a list of allowed compositions keeps some
  out of training.
* :func:`mask_scenes` — square scenes of several shapes at any size with their binary
  segmentation masks (the pixels of each object), optional pixel noise and clutter strokes
  (thin lines in the objects' colours that are *not* objects), for ``/segmentation``.
* :func:`attribute_phrases` — every phrase that names some of a colour, a shape and a size
  (``a red``, ``a big circle``, ``a big red circle``) in the captions' words: what a
  segmentation prompt asks for, worded the way the CLIP page's text encoder reads captions
  (:func:`phrase_index` maps a prompt's attribute indices to its phrase).

Reference for the shapes world: Kuhnle & Copestake, "ShapeWorld" (2017).
"""

from __future__ import annotations

import numpy as np
import torch

from core.data.captions import COLORS, SCENE, SHAPES, SIZES, render_scene, shape_mask

__all__ = ["COMBOS", "SIDES", "object_scenes", "object_captions", "mask_scenes",
           "composition_name", "attribute_phrases", "phrase_index"]

COMBOS = tuple((c, s) for c in COLORS for s in SHAPES)  # every colour x shape composition
SIDES = ("left", "right")


def composition_name(combo: tuple[str, str]) -> str:
    """``("red", "circle")`` -> ``"red circle"``."""
    return f"{combo[0]} {combo[1]}"


def attribute_phrases() -> list[str]:
    """Every phrase naming an optional colour, shape and size, in :func:`phrase_index` order:
    ``a [size] [colour] [shape]`` with unnamed words left out (``a`` alone when none is named).
    (len(COLORS) + 1) * (len(SHAPES) + 1) * (len(SIZES) + 1) phrases."""
    colors, sizes = (None, *COLORS), (None, *SIZES)
    return [" ".join(w for w in ("a", size, color, shape) if w)
            for color in colors for shape in (None, *SHAPES) for size in sizes]


def phrase_index(attrs: torch.Tensor) -> torch.Tensor:
    """Indices into :func:`attribute_phrases` of attribute triples (..., 3) int64
    ``(color, shape, size)``, indices into COLORS, SHAPES, SIZES with ``-1`` = unnamed ->
    (...,) int64."""
    color, shape, size = (attrs[..., i] + 1 for i in range(3))
    return (color * (len(SHAPES) + 1) + shape) * (len(SIZES) + 1) + size


def object_captions(size: str, color: str, shape: str, side: str) -> list[str]:
    """The four captions of a one-object scene, from least to most said."""
    return [f"a {color} {shape}", f"a {size} {color} {shape}",
            f"a {color} {shape} on the {side}", f"a {size} {color} {shape} on the {side}"]


def object_scenes(n: int, seed: int = 0, combos: list[tuple[str, str]] | None = None
                  ) -> tuple[np.ndarray, np.ndarray, list[list[str]]]:
    """``n`` random 32x32 scenes of one shape each, with light pixel noise.

    Args:
        n: number of scenes.
        seed: RNG seed (the same seed gives the same scenes).
        combos: the colour x shape compositions to draw from (default: all of :data:`COMBOS`).

    Returns:
        ``(images, combo_ids, captions)``: float32 (n, 3, 32, 32) in [0, 1]; int64 (n,) index
        into :data:`COMBOS`; for each scene its four captions (:func:`object_captions`).

    Raises:
        ValueError: for an empty or unknown list of compositions.
    """
    combos = list(COMBOS if combos is None else combos)
    if not combos or any(c not in COMBOS for c in combos):
        raise ValueError("combos must be a non-empty list of (colour, shape) pairs from COMBOS")
    rng = np.random.default_rng(seed)
    sizes = list(SIZES)
    images = np.empty((n, 3, SCENE, SCENE), dtype=np.float32)
    ids = np.empty(n, dtype=np.int64)
    captions = []
    for i in range(n):
        color, shape = combos[rng.integers(len(combos))]
        size = sizes[rng.integers(len(sizes))]
        side = SIDES[rng.integers(2)]
        r = SIZES[size]
        cx = rng.uniform(r + 1, 13) if side == "left" else rng.uniform(19, SCENE - 2 - r)
        cy = rng.uniform(r + 1, SCENE - 2 - r)
        images[i] = render_scene([(size, color, shape, cx, cy)], rng)
        ids[i] = COMBOS.index((color, shape))
        captions.append(object_captions(size, color, shape, side))
    return images, ids, captions


def _stroke(img: np.ndarray, rng: np.random.Generator, color: tuple[float, float, float],
            size: int) -> None:
    """Draw one straight 1-px line of random length and angle into ``img`` (3, S, S)."""
    length = rng.uniform(0.2, 0.45) * size
    angle = rng.uniform(0, np.pi)
    x0, y0 = rng.uniform(0, size, 2)
    t = np.linspace(0, 1, int(length * 2) + 2)
    xs = np.clip(np.round(x0 + np.cos(angle) * length * t), 0, size - 1).astype(int)
    ys = np.clip(np.round(y0 + np.sin(angle) * length * t), 0, size - 1).astype(int)
    for c in range(3):
        img[c, ys, xs] = color[c]


def mask_scenes(n: int, size: int = 48, n_objects: int = 2, noise: float = 0.03,
                clutter: int = 0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` scenes of ``n_objects`` random shapes with their binary masks.

    Shapes are scaled with the scene (half-width 3 or 6 pixels at 32x32) and may overlap;
    clutter strokes are drawn first, so an object covers them, and are background in the mask.

    Args:
        n: number of scenes; size: side in pixels (16 to 128).
        n_objects: shapes per scene (1 to 6).
        noise: standard deviation of the Gaussian pixel noise (0 to 0.5).
        clutter: thin distractor lines per scene in the objects' colours (0 to 12).
        seed: RNG seed.

    Returns:
        ``(images, masks)``: float32 (n, 3, size, size) in [0, 1] and float32
        (n, 1, size, size) in {0, 1} (1 = object).

    Raises:
        ValueError: for arguments out of range.
    """
    if not (16 <= size <= 128 and 1 <= n_objects <= 6 and 0 <= noise <= 0.5
            and 0 <= clutter <= 12):
        raise ValueError("mask_scenes needs 16 <= size <= 128, 1 to 6 objects, noise in "
                         "[0, 0.5] and 0 to 12 clutter strokes")
    rng = np.random.default_rng(seed)
    colors, sizes, scale = list(COLORS.values()), list(SIZES.values()), size / SCENE
    images = np.full((n, 3, size, size), 0.12, dtype=np.float32)
    masks = np.zeros((n, 1, size, size), dtype=np.float32)
    for i in range(n):
        for _ in range(clutter):
            _stroke(images[i], rng, colors[rng.integers(len(colors))], size)
        for _ in range(n_objects):
            r = max(2, int(round(sizes[rng.integers(len(sizes))] * scale)))
            cx, cy = rng.uniform(r + 1, size - 2 - r, 2)
            m = shape_mask(SHAPES[rng.integers(len(SHAPES))], cx, cy, r, size)
            color = colors[rng.integers(len(colors))]
            for c in range(3):
                images[i, c][m] = color[c]
            masks[i, 0][m] = 1.0
        if noise > 0:
            images[i] += rng.normal(0, noise, images[i].shape).astype(np.float32)
    return np.clip(images, 0, 1), masks
