"""What the page asks of a model: the untrained model's preview, and a typed question checked,
decoded greedily and returned with its attention maps."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from core.protocol import eval_mode
from core.sequences.transformer.data import (
    ARITH_TASKS,
    N_EXAMPLES,
    SEQ_TASKS,
    TaskData,
    arith_answer,
    decode,
    encode,
    layout,
    seq_answer,
)
from core.sequences.transformer.evaluation import generate
from core.sequences.transformer.model import GPT, build_model

__all__ = ["Decoding", "Preview", "decode_typed", "parse_prompt", "preview", "reading_order",
           "true_answer"]

if TYPE_CHECKING:
    from core.sequences.transformer.train import TransformerConfig

def parse_prompt(task: str, length: int, text: str) -> str:
    """Check a typed question and return the prompt string the model reads (ending in ``=``).

    Sequence tasks take exactly ``length`` digits (``31415926``); arithmetic tasks take
    ``a+b`` (or ``a-b`` for addsub) with one- or two-digit numbers, padded to ``45+07=``.
    Spaces and a trailing ``=`` are ignored. The text is only matched against patterns, never
    evaluated.

    Raises:
        ValueError: with a sentence naming what is wrong and what is allowed.
    """
    s = "".join(str(text).split())
    if s.endswith("="):
        s = s[:-1]
    if not s:
        raise ValueError("type a question first")
    if len(s) > 40:
        raise ValueError("that is too long for this model")
    if task in SEQ_TASKS:
        bad = sorted({c for c in s if c not in "0123456789"})
        if bad:
            raise ValueError(f"{', '.join(repr(c) for c in bad)} is outside this task's alphabet:"
                             f" type {length} digits 0-9, e.g. {'31415926535'[:length]}")
        if len(s) != length:
            raise ValueError(f"this model was trained on {length} digits; you typed {len(s)}")
        return s + "="
    ops = "+" if task == "add" else "+-"
    bad = sorted({c for c in s if c not in "0123456789" + ops})
    if bad:
        raise ValueError(f"{', '.join(repr(c) for c in bad)} is outside this task's alphabet: "
                         f"digits 0-9 and {' '.join(ops)}")
    m = re.fullmatch(r"(\d{1,2})([+-])(\d{1,2})", s)
    if not m:
        example = "45+23" if task == "add" else "45+23 or 23-45"
        raise ValueError(f"type two numbers from 0 to 99 with {' or '.join(ops)} between them, "
                         f"e.g. {example}")
    return f"{int(m.group(1)):02d}{m.group(2)}{int(m.group(3)):02d}="


def reading_order(task: str, answer: str, reverse_answer: bool) -> str:
    """The answer as a person reads it: un-reversed, ``068`` -> ``68``, ``+05`` -> ``5``."""
    if task not in ARITH_TASKS:
        return answer
    s = answer[::-1] if reverse_answer else answer
    sign = "-" if s.startswith("-") else ""
    digits = s.lstrip("+-").lstrip("0") or "0"
    return sign + digits


def true_answer(task: str, prompt: str, reverse_answer: bool = False) -> str:
    """The correct answer tokens for a prompt (as the model should write them)."""
    body = prompt.rstrip("=")
    if task in SEQ_TASKS:
        digits = torch.tensor([[int(c) for c in body]])
        return decode(seq_answer(task, digits)[0])
    ans = arith_answer(int(body[:2]), int(body[3:5]), body[2])
    return ans[::-1] if reverse_answer else ans


@dataclass
class Decoding:
    """One typed question decoded token by token (see :func:`decode_typed`)."""

    prompt: str  # what the model read, e.g. "45+23="
    answer: str  # the tokens it wrote, in writing order
    expected: str  # the correct tokens
    tokens: list[str]  # prompt + answer characters (the attention axes)
    probs: np.ndarray  # (n_answer, V) softmax at each step
    attention: np.ndarray  # (n_layers, n_heads, T, T) over the completed sequence (T = S - 1)


def decode_typed(model: GPT, task: str, length: int, text: str,
                 reverse_answer: bool = False) -> Decoding:
    """Parse ``text`` (see :func:`parse_prompt`), decode greedily, return the attention maps.

    Because attention is causal, row ``i`` of the maps over the completed sequence is exactly
    what the model attended to when it wrote the token at position ``i + 1``.

    Raises:
        ValueError: for a question outside the task's alphabet or format.
    """
    prompt = parse_prompt(task, length, text)
    n_prompt, n_answer = layout(task, length)
    ids = torch.tensor([encode(prompt)], dtype=torch.long)
    seqs, probs = generate(model, ids, n_answer)
    with eval_mode(model):
        _, atts = model(seqs[:, :-1], need_weights=True)
    full = decode(seqs[0])
    return Decoding(prompt, full[n_prompt:], true_answer(task, prompt, reverse_answer),
                    list(full[:-1]), probs[0].numpy(),
                    torch.stack([a[0] for a in atts]).numpy())


@dataclass
class Preview:
    """The held-out examples and the untrained model's attention, for the page before a run."""

    n_test: int  # held-out sequences
    examples: list[str]  # the first N_EXAMPLES held-out sequences (prompt + answer)
    tokens: list[str]  # the first example minus its last token (the attention axes)
    attention: np.ndarray  # (n_layers, n_heads, T, T) of the untrained model on ``tokens``
    pos_encoding: np.ndarray | None  # (block_size, d_model), None without positions


def preview(cfg: TransformerConfig) -> Preview:
    """The run's held-out examples and its model at initialization (same seed as the run)."""
    data = TaskData(cfg.task, cfg.length, cfg.reverse_answer, cfg.seed, torch.device("cpu"))
    torch.manual_seed(cfg.seed)
    model = build_model(cfg)
    examples = [decode(s) for s in data.test[:N_EXAMPLES]]
    with eval_mode(model):
        _, atts = model(data.test[:1, :-1], need_weights=True)
    pe = None if cfg.pos_encoding == "none" else model.pos_emb.detach().numpy().copy()
    return Preview(len(data.test), examples, list(examples[0][:-1]),
                   torch.stack([a[0] for a in atts]).numpy(), pe)
