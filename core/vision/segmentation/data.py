"""Scenes and prompts for ``/segmentation``.

* :func:`make_binary_data` — every object is foreground (:func:`core.data.scenes.mask_scenes`).
* :func:`prompted_scenes` — the same kind of scenes (the renderer behind ``/captioning``:
  :mod:`core.data.captions`' colors, shapes and sizes; clutter strokes and pixel noise as in
  ``mask_scenes``) that also keep, per pixel, which object is on top and, per object, its color,
  shape and size, so that a prompt such as ``"segment the red circles"`` selects a mask.
* Prompts name at most one color, one shape and one size, and at least a color or a shape; as
  tensors they are (B, 3) int64 ``(color, shape, size)`` indices into :data:`COLOR_WORDS`,
  :data:`SHAPES`, :data:`SIZE_WORDS`, ``-1`` where unnamed. :func:`parse_prompt` reads typed
  text (never evaluated), :func:`sample_prompts` draws training prompts, :func:`prompt_masks`
  gives the mask of the objects a prompt names.

Reference for the task: Lüddecke & Ecker, "Image Segmentation Using Text and Image Prompts"
(CLIPSeg), CVPR 2022; the shapes world: Kuhnle & Copestake, "ShapeWorld" (2017).
"""

from __future__ import annotations

import re

import numpy as np
import torch

from core.checks import check_words
from core.data.captions import COLORS, SCENE, SHAPES, SIZES, shape_mask
from core.data.scenes import (
    _stroke,  # the clutter strokes of mask_scenes, drawn the same way
    mask_scenes,
)

__all__ = ["KNOWN_WORDS", "parse_prompt", "prompt_masks", "prompt_text", "prompted_scenes",
           "sample_prompts"]

COLOR_WORDS = tuple(COLORS)
SIZE_WORDS = tuple(SIZES)
ATTRIBUTES = (("color", COLOR_WORDS), ("shape", SHAPES), ("size", SIZE_WORDS))
PROMPT_WORDS = (*COLOR_WORDS, *SHAPES, *SIZE_WORDS)  # the prompt encoder's words, in order
WORD_OFFSETS = (0, len(COLOR_WORDS), len(COLOR_WORDS) + len(SHAPES))  # of each attribute
PLURALS = {f"{s}es" if s.endswith("s") else f"{s}s": s for s in SHAPES}  # "crosses" -> "cross"
FILLER = ("segment", "the", "a", "all", "every", "object", "objects")  # read and ignored
KNOWN_WORDS = (*PROMPT_WORDS, *PLURALS, *FILLER)
# which attributes a sampled training prompt names: color, shape, color+shape, ... (size alone
# is too vague to be useful and is never asked)
FORMS = torch.tensor([[1, 0, 0], [0, 1, 0], [1, 1, 0], [1, 0, 1], [0, 1, 1], [1, 1, 1]],
                     dtype=torch.bool)
RANDOM_SHARE = 0.15  # training prompts with random attributes (often naming nothing present)


def make_binary_data(size: int, n_objects: int, noise: float, clutter: int, seed: int,
                     n_train: int, n_test: int) -> tuple[torch.Tensor, ...]:
    """``(x_train, y_train, x_test, y_test)`` of :func:`core.data.scenes.mask_scenes`: images
    (N, 3, S, S) and masks of every object (N, 1, S, S); the test scenes use ``seed +
    10_000``."""
    kw = {"size": size, "n_objects": n_objects, "noise": noise, "clutter": clutter}
    xtr, ytr = mask_scenes(n_train, seed=seed, **kw)
    xte, yte = mask_scenes(n_test, seed=seed + 10_000, **kw)
    return tuple(torch.from_numpy(a) for a in (xtr, ytr, xte, yte))


