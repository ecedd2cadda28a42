"""A small decoder-only Transformer (minGPT-style) learns algorithmic tasks while you watch.

Tasks (every sequence is ``prompt`` then ``answer``; the loss counts only the answer tokens):

* ``copy``     ``31415926=`` -> ``31415926``
* ``reverse``  ``31415926=`` -> ``62951413``
* ``sort``     ``31415926=`` -> ``11234569``
* ``add``      ``45+23=`` -> ``068`` (two-digit addition, as in minGPT's adder; the answer has
  three digits, written least-significant digit first when ``reverse_answer`` is on, as minGPT
  does: ``860``)
* ``addsub``   ``45+23=`` or ``23-45=`` -> ``068`` / ``-22`` (sign and two digits)

Model: token embedding + positional encoding (learned, sinusoidal or none) -> ``n_layers``
pre-norm blocks ``x = x + MHA(LN(x)); x = x + MLP(LN(x))`` -> LN -> linear head over the
vocabulary. Multi-head causal self-attention per head:
``softmax(Q K^T / sqrt(d_head) + mask) V``.

References: Vaswani et al., "Attention Is All You Need" (NeurIPS 2017) for attention and the
sinusoidal encoding; Radford et al., "Language Models are Unsupervised Multitask Learners"
(GPT-2, 2019) for the pre-norm decoder-only block; Karpathy, minGPT
(github.com/karpathy/minGPT, ``projects/adder``) for the addition task and the training set-up
(AdamW with betas (0.9, 0.95), weight decay on matrices only, gradient clipping at 1.0).

Shapes: token ids ``(B, T)`` int64; embeddings ``(B, T, d_model)``; attention weights
``(B, n_heads, T, T)`` (rows = query position, columns = key position, each row sums to 1);
logits ``(B, T, V)`` with ``V = len(VOCAB)``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from core.blocks.attention import Block, gpt2_init_
from core.checks import check_choice
from core.protocol import (
    CopyCadence,
    Demo,
    EvalBudget,
    RunningMean,
    RunOptions,
    Snapshot,
    Ticker,
    eval_mode,
    param,
    start,
)

VOCAB = "0123456789+-="
STOI = {c: i for i, c in enumerate(VOCAB)}
TASKS = ("copy", "reverse", "sort", "add", "addsub")
SEQ_TASKS = ("copy", "reverse", "sort")
ARITH_TASKS = ("add", "addsub")
N_TEST = 1000  # held-out sequences (fewer when the task has few distinct sequences)
N_ABLATION = 250  # held-out sequences for the no-positional-encoding ablation
N_EXAMPLES = 6  # held-out examples whose attention maps every snapshot carries


@dataclass(frozen=True)
class TransformerConfig(RunOptions):
    """Every setting of one run: task, architecture, optimizer (and the run options)."""

    task: str = param("reverse", choices=TASKS, help="what the model learns: copy, reverse or "
                      "sort a digit string, or two-digit addition (and subtraction)")
    length: int = param(8, lo=4, hi=12, label="Sequence length",
                        help="digits per sequence (copy, reverse, sort)")
    reverse_answer: bool = param(True, label="Write sums backwards",
                                 help="add/addsub: emit the answer least-significant digit first "
                                 "(as minGPT's adder does), so carries flow the way the model "
                                 "writes")
    n_layers: int = param(2, lo=1, hi=4, label="Layers")
    n_heads: int = param(2, choices=(1, 2, 4, 8), label="Heads")
    d_model: int = param(64, choices=(16, 32, 64, 128, 256), label="Width (d_model)")
    pos_encoding: str = param("learned", choices=("learned", "sinusoidal", "none"),
                              label="Positional encoding")
    dropout: float = param(0.0, lo=0.0, hi=0.5, step=0.05)
    lr: float = param(3e-3, lo=1e-5, hi=1e-1, log=True, label="Learning rate")
    warmup: int = param(50, lo=0, hi=5000, label="Warm-up steps",
                        help="linear learning-rate warm-up from 0")
    lr_schedule: str = param("cosine", choices=("cosine", "constant"), label="LR schedule",
                             help="after warm-up: cosine decay to 10% of the rate, or constant")
    weight_decay: float = param(0.1, lo=0.0, hi=1.0, step=0.05,
                                help="AdamW weight decay on weight matrices")
    batch_size: int = param(128, choices=(16, 32, 64, 128, 256, 512, 1024), label="Batch size")
    steps: int = param(400, lo=10, hi=100000, help="optimization steps")

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads:
            raise ValueError(f"width d_model={self.d_model} must be divisible by "
                             f"n_heads={self.n_heads}")
        check_choice("task", self.task, TASKS)


# --------------------------------------------------------------------------------------------
# Tasks and data
# --------------------------------------------------------------------------------------------


def layout(task: str, length: int = 8) -> tuple[int, int]:
    """``(n_prompt, n_answer)``: tokens in the prompt (ending in ``=``) and in the answer.

    The model reads ``n_prompt + n_answer - 1`` tokens (its block size).
    """
    if task in SEQ_TASKS:
        return length + 1, length
    if task in ARITH_TASKS:
        return 6, 3
    raise ValueError(f"unknown task {task!r}; allowed: {', '.join(TASKS)}")


def encode(text: str) -> list[int]:
    """Token ids of a string over :data:`VOCAB` (raises ``KeyError`` on other characters)."""
    return [STOI[c] for c in text]


def decode(ids) -> str:
    """The string of token ids (a list or 1-D tensor)."""
    return "".join(VOCAB[int(i)] for i in ids)


def seq_answer(task: str, digits: torch.Tensor) -> torch.Tensor:
    """The target of a copy/reverse/sort task: digits (N, L) int64 -> answer (N, L)."""
    if task == "copy":
        return digits.clone()
    if task == "reverse":
        return digits.flip(1)
    if task == "sort":
        return digits.sort(1).values
    raise ValueError(f"{task!r} is not a sequence task")


def arith_answer(a: int, b: int, op: str) -> str:
    """The three answer characters of ``a op b`` in reading order: ``068``, ``198``, ``-22``."""
    if op == "+":
        return f"{a + b:03d}"
    c = a - b
    return ("-" if c < 0 else "+") + f"{abs(c):02d}"


def arith_table(task: str, reverse_answer: bool) -> torch.Tensor:
    """Every two-digit problem of the task as token ids: (10000 or 20000, 9) int64."""
    ops = "+" if task == "add" else "+-"
    rows = []
    for op in ops:
        for a in range(100):
            for b in range(100):
                ans = arith_answer(a, b, op)
                rows.append(encode(f"{a:02d}{op}{b:02d}=" + (ans[::-1] if reverse_answer
                                                             else ans)))
    return torch.tensor(rows, dtype=torch.long)


def _digits_of(keys: torch.Tensor, length: int) -> torch.Tensor:
    """Integer keys (N,) -> their ``length`` decimal digits (N, length), most significant first."""
    p = 10 ** torch.arange(length - 1, -1, -1, dtype=torch.long)
    return keys[:, None] // p % 10


def _keys_of(digits: torch.Tensor) -> torch.Tensor:
    """Digits (N, L) -> one int64 key per row (the number they spell)."""
    p = 10 ** torch.arange(digits.shape[1] - 1, -1, -1, dtype=torch.long, device=digits.device)
    return (digits * p).sum(1)


class TaskData:
    """The task's fixed held-out split and a sampler of training batches that never hits it.

    ``test``: (N_test, S) int64 complete sequences (prompt + answer), ``S = n_prompt + n_answer``.
    Arithmetic tasks enumerate every problem and hold out a random 1,000 of them; sequence tasks
    hold out ``min(1000, 10**L // 10)`` random digit strings and re-draw any training string
    that collides with them.
    """

    def __init__(self, task: str, length: int, reverse_answer: bool, seed: int,
                 device: torch.device) -> None:
        self.task, self.length, self.device = task, length, device
        self.n_prompt, self.n_answer = layout(task, length)
        rng = np.random.default_rng(seed + 12345)
        if task in ARITH_TASKS:
            table = arith_table(task, reverse_answer)
            perm = torch.from_numpy(rng.permutation(len(table)))
            self.test = table[perm[:N_TEST]].to(device)
            self.train_pool = table[perm[N_TEST:]].to(device)
            self.test_keys = None
        else:
            n_test = min(N_TEST, 10 ** length // 10)
            keys = torch.from_numpy(rng.choice(10 ** length, size=n_test, replace=False))
            self.test_keys = keys.sort().values.to(device)
            self.test = self._build(_digits_of(keys, length).to(device))
            self.train_pool = None

    def _build(self, digits: torch.Tensor) -> torch.Tensor:
        eq = torch.full((len(digits), 1), STOI["="], dtype=torch.long, device=digits.device)
        return torch.cat([digits, eq, seq_answer(self.task, digits)], 1)

    def batch(self, batch_size: int, gen: torch.Generator) -> torch.Tensor:
        """A training batch of complete sequences (batch_size, S), none from the held-out set."""
        if self.train_pool is not None:
            idx = torch.randint(0, len(self.train_pool), (batch_size,), generator=gen)
            return self.train_pool[idx.to(self.device)]
        digits = torch.randint(0, 10, (batch_size, self.length), generator=gen)
        digits = digits.to(self.device)
        for _ in range(100):
            hit = torch.isin(_keys_of(digits), self.test_keys)
            if not bool(hit.any()):
                break
            n = int(hit.sum())
            digits[hit] = torch.randint(0, 10, (n, self.length), generator=gen).to(self.device)
        return self._build(digits)


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------


def sinusoidal_encoding(n_positions: int, d_model: int) -> torch.Tensor:
    """Vaswani et al.'s fixed encoding (n_positions, d_model).

    ``PE[p, 2i] = sin(p / 10000^(2i/d))``, ``PE[p, 2i+1] = cos(p / 10000^(2i/d))``.
    """
    pos = torch.arange(n_positions, dtype=torch.float32)[:, None]
    freq = torch.exp(-math.log(10000.0) * torch.arange(0, d_model, 2, dtype=torch.float32)
                     / d_model)
    pe = torch.zeros(n_positions, d_model)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq)
    return pe


class GPT(nn.Module):
    """A decoder-only Transformer over :data:`VOCAB` (minGPT): token embedding + positional
    encoding -> ``n_layers`` causal :class:`~core.blocks.attention.Block` (ReLU MLP, 4x wide)
    -> LayerNorm -> linear head; GPT-2 initialization.

    ``forward(idx)`` maps token ids (B, T) with ``T <= block_size`` to logits (B, T, V);
    with ``need_weights`` also the attention weights of every layer, a list of ``n_layers``
    tensors (B, H, T, T) (an empty list without). ``use_pe=False`` leaves the positional
    encoding out (the ablation on the page).
    """

    def __init__(self, block_size: int, n_layers: int = 2, n_heads: int = 2, d_model: int = 64,
                 pos_encoding: str = "learned", dropout: float = 0.0,
                 vocab_size: int = len(VOCAB)) -> None:
        super().__init__()
        if pos_encoding not in ("learned", "sinusoidal", "none"):
            raise ValueError(f"pos_encoding={pos_encoding!r}; allowed: learned, sinusoidal, none")
        self.block_size, self.pos_encoding = block_size, pos_encoding
        self.tok_emb = nn.Embedding(vocab_size, d_model)
        if pos_encoding == "learned":
            self.pos_emb = nn.Parameter(torch.zeros(block_size, d_model))
        else:
            self.register_buffer("pos_emb", sinusoidal_encoding(block_size, d_model)
                                 if pos_encoding == "sinusoidal" else
                                 torch.zeros(block_size, d_model), persistent=False)
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(d_model, n_heads, dropout, activation="relu")
                                    for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size, bias=False)
        gpt2_init_(self, n_layers)
        if pos_encoding == "learned":
            nn.init.normal_(self.pos_emb, std=0.02)

    def forward(self, idx: torch.Tensor, use_pe: bool = True, need_weights: bool = False
                ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """idx (B, T) int64 -> (logits (B, T, V), [attention (B, H, T, T)] * n_layers or []).

        Raises:
            ValueError: if ``T`` exceeds the block size.
        """
        n_tokens = idx.shape[1]
        if n_tokens > self.block_size:
            raise ValueError(f"sequence of {n_tokens} tokens is longer than the block size "
                             f"{self.block_size}")
        x = self.tok_emb(idx)
        if use_pe and self.pos_encoding != "none":
            x = x + self.pos_emb[:n_tokens]
        x = self.drop(x)
        atts = []
        for block in self.blocks:
            x, att = block(x, causal=True, need_weights=need_weights)
            if need_weights:
                atts.append(att)
        return self.head(self.ln_f(x)), atts


def build_model(cfg: TransformerConfig) -> GPT:
    """The GPT of a config, sized for its task's block."""
    n_prompt, n_answer = layout(cfg.task, cfg.length)
    return GPT(n_prompt + n_answer - 1, cfg.n_layers, cfg.n_heads, cfg.d_model,
               cfg.pos_encoding, cfg.dropout)


# --------------------------------------------------------------------------------------------
# Loss, evaluation, decoding
# --------------------------------------------------------------------------------------------


def answer_loss(logits: torch.Tensor, seqs: torch.Tensor, n_answer: int) -> torch.Tensor:
    """Mean cross-entropy (nats) of the answer tokens under teacher forcing.

    logits (B, S-1, V) from ``model(seqs[:, :-1])``; seqs (B, S). The last ``n_answer`` positions
    of the logits predict the answer tokens ``seqs[:, -n_answer:]``.
    """
    pred = logits[:, -n_answer:]
    return F.cross_entropy(pred.reshape(-1, pred.shape[-1]), seqs[:, -n_answer:].reshape(-1))


def evaluate(model: GPT, seqs: torch.Tensor, n_answer: int, use_pe: bool = True,
             chunk: int = 1000) -> dict[str, float]:
    """Held-out ``loss`` (nats/token), ``token_acc`` and ``exact_match`` (fractions in [0, 1]).

    Exact match under teacher forcing equals greedy-decoding exact match: if every answer token
    is the argmax given the correct prefix, greedy decoding writes exactly that answer.
    """
    losses, tok, exact = [], [], []
    with eval_mode(model):
        for i in range(0, len(seqs), chunk):
            s = seqs[i:i + chunk]
            logits, _ = model(s[:, :-1], use_pe=use_pe)
            losses.append(answer_loss(logits, s, n_answer) * len(s))
            ok = logits[:, -n_answer:].argmax(-1) == s[:, -n_answer:]
            tok.append(ok.float().mean(1))
            exact.append(ok.all(1).float())
    n = len(seqs)
    return {"loss": float(torch.stack(losses).sum() / n), "token_acc": float(torch.cat(tok).mean()),
            "exact_match": float(torch.cat(exact).mean())}


def generate(model: GPT, prompt: torch.Tensor, n_answer: int, use_pe: bool = True
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """Greedy token-by-token decoding.

    Args:
        prompt: (B, n_prompt) token ids ending in ``=``.
    Returns:
        ``(seqs (B, n_prompt + n_answer), probs (B, n_answer, V))``: the completed sequences and
        the softmax over the vocabulary at every decoding step.
    """
    seqs, probs = prompt, []
    with eval_mode(model):
        for _ in range(n_answer):
            logits, _ = model(seqs, use_pe=use_pe)
            p = logits[:, -1].softmax(-1)
            probs.append(p)
            seqs = torch.cat([seqs, p.argmax(-1, keepdim=True)], 1)
    return seqs, torch.stack(probs, 1)


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


def lr_at(step: int, cfg: TransformerConfig) -> float:
    """Learning rate at ``step`` (1-based): linear warm-up, then cosine to 10% or constant."""
    if cfg.warmup and step <= cfg.warmup:
        return cfg.lr * step / cfg.warmup
    if cfg.lr_schedule == "constant":
        return cfg.lr
    t = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


def make_optimizer(model: GPT, cfg: TransformerConfig) -> torch.optim.AdamW:
    """AdamW (betas 0.9, 0.95) with weight decay on weight matrices only (minGPT's recipe)."""
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "pos_emb" not in n
             and "tok_emb" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "pos_emb" not in n
                                                               and "tok_emb" not in n)]
    return torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}],
                             lr=cfg.lr, betas=(0.9, 0.95))


