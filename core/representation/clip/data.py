"""CLIP's two data sets, their vocabularies and zero-shot prompts, and typed-prompt parsing.

* ``scenes`` (:func:`make_data`): 32x32 scenes of one coloured shape
  (:func:`core.data.scenes.object_scenes`), four captions each. The compositions in
  :data:`HELD_OUT` never appear in training; zero-shot prompts are ``a red circle``, ...
* ``digits`` (:func:`make_strip_data`): 16x48 strips of one to three real MNIST digits
  (:func:`core.data.digit_strips.spoken_strips`) captioned ``three zero seven``; the 3-digit
  sequences in :data:`HELD_OUT_STRIPS` never appear in training; test strips use the bundled
  MNIST test digits. Zero-shot prompts are the 1,000 3-digit captions (strips) and ``zero`` ...
  ``nine`` (single digits).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import numpy as np
import torch

from core.checks import check_words
from core.data.captions import COLORS, NUMBER_WORDS, SHAPES, SIZES, Vocab
from core.data.digit_strips import all_sequences, held_out_sequences, spoken, spoken_strips
from core.data.scenes import COMBOS, SIDES, composition_name, object_captions, object_scenes

__all__ = ["DATASETS", "DIGIT_PROMPTS", "DIGIT_VOCAB", "HELD_OUT", "HELD_OUT_STRIPS", "IMAGE_SIZE",
           "KNOWN_WORDS", "MAX_WORDS", "N_TRAIN", "PER_COMBO_TEST", "PROMPTS", "SEEN",
           "STRIP_CAPTIONS", "STRIPS", "VOCAB", "VOCABS", "ClipData", "digit_gallery",
           "encode_captions", "gallery", "load_data", "make_data", "make_strip_data",
           "parse_prompts", "sample_batch", "tokenize"]

HELD_OUT = (("red", "triangle"), ("green", "cross"), ("blue", "circle"), ("yellow", "square"))
SEEN = tuple(c for c in COMBOS if c not in HELD_OUT)
MAX_WORDS = 8  # words per caption or prompt
IMAGE_SIZE = 32
N_TRAIN = 4000  # training scenes or strips in the pool
PER_COMBO_TEST = 20  # held-out test scenes per composition
VOCAB = Vocab([w for col in COLORS for shp in SHAPES for size in SIZES for side in SIDES
               for cap in object_captions(size, col, shp, side) for w in cap.split()])
PROMPTS = tuple(f"a {composition_name(c)}" for c in COMBOS)  # one zero-shot prompt per class
KNOWN_WORDS = tuple(w for w in VOCAB.itos if not w.startswith("<"))

DIGIT_VOCAB = Vocab(list(NUMBER_WORDS))
DIGIT_PROMPTS = NUMBER_WORDS  # zero-shot prompts for single digits
STRIPS = tuple(all_sequences())  # every 3-digit sequence, index = its value
STRIP_CAPTIONS = tuple(spoken(s) for s in STRIPS)
HELD_OUT_STRIPS = tuple(held_out_sequences())  # 100 3-digit sequences never trained on
N_STRIP_TEST = 200  # test strips of seen and of held-out sequences, each
PER_DIGIT_TEST = 20  # single-digit test strips per digit
VOCABS = {"scenes": VOCAB, "digits": DIGIT_VOCAB}
DATASETS = tuple(VOCABS)


def encode_captions(captions: list[list[str]], vocab: Vocab = VOCAB) -> torch.Tensor:
    """Each image's caption variants -> tokens (N, V, MAX_WORDS + 2)."""
    return torch.tensor([[vocab.encode(c, MAX_WORDS) for c in caps] for caps in captions],
                        dtype=torch.int64)


@dataclass
class ClipData:
    """Training pool (seen compositions / sequences only) and test images.

    Scenes: ``y_test`` indexes :data:`COMBOS`. Digits: ``x_test`` holds 3-digit strips,
    ``y_test`` their value (index into :data:`STRIPS`), and ``x_digit``, ``y_digit`` single
    digits with their value."""

    x_train: torch.Tensor  # (N, C, H, W)
    tok_train: torch.Tensor  # (N, V, L)
    x_test: torch.Tensor  # (M, C, H, W)
    y_test: torch.Tensor  # (M,)
    tok_test: torch.Tensor  # (M, V, L)
    x_digit: torch.Tensor | None = None  # (K, 1, 16, 48), digits only
    y_digit: torch.Tensor | None = None  # (K,)

    def to(self, device: torch.device) -> ClipData:
        """The same data on ``device``."""
        return ClipData(*(None if t is None else t.to(device) for t in vars(self).values()))


def make_data(seed: int, n_train: int = N_TRAIN, per_combo: int = PER_COMBO_TEST) -> ClipData:
    """Training scenes of :data:`SEEN` compositions (seed ``seed``) and ``per_combo`` test
    scenes of each of the 20 compositions (seed ``seed + 10_000``), grouped by composition."""
    x, _, caps = object_scenes(n_train, seed, list(SEEN))
    xs, ys, tcaps = [], [], []
    for k, combo in enumerate(COMBOS):
        xi, _, ci = object_scenes(per_combo, seed + 10_000 + k, [combo])
        xs.append(xi)
        ys += [k] * per_combo
        tcaps += ci
    return ClipData(torch.from_numpy(x), encode_captions(caps), torch.from_numpy(np.concatenate(xs)),
                    torch.tensor(ys), encode_captions(tcaps))


def _values(digits: np.ndarray) -> torch.Tensor:
    """(n, 3) digit sequences -> their values (n,) (the index into :data:`STRIPS`)."""
    return torch.from_numpy(digits @ np.array([100, 10, 1]))


