"""Seq2seq arithmetic data: the questions and answers as symbols, the fixed held-out split,
and the symbol images (real MNIST digits and hand-drawn ``+``/``-`` strokes).

Shapes: questions ``(N, 3)`` rows ``(a, op, b)``; question symbols ``(N, 5)``; answer symbols
``(N, 4)``; symbol images ``(M, 1, 28, 28)`` in [0, 1].
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from core.sequences.seq2seq.train import Seq2SeqConfig

__all__ = ["A_LEN", "GO", "HOLDOUT_PER_OP", "MINUS", "PLUS", "POSITIONS", "QUESTION_RE", "Q_LEN",
           "SPLIT_SEED", "SYMBOLS", "SymbolBank", "decode_answer", "draw_operator",
           "encode_answers", "encode_questions", "format_question", "parse_question",
           "question_status", "split_questions", "symbol_bank", "true_answer"]

SYMBOLS = tuple("0123456789+-")  # shared alphabet of questions and answers
PLUS, MINUS = 10, 11
GO = 12  # decoder start token (text answers)
Q_LEN, A_LEN = 5, 4
POSITIONS = ("sign", "hundreds", "tens", "ones")
HOLDOUT_PER_OP = 1000  # of the 10,000 questions of each operator
SPLIT_SEED = 20240501  # fixed: the held-out questions never depend on the run's seed
QUESTION_RE = re.compile(r"^\s*(\d{1,2})\s*([+-])\s*(\d{1,2})\s*$", re.ASCII)


# --------------------------------------------------------------------------------- questions


def parse_question(text: str) -> tuple[int, int, int]:
    """Parse a typed question such as ``"45+23"`` or ``" 7 - 12 "`` (never evaluated as code).

    Returns:
        ``(a, op, b)`` with ``op`` 0 for ``+`` and 1 for ``-``.

    Raises:
        ValueError: with a sentence a user can act on, unless the text is two numbers of one or
            two digits joined by ``+`` or ``-``.
    """
    text = str(text)
    if len(text) > 40:
        raise ValueError("that is too long: type a question like 45+23 or 7-12")
    m = QUESTION_RE.match(text)
    if m is None:
        raise ValueError(f"{text.strip()[:20]!r} is not a question this model can read: type "
                         "two numbers from 0 to 99 joined by + or -, like 45+23 or 7-12")
    return int(m.group(1)), "+-".index(m.group(2)), int(m.group(3))


def format_question(a: int, op: int, b: int) -> str:
    """``(45, 0, 23)`` -> ``"45+23"``."""
    return f"{a}{'+-'[op]}{b}"


def true_answer(a: int, op: int, b: int) -> int:
    """The integer result of the question."""
    return a + b if op == 0 else a - b


def encode_questions(q: np.ndarray, reverse: bool = False) -> torch.Tensor:
    """Questions ``(N, 3)`` rows ``(a, op, b)`` -> symbol ids ``(N, 5)``: ``a1 a0 op b1 b0``.

    With ``reverse`` the five symbols are fed back to front.
    """
    q = np.asarray(q, dtype=np.int64).reshape(-1, 3)
    a, op, b = q[:, 0], q[:, 1], q[:, 2]
    toks = np.stack([a // 10, a % 10, PLUS + op, b // 10, b % 10], 1)
    if reverse:
        toks = toks[:, ::-1].copy()
    return torch.from_numpy(toks)


def encode_answers(q: np.ndarray) -> torch.Tensor:
    """Questions ``(N, 3)`` -> answer symbol ids ``(N, 4)``: sign, hundreds, tens, ones."""
    q = np.asarray(q, dtype=np.int64).reshape(-1, 3)
    r = np.where(q[:, 1] == 0, q[:, 0] + q[:, 2], q[:, 0] - q[:, 2])
    mag = np.abs(r)
    sign = np.where(r < 0, MINUS, PLUS)
    return torch.from_numpy(np.stack([sign, mag // 100, mag // 10 % 10, mag % 10], 1))


def decode_answer(tokens: torch.Tensor | np.ndarray | list[int]) -> str:
    """Answer symbol ids ``(4,)`` -> readable text: ``[10, 0, 6, 8]`` -> ``"68"``, a minus sign
    kept, leading zeros dropped; symbols out of place are shown as they are (``"+6-8"``)."""
    s = "".join(SYMBOLS[int(t)] for t in tokens)
    if s[0] in "+-" and s[1:].isdigit():
        return ("-" if s[0] == "-" and int(s[1:]) else "") + str(int(s[1:]))
    return s


def split_questions(cfg: Seq2SeqConfig) -> tuple[np.ndarray, np.ndarray]:
    """The run's training pool and the fixed held-out questions, each ``(N, 3)`` int64.

    For each operator the 10,000 pairs ``(a, b)`` are shuffled with a fixed seed
    (:data:`SPLIT_SEED`); the first :data:`HOLDOUT_PER_OP` are held out for every run, and the
    training pool is the first ``train_fraction`` of the other 9,000.
    """
    train, held = [], []
    for op in cfg.op_ids:
        pairs = np.stack(np.meshgrid(np.arange(100), np.arange(100), indexing="ij"), -1)
        pairs = pairs.reshape(-1, 2)[np.random.default_rng(SPLIT_SEED + op).permutation(10000)]
        qs = np.concatenate([pairs[:, :1], np.full((10000, 1), op), pairs[:, 1:]], 1)
        held.append(qs[:HOLDOUT_PER_OP])
        n = max(1, int(round(cfg.train_fraction * (10000 - HOLDOUT_PER_OP))))
        train.append(qs[HOLDOUT_PER_OP:HOLDOUT_PER_OP + n])
    return np.concatenate(train).astype(np.int64), np.concatenate(held).astype(np.int64)


def question_status(cfg: Seq2SeqConfig, a: int, op: int, b: int) -> str:
    """``"unseen"`` (held out), ``"seen"`` (in the training pool), ``"unused"`` (neither: the
    operator is not trained or ``train_fraction`` < 1 left it out)."""
    if op not in cfg.op_ids:
        return "unused"
    train, held = split_questions(cfg)
    row = np.array([a, op, b])
    if (held == row).all(1).any():
        return "unseen"
    return "seen" if (train == row).all(1).any() else "unused"


# ------------------------------------------------------------------------------- images


def draw_operator(op: int, rng: np.random.Generator) -> np.ndarray:
    """A hand-drawn-looking ``+`` (op 0) or ``-`` (op 1): (28, 28) float32 in [0, 1].

    Strokes of random length, thickness, tilt and position, blurred like MNIST's anti-aliasing.
    """
    from PIL import Image, ImageDraw, ImageFilter

    img = Image.new("L", (28, 28), 0)
    d = ImageDraw.Draw(img)
    cx, cy = 14 + rng.uniform(-2, 2), 14 + rng.uniform(-2, 2)
    half = rng.uniform(5.5, 9.0)
    width = int(rng.integers(2, 4))
    tilt = rng.uniform(-0.2, 0.2)
    dx, dy = half * math.cos(tilt), half * math.sin(tilt)
    d.line([(cx - dx, cy - dy), (cx + dx, cy + dy)], fill=255, width=width)
    if op == 0:
        half2 = half * rng.uniform(0.85, 1.15)
        t2 = tilt + math.pi / 2 + rng.uniform(-0.15, 0.15)
        dx, dy = half2 * math.cos(t2), half2 * math.sin(t2)
        d.line([(cx - dx, cy - dy), (cx + dx, cy + dy)], fill=255, width=width)
    img = img.filter(ImageFilter.GaussianBlur(0.7))
    a = np.asarray(img, dtype=np.float32) / 255.0
    return np.clip(a / max(a.max(), 1e-6), 0, 1)


@dataclass
class SymbolBank:
    """Images of the 12 symbols, sorted by symbol: ``x`` (M, 1, 28, 28) in [0, 1], and for
    symbol ``s`` the rows ``start[s] : start[s] + count[s]``."""

    x: torch.Tensor
    start: torch.Tensor
    count: torch.Tensor

    def sample(self, symbols: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
        """A random image of every symbol id in ``symbols`` (any shape S): (\\*S, 1, 28, 28)."""
        u = torch.rand(symbols.shape, generator=gen)
        s = symbols.cpu()
        idx = self.start[s] + (u * self.count[s]).long()
        return self.x[idx]

    def templates(self) -> torch.Tensor:
        """The mean image of each symbol: (12, 784)."""
        return torch.stack([self.x[int(a):int(a) + int(n)].mean(0).reshape(-1)
                            for a, n in zip(self.start, self.count)])


@functools.lru_cache(maxsize=2)
def symbol_bank(split: str) -> SymbolBank:
    """Real MNIST digits of ``split`` (4,000 train / 1,000 test) plus 300 (train) or 100 (test)
    drawn images of each operator. Cached; do not modify."""
    from core.data import load_images

    d = load_images("mnist", split)
    n_op = 300 if split == "train" else 100
    rng = np.random.default_rng(1 if split == "train" else 2)
    xs, ys = [d.x], [d.y]
    for op in (0, 1):
        ops = np.stack([draw_operator(op, rng) for _ in range(n_op)])[:, None]
        xs.append(torch.from_numpy(ops))
        ys.append(torch.full((n_op,), PLUS + op, dtype=torch.int64))
    x, y = torch.cat(xs), torch.cat(ys)
    order = torch.argsort(y, stable=True)
    x, y = x[order].contiguous(), y[order]
    count = torch.bincount(y, minlength=len(SYMBOLS))
    start = torch.cumsum(count, 0) - count
    return SymbolBank(x, start, count)