# --------------------------------------------------------------------------------------------
# Before training: what the page shows
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# The trainer
# --------------------------------------------------------------------------------------------


def train_step(model: GPT, opt: torch.optim.Optimizer, seqs: torch.Tensor, n_answer: int,
               lr: float) -> torch.Tensor:
    """One AdamW step at learning rate ``lr`` on a batch of sequences (B, S); returns the loss
    (detached), with gradients clipped to norm 1 (minGPT)."""
    for g in opt.param_groups:
        g["lr"] = lr
    logits, _ = model(seqs[:, :-1])
    loss = answer_loss(logits, seqs, n_answer)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss.detach()


def held_out_metrics(model: GPT, data: TaskData, pos_encoding: str) -> dict[str, float]:
    """``test_loss``, ``token_acc``, ``exact_match`` on the held-out set and, with a positional
    encoding, ``exact_match_no_pe`` on its first N_ABLATION sequences with positions removed."""
    ev = evaluate(model, data.test, data.n_answer)
    metrics = {"test_loss": ev["loss"], "token_acc": ev["token_acc"],
               "exact_match": ev["exact_match"]}
    if pos_encoding != "none":
        metrics["exact_match_no_pe"] = evaluate(model, data.test[:N_ABLATION], data.n_answer,
                                                use_pe=False)["exact_match"]
    return metrics


