"""Offline image-captioning data: colored-shape scenes and MNIST digit strips, captioned in words.

* :func:`shape_scenes` — generated 32x32 RGB scenes of two colored shapes with captions such as
  ``a small red circle left of a big blue square``. The caption is a deterministic function of the
  image (objects are named in reading order: the left one first for ``left of``, the top one
  first for ``above``), so exact match is reachable. ``style="long"`` (10 words) names the sizes,
  ``style="short"`` (6 words) does not.
* :func:`digit_strips` — strips of five 28x28 glyphs (two MNIST digits, a drawn ``+`` or ``-``,
  two MNIST digits), 28x140 grey, captioned ``four five plus two three``. Training strips use the
  bundled MNIST training digits, held-out strips the bundled test digits, so held-out images are
  never seen in training.
* :func:`load_captions` — one entry point returning train and held-out :class:`CaptionData` with a
  shared :class:`Vocab`; the split is fixed by ``seed`` (the same seed gives the same split).
  ``flickr8k`` / ``coco`` use torchvision's ``Flickr8k`` / ``CocoCaptions`` when their files are
  under ``data_root()/flickr8k`` or ``data_root()/coco``; otherwise they fall back to ``shapes``
  with a one-line ``note``.

Reference for the task: Vinyals et al., "Show and Tell: A Neural Image Caption Generator"
(CVPR 2015); the shapes world follows the synthetic "ShapeWorld" style of Kuhnle & Copestake
(2017).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from core.checks import check_choice

__all__ = ["Vocab", "CaptionData", "CAPTION_DATASETS", "COLORS", "SHAPES", "SIZES",
           "RELATIONS", "NUMBER_WORDS", "shape_scenes", "digit_strips", "load_captions",
           "render_scene", "compose_scene", "scene_caption", "shape_mask"]

CAPTION_DATASETS = ("shapes", "digits", "flickr8k", "coco")
COLORS = {"red": (0.95, 0.15, 0.1), "green": (0.1, 0.85, 0.2), "blue": (0.2, 0.35, 1.0),
           "yellow": (0.95, 0.9, 0.1), "white": (0.95, 0.95, 0.95)}
SHAPES = ("circle", "square", "triangle", "cross")
SIZES = {"small": 3, "big": 6}  # half-width in pixels
RELATIONS = ("left of", "above")
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SCENE = 32  # scene side in pixels


class Vocab:
    """Word <-> id mapping with the special tokens ``<pad>=0, <bos>=1, <eos>=2, <unk>=3``."""

    def __init__(self, words: list[str]) -> None:
        self.itos = [PAD, BOS, EOS, UNK] + sorted(set(words) - {PAD, BOS, EOS, UNK})
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    pad, bos, eos, unk = 0, 1, 2, 3

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, caption: str, max_len: int) -> list[int]:
        """``"a red circle"`` -> ``[bos, a, red, circle, eos, pad, ...]`` (length max_len + 2)."""
        ids = [self.stoi.get(w, self.unk) for w in caption.split()][:max_len]
        ids = [self.bos] + ids + [self.eos]
        return ids + [self.pad] * (max_len + 2 - len(ids))

    def decode(self, ids: list[int] | torch.Tensor) -> str:
        """Token ids -> words, stopping at ``<eos>``; ``<bos>``/``<pad>`` are skipped."""
        out = []
        for i in (ids.tolist() if isinstance(ids, torch.Tensor) else ids):
            if i == self.eos:
                break
            if i in (self.pad, self.bos):
                continue
            out.append(self.itos[i] if 0 <= i < len(self.itos) else UNK)
        return " ".join(out)


@dataclass
class CaptionData:
    """One split of a captioning set.

    Attributes:
        images: float32 tensor (N, C, H, W) in [0, 1].
        tokens: int64 tensor (N, L + 2): ``<bos> words <eos> <pad>...`` (teacher-forcing targets).
        captions: the N reference captions as strings.
        vocab: the shared :class:`Vocab`.
        grid: (rows, cols) of the encoder's region grid suited to these images.
        name: dataset actually loaded; note: one line for the page after a fallback, else None.
    """

    images: torch.Tensor
    tokens: torch.Tensor
    captions: list[str]
    vocab: Vocab
    grid: tuple[int, int]
    name: str
    note: str | None = None
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.captions)


# ------------------------------------------------------------------------------- shapes


def shape_mask(kind: str, cx: float, cy: float, r: int, size: int = SCENE) -> np.ndarray:
    """Boolean (size, size) mask of one shape centred at (cx, cy) with half-width r pixels."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    dx, dy = xx - cx, yy - cy
    if kind == "circle":
        return dx * dx + dy * dy <= (r + 0.5) ** 2
    if kind == "square":
        return (np.abs(dx) <= r - 0.5) & (np.abs(dy) <= r - 0.5)
    if kind == "triangle":  # apex up: width grows linearly from top to bottom
        return (dy >= -r) & (dy <= r) & (np.abs(dx) <= (dy + r) / 2 + 0.5)
    if kind == "cross":
        t = max(1.0, r / 2.5)
        return ((np.abs(dx) <= t) & (np.abs(dy) <= r)) | ((np.abs(dy) <= t) & (np.abs(dx) <= r))
    raise ValueError(f"unknown shape {kind!r}; allowed: {', '.join(SHAPES)}")