def prompted_scenes(n: int, size: int = 48, n_objects: int = 3, noise: float = 0.05,
                    clutter: int = 0, seed: int = 0
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``n`` scenes of ``n_objects`` random shapes that remember which object is where.

    Drawn as :func:`core.data.scenes.mask_scenes` draws them (shapes scaled with the scene,
    clutter strokes first and background, Gaussian pixel noise), with every object's color,
    shape and size drawn at random and kept.

    Returns:
        ``(images, ids, attrs)``: float32 (n, 3, size, size) in [0, 1]; int64 (n, size, size),
        the index of the object on top at each pixel, ``-1`` for background; int64
        (n, n_objects, 3), each object's ``(color, shape, size)`` indices.

    Raises:
        ValueError: for arguments out of range (as ``mask_scenes``).
    """
    mask_scenes(0, size, n_objects, noise, clutter)  # the same checks, same message
    rng = np.random.default_rng(seed)
    palette = [np.asarray(COLORS[c], dtype=np.float32)[:, None] for c in COLOR_WORDS]
    images = np.full((n, 3, size, size), 0.12, dtype=np.float32)
    ids = np.full((n, size, size), -1, dtype=np.int64)
    attrs = np.empty((n, n_objects, 3), dtype=np.int64)
    for i in range(n):
        for _ in range(clutter):
            _stroke(images[i], rng, COLORS[COLOR_WORDS[rng.integers(len(COLOR_WORDS))]], size)
        for k in range(n_objects):
            attrs[i, k] = rng.integers(len(COLOR_WORDS)), rng.integers(len(SHAPES)), \
                rng.integers(len(SIZE_WORDS))
            r = max(2, int(round(SIZES[SIZE_WORDS[attrs[i, k, 2]]] * size / SCENE)))
            cx, cy = rng.uniform(r + 1, size - 2 - r, 2)
            m = shape_mask(SHAPES[attrs[i, k, 1]], cx, cy, r, size)
            images[i][:, m] = palette[attrs[i, k, 0]]
            ids[i][m] = k
        if noise > 0:
            images[i] += rng.normal(0, noise, images[i].shape).astype(np.float32)
    return (torch.from_numpy(np.clip(images, 0, 1)), torch.from_numpy(ids),
            torch.from_numpy(attrs))


def sample_prompts(attrs: torch.Tensor, gen: torch.Generator,
                   random_share: float = RANDOM_SHARE) -> torch.Tensor:
    """One prompt per scene: a random object's color, shape, size or a combination
    (:data:`FORMS`), or, for ``random_share`` of the scenes, random values of those attributes
    (which may name nothing in the scene: the answer is then an empty mask).

    Args:
        attrs: (B, K, 3) int64 object attributes (CPU), as :func:`prompted_scenes` returns.
        gen: the CPU generator to draw from.

    Returns:
        prompts (B, 3) int64, ``-1`` where an attribute is not named.
    """
    b, k, _ = attrs.shape
    target = attrs[torch.arange(b), torch.randint(k, (b,), generator=gen)]
    n_values = torch.tensor([len(v) for _, v in ATTRIBUTES])
    rand = (torch.rand(b, 3, generator=gen) * n_values).long()
    values = torch.where(torch.rand(b, 1, generator=gen) < random_share, rand, target)
    form = FORMS[torch.randint(len(FORMS), (b,), generator=gen)]
    return torch.where(form, values, -1)


def prompt_masks(ids: torch.Tensor, attrs: torch.Tensor, prompts: torch.Tensor) -> torch.Tensor:
    """The mask of the visible pixels of every object the prompt names.

    Args:
        ids: (B, S, S) int64, object on top per pixel (``-1`` background).
        attrs: (B, K, 3) int64 object attributes; prompts: (B, 3) int64 (``-1`` = unnamed).

    Returns:
        float32 (B, 1, S, S) in {0, 1}.
    """
    named = prompts[:, None, :]
    match = ((attrs == named) | (named < 0)).all(-1)  # (B, K): the object fits the prompt
    match = torch.cat([match, match.new_zeros(len(match), 1)], 1)  # index K = background
    top = torch.where(ids < 0, attrs.shape[1], ids).flatten(1)
    return match.gather(1, top).view(ids.shape[0], 1, *ids.shape[1:]).float()


def prompt_text(prompt: torch.Tensor | tuple[int, int, int]) -> str:
    """``(0, 0, -1)`` -> ``"red circle"``; a prompt without a shape says ``objects``."""
    color, shape, size = (int(v) for v in prompt)
    words = [SIZE_WORDS[size]] if size >= 0 else []
    words += [COLOR_WORDS[color]] if color >= 0 else []
    words += [SHAPES[shape] if shape >= 0 else "objects"]
    return " ".join(words)


def parse_prompt(text: str) -> tuple[int, int, int]:
    """Typed text -> ``(color, shape, size)`` indices (``-1`` where unnamed): lower-cased,
    punctuation dropped, plurals read as the shape, filler words (``segment the ...``) ignored.
    Nothing is evaluated.

    Raises:
        UnknownWords: naming the unknown words and listing the known ones.
        ValueError: for two values of one attribute, or a prompt naming no color and no shape.
    """
    words = re.sub(r"[^a-z ]", " ", str(text)[:300].lower()).split()
    check_words(words, KNOWN_WORDS)
    words = [PLURALS.get(w, w) for w in words if w not in FILLER]
    values = []
    for what, options in ATTRIBUTES:
        named = list(dict.fromkeys(w for w in words if w in options))
        if len(named) > 1:
            raise ValueError(f"name at most one {what} (you typed {' and '.join(named)})")
        values.append(options.index(named[0]) if named else -1)
    if values[0] < 0 and values[1] < 0:
        raise ValueError("name a color or a shape, e.g. segment the red circles")
    return values[0], values[1], values[2]