def snapshot_artifacts(model: GPT, examples: torch.Tensor, n_answer: int) -> dict:
    """Attention maps (N, n_layers, n_heads, T, T) and greedy answers of the fixed examples."""
    with eval_mode(model):
        _, atts = model(examples[:, :-1], need_weights=True)
    seqs, _ = generate(model, examples[:, :-n_answer], n_answer)
    pe = None if model.pos_encoding == "none" else model.pos_emb.detach().float().cpu().numpy()
    return {"attention": torch.stack(atts, 1).float().cpu().numpy(),
            "examples": [decode(s) for s in examples],
            "predictions": [decode(s[-n_answer:]) for s in seqs],
            "pos_encoding": None if pe is None else pe.copy()}


def train(cfg: TransformerConfig) -> Iterator[Snapshot]:
    """Train the GPT on the task and yield live snapshots.

    Metrics: ``loss`` (training answer cross-entropy, nats/token, mean of the last 32 steps),
    ``test_loss``, ``token_acc`` and ``exact_match`` on the held-out sequences (fractions),
    ``exact_match_no_pe`` (exact match on the first 250 held-out sequences with the positional
    encoding removed at test time; absent when ``pos_encoding="none"``) and ``lr``. Every
    snapshot evaluates; snapshots come at most every 0.25 s and so that evaluating takes at most
    ~20% of the time.

    Artifacts: ``attention`` (N_EXAMPLES, n_layers, n_heads, T, T) float32 for fixed held-out
    examples; ``examples`` (list of their full strings); ``predictions`` (greedy answers for
    them); ``pos_encoding`` (T, d_model) float32 or None. ``model``: a frozen copy at most
    every second and on the final snapshot (the page decodes typed input with the newest).
    """
    device = start(cfg)
    gen = torch.Generator().manual_seed(cfg.seed)
    data = TaskData(cfg.task, cfg.length, cfg.reverse_answer, cfg.seed, device)
    model = build_model(cfg).to(device)
    opt = make_optimizer(model, cfg)
    tick, losses = Ticker(total=cfg.steps), RunningMean()
    budget, copies = EvalBudget(share=0.2, min_interval_s=0.25), CopyCadence(every_s=1.0)
    for step in range(1, cfg.steps + 1):
        lr = lr_at(step, cfg)
        losses.add(loss=train_step(model, opt, data.batch(cfg.batch_size, gen), data.n_answer, lr))
        final = step == cfg.steps
        if tick(step) and budget.due(final):
            with budget.timed():
                metrics = {**losses.pop(), **held_out_metrics(model, data, cfg.pos_encoding),
                           "lr": lr}
                art = snapshot_artifacts(model, data.test[:N_EXAMPLES], data.n_answer)
            yield Snapshot(step, tick.elapsed, metrics, art, total_steps=cfg.steps, final=final,
                           model=copies(model, final))


DEMOS = [Demo("transformer", TransformerConfig, train, title="Transformer attention",
              description="A small decoder-only Transformer learns copy, reverse, sort and "
              "two-digit addition; attention maps per layer and head.")]