def render_scene(objects: list[tuple[str, str, str, float, float]],
                 rng: np.random.Generator | None = None) -> np.ndarray:
    """Draw objects ``(size, color, shape, cx, cy)`` on a dark 32x32 background.

    Returns:
        float32 array (3, 32, 32) in [0, 1], with a little pixel noise when ``rng`` is given.
    """
    img = np.full((3, SCENE, SCENE), 0.12, dtype=np.float32)
    for size, color, shape, cx, cy in objects:
        m = shape_mask(shape, cx, cy, SIZES[size])
        for c in range(3):
            img[c][m] = COLORS[color][c]
    if rng is not None:
        img += rng.normal(0, 0.03, img.shape).astype(np.float32)
    return np.clip(img, 0, 1)


def _describe(size: str, color: str, shape: str, style: str) -> str:
    return f"a {size} {color} {shape}" if style == "long" else f"{color} {shape}"


def scene_caption(first: tuple[str, str, str], second: tuple[str, str, str], relation: str,
                  style: str = "long") -> str:
    """The caption of a scene of two objects ``(size, color, shape)``, ``first`` left of or
    above ``second``: ``a small red circle left of a big blue square`` (``style="long"``) or
    ``red circle left of blue square`` (``"short"``).

    Raises:
        ValueError: for an unknown relation or style.
    """
    check_choice("relation", relation, RELATIONS)
    if style not in ("long", "short"):
        raise ValueError(f"unknown caption style {style!r}; allowed: long, short")
    return f"{_describe(*first, style)} {relation} {_describe(*second, style)}"


def compose_scene(first: tuple[str, str, str], second: tuple[str, str, str],
                  relation: str) -> np.ndarray:
    """Draw two objects ``(size, color, shape)`` at fixed places, ``first`` centred in the left
    (``left of``) or top (``above``) half: float32 (3, 32, 32) in [0, 1], no noise.

    Raises:
        ValueError: for an unknown relation, size, color or shape.
    """
    check_choice("relation", relation, RELATIONS)
    for size, color, _ in (first, second):
        if size not in SIZES or color not in COLORS:
            raise ValueError(f"unknown size or color {size!r}, {color!r}; allowed: "
                             f"{', '.join(SIZES)}; {', '.join(COLORS)}")
    a0, a1 = ((8.0, 16.0), (24.0, 16.0)) if relation == "left of" else ((16.0, 8.0), (16.0, 24.0))
    return render_scene([(*first, *a0), (*second, *a1)])