def make_strip_data(seed: int, n_train: int = N_TRAIN) -> ClipData:
    """Training strips of one to three digits, never a sequence of :data:`HELD_OUT_STRIPS`
    (bundled MNIST training digits, seed ``seed``); test strips from the bundled test digits
    (seed ``seed + 10_000`` on): :data:`N_STRIP_TEST` of seen 3-digit sequences, then as many
    of held-out ones, and :data:`PER_DIGIT_TEST` single digits of each value, grouped by
    value."""
    x, _, caps = spoken_strips(n_train, "train", seed, exclude=HELD_OUT_STRIPS)
    held = set(HELD_OUT_STRIPS)
    seen = [s for s in STRIPS if s not in held]
    xa, da, ca = spoken_strips(N_STRIP_TEST, "test", seed + 10_000, sequences=seen)
    xb, db, cb = spoken_strips(N_STRIP_TEST, "test", seed + 10_001, sequences=HELD_OUT_STRIPS)
    xd = np.concatenate([spoken_strips(PER_DIGIT_TEST, "test", seed + 10_002 + d,
                                       sequences=[(d,)])[0] for d in range(10)])
    return ClipData(torch.from_numpy(x), encode_captions([[c] for c in caps], DIGIT_VOCAB),
                    torch.from_numpy(np.concatenate([xa, xb])),
                    _values(np.concatenate([da, db])),
                    encode_captions([[c] for c in ca + cb], DIGIT_VOCAB),
                    torch.from_numpy(xd), torch.arange(10).repeat_interleave(PER_DIGIT_TEST))


@functools.lru_cache(maxsize=2)
def load_data(data: str, seed: int) -> ClipData:
    """The data of ``data`` (``"scenes"`` or ``"digits"``) for ``seed``, drawn once per
    process (later runs with the same seed reuse it; do not modify it).

    Raises:
        ValueError: for an unknown data set.
    """
    if data == "scenes":
        return make_data(seed)
    if data == "digits":
        return make_strip_data(seed)
    raise ValueError(f"unknown data {data!r}; allowed: {', '.join(VOCABS)}")


def sample_batch(data: ClipData, batch_size: int, gen: torch.Generator
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """A random batch of training images, each with one of its caption variants:
    ``(images (B, C, H, W), tokens (B, L))``."""
    idx = torch.randint(len(data.x_train), (batch_size,), generator=gen).to(data.x_train.device)
    var = torch.randint(data.tok_train.shape[1], (batch_size,), generator=gen).to(idx.device)
    return data.x_train[idx], data.tok_train[idx, var]


# ---------------------------------------------------------------------------- prompts


def parse_prompts(text: str, max_prompts: int = 20, vocab: Vocab = VOCAB) -> list[str]:
    """Typed prompts, one per line or comma: lower-cased, punctuation other than commas
    dropped, each checked against ``vocab``. Nothing is evaluated.

    Raises:
        UnknownWords: naming the unknown words and listing the known ones.
        ValueError: for no prompt, too many prompts, or a prompt over MAX_WORDS words.
    """
    prompts = []
    for piece in re.split(r"[,\n;]", str(text)[:2000].lower()):
        words = re.sub(r"[^a-z ]", " ", piece).split()
        if words:
            prompts.append(" ".join(words))
    if not prompts:
        raise ValueError(f"type at least one description, e.g. {vocab_example(vocab)}")
    if len(prompts) > max_prompts:
        raise ValueError(f"type at most {max_prompts} descriptions (you typed {len(prompts)})")
    check_words([w for p in prompts for w in p.split()],
                [w for w in vocab.itos if not w.startswith("<")])
    long = [p for p in prompts if len(p.split()) > MAX_WORDS]
    if long:
        raise ValueError(f"a description has at most {MAX_WORDS} words ({long[0]!r} has "
                         f"{len(long[0].split())})")
    return prompts


def vocab_example(vocab: Vocab) -> str:
    """A prompt to suggest for ``vocab``."""
    return "three zero seven" if vocab is DIGIT_VOCAB else "a red circle"


def tokenize(prompts: list[str], vocab: Vocab = VOCAB) -> torch.Tensor:
    """Prompts (checked by :func:`parse_prompts`) -> tokens (n, MAX_WORDS + 2)."""
    return torch.tensor([vocab.encode(p, MAX_WORDS) for p in prompts], dtype=torch.int64)


def gallery(seed: int = 7, per_combo: int = 2) -> tuple[torch.Tensor, np.ndarray]:
    """Fixed test scenes for typed prompts: ``per_combo`` of every composition,
    ``(images (20 per_combo, 3, 32, 32), combo ids)``."""
    xs, ys = [], []
    for k, combo in enumerate(COMBOS):
        xs.append(object_scenes(per_combo, 50_000 + seed + k, [combo])[0])
        ys += [k] * per_combo
    return torch.from_numpy(np.concatenate(xs)), np.asarray(ys)


def digit_gallery(seed: int = 7, n_strips: int = 30) -> tuple[torch.Tensor, list[str]]:
    """Fixed test strips for typed prompts (bundled MNIST test digits): one single digit of
    each value 0-9, then ``n_strips`` strips of two or three digits;
    ``(images (10 + n_strips, 1, 16, 48), their captions)``."""
    singles = [spoken_strips(1, "test", 50_000 + seed + d, sequences=[(d,)])[0]
               for d in range(10)]
    xm, _, cm = spoken_strips(n_strips, "test", 51_000 + seed, lengths=(2, 3))
    return (torch.from_numpy(np.concatenate(singles + [xm])),
            list(NUMBER_WORDS) + cm)