def shape_scenes(n: int, seed: int = 0, style: str = "long") -> tuple[np.ndarray, list[str]]:
    """``n`` random two-object scenes and their captions.

    Layout: side by side (caption ``X left of Y``, X the left object) or stacked (``X above Y``,
    X the top object); the other coordinate stays near the centre so the relation is
    unambiguous. Sizes, colors and shapes are drawn uniformly and independently.

    Args:
        n: number of scenes.
        seed: RNG seed (the same seed gives the same scenes).
        style: ``"long"`` (``a small red circle left of a big blue square``, 10 words) or
            ``"short"`` (``red circle left of blue square``, 6 words).

    Returns:
        ``(images, captions)``: float32 (n, 3, 32, 32) in [0, 1] and n strings.

    Raises:
        ValueError: for an unknown style.
    """
    if style not in ("long", "short"):
        raise ValueError(f"unknown caption style {style!r}; allowed: long, short")
    rng = np.random.default_rng(seed)
    colors, sizes = list(COLORS), list(SIZES)
    images = np.empty((n, 3, SCENE, SCENE), dtype=np.float32)
    captions = []
    for i in range(n):
        objs = []
        for _ in range(2):
            objs.append((sizes[rng.integers(2)], colors[rng.integers(len(colors))],
                         SHAPES[rng.integers(len(SHAPES))]))
        horizontal = bool(rng.integers(2))
        placed = []
        for k, (size, color, shape) in enumerate(objs):
            r = SIZES[size]
            along = rng.uniform(r + 1, 15 - r) if k == 0 else rng.uniform(17 + r, SCENE - 2 - r)
            across = rng.uniform(16 - 3, 16 + 3)
            cx, cy = (along, across) if horizontal else (across, along)
            placed.append((size, color, shape, cx, cy))
        images[i] = render_scene(placed, rng)
        captions.append(scene_caption(objs[0], objs[1], "left of" if horizontal else "above",
                                      style))
    return images, captions


# ------------------------------------------------------------------------------- digits


def _operator_glyph(op: str, rng: np.random.Generator) -> np.ndarray:
    """A hand-drawn-looking 28x28 ``+`` or ``-`` glyph in [0, 1] (random stroke and offset)."""
    g = np.zeros((28, 28), dtype=np.float32)
    c = 14 + rng.integers(-2, 3, size=2)
    half, t = int(rng.integers(6, 10)), int(rng.integers(1, 3))
    g[c[0] - t:c[0] + t + 1, c[1] - half:c[1] + half + 1] = 1.0
    if op == "+":
        g[c[0] - half:c[0] + half + 1, c[1] - t:c[1] + t + 1] = 1.0
    return g


def digit_strips(n: int, split: str = "train", seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """``n`` strips ``d d op d d`` of bundled MNIST digits with word captions.

    Args:
        n: number of strips.
        split: ``"train"`` (bundled MNIST training digits) or ``"test"`` (its held-out digits).
        seed: RNG seed for the digit choice and the operator glyphs.

    Returns:
        ``(images, captions)``: float32 (n, 1, 28, 140) in [0, 1] and strings like
        ``four five plus two three``.
    """
    from core.data import load_images

    d = load_images("mnist", split)
    x, y = d.x[:, 0].numpy(), d.y.numpy()
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 1, 28, 140), dtype=np.float32)
    captions = []
    for i in range(n):
        idx = rng.integers(0, len(y), size=4)
        op = "+" if rng.integers(2) else "-"
        glyphs = [x[idx[0]], x[idx[1]], _operator_glyph(op, rng), x[idx[2]], x[idx[3]]]
        images[i, 0] = np.concatenate(glyphs, axis=1)
        words = [NUMBER_WORDS[y[idx[0]]], NUMBER_WORDS[y[idx[1]]],
                 "plus" if op == "+" else "minus", NUMBER_WORDS[y[idx[2]]],
                 NUMBER_WORDS[y[idx[3]]]]
        captions.append(" ".join(words))
    return images, captions


# --------------------------------------------------------------------- optional real sets


def _torchvision_captions(name: str, n_train: int, n_test: int, seed: int
                          ) -> tuple[np.ndarray, list[str], np.ndarray, list[str]]:
    """COCO / Flickr8k through torchvision when the files are local (first caption per image,
    resized to 64x64, lower-cased, at most 16 words). Raises when they are not there."""
    import torchvision
    from torchvision.transforms import v2

    from core.data import data_root

    root = data_root() / name
    tf = v2.Compose([v2.ToImage(), v2.Resize((64, 64)), v2.ToDtype(torch.float32, scale=True)])
    if name == "flickr8k":
        ds = torchvision.datasets.Flickr8k(str(root / "Flicker8k_Dataset"),
                                           str(root / "Flickr8k.token.txt"), transform=tf)
    else:
        ds = torchvision.datasets.CocoCaptions(str(root / "val2017"),
                                               str(root / "annotations" / "captions_val2017.json"),
                                               transform=tf)
    order = np.random.default_rng(seed).permutation(len(ds))[: n_train + n_test]
    imgs, caps = [], []
    for i in order:
        img, texts = ds[int(i)]
        words = "".join(ch if ch.isalnum() or ch == " " else " " for ch in texts[0].lower())
        imgs.append(img.numpy())
        caps.append(" ".join(words.split()[:16]))
    imgs_a = np.stack(imgs)
    k = len(caps) - n_test
    return imgs_a[:k], caps[:k], imgs_a[k:], caps[k:]


# ------------------------------------------------------------------------------ loader


def load_captions(name: str = "shapes", n_train: int = 4000, n_test: int = 500, seed: int = 0,
                  style: str = "long") -> tuple[CaptionData, CaptionData]:
    """Train and held-out captioning splits with a shared vocabulary.

    Args:
        name: one of :data:`CAPTION_DATASETS`.
        n_train: training images; n_test: held-out images.
        seed: fixes the scenes/strips and so the split (held-out scenes use ``seed + 10_000``,
            held-out strips the bundled MNIST test digits).
        style: caption style for ``shapes`` (``long`` or ``short``).

    Returns:
        ``(train, test)`` :class:`CaptionData`; ``train.note`` says so when a real set was asked
        for but is not available locally (it then holds ``shapes``).

    Raises:
        ValueError: for an unknown name or non-positive sizes.
    """
    check_choice("captioning set", name, CAPTION_DATASETS)
    if n_train < 1 or n_test < 1:
        raise ValueError("n_train and n_test must be positive")
    note = None
    grid = (4, 4)
    if name in ("flickr8k", "coco"):
        try:
            xtr, ctr, xte, cte = _torchvision_captions(name, n_train, n_test, seed)
            grid = (4, 4)
        except (OSError, ImportError, RuntimeError, ValueError) as e:  # files or pycocotools
            # missing, a broken file
            note = (f"{name} captions are not available here ({type(e).__name__}); showing the "
                    "generated shapes scenes instead.")
            name = "shapes"
    if name == "shapes":
        xtr, ctr = shape_scenes(n_train, seed, style)
        xte, cte = shape_scenes(n_test, seed + 10_000, style)
    elif name == "digits":
        xtr, ctr = digit_strips(n_train, "train", seed)
        xte, cte = digit_strips(n_test, "test", seed + 10_000)
        grid = (2, 10)  # two columns of regions per glyph
    vocab = Vocab([w for c in ctr for w in c.split()])
    max_len = max(len(c.split()) for c in ctr + cte)

    def make(x: np.ndarray, caps: list[str]) -> CaptionData:
        toks = torch.tensor([vocab.encode(c, max_len) for c in caps], dtype=torch.int64)
        return CaptionData(torch.from_numpy(np.ascontiguousarray(x)), toks, caps, vocab, grid,
                           name, note)

    return make(xtr, ctr), make(xte, cte)
