"""Seq2seq arithmetic: an LSTM encoder-decoder learns two-digit addition and subtraction.

The question ``a op b`` (``a, b`` in 0..99, ``op`` in ``+ -``) is written as five symbols with
zero padding, ``"05+23"``; the answer as four symbols, a sign and three digits, ``"+028"``
(``23 - 45`` gives ``"-022"``). Three modalities share one encoder-decoder:

* ``text2text``: question tokens in, answer tokens out (cross-entropy).
* ``image2text``: the question is a row of five 28x28 images (real MNIST digits from
  ``core.data.load_images("mnist")`` and hand-drawn ``+``/``-`` strokes); a small CNN embeds each
  image before the encoder LSTM; answer tokens out.
* ``text2image``: question tokens in; the decoder *draws* each answer symbol as a 28x28 image,
  trained with a per-pixel binary cross-entropy against a random real image of the right symbol.
  Its best guess is the symbol's average image; a generated image is read back as the symbol
  whose average image is nearest (L2), which gives the exact-match score.

Model (Sutskever, Vinyals & Le, "Sequence to Sequence Learning with Neural Networks", NeurIPS
2014; Cho et al. 2014): a stacked LSTM encoder reads the question; its final ``(h, c)`` of every
layer initializes a stacked LSTM decoder, which is fed the previous answer symbol (the true one
with probability ``teacher_forcing`` during training: teacher forcing, Williams & Zipser 1989)
and predicts the next. The LSTM cells are :class:`core.blocks.recurrent.LSTMCell` (Hochreiter &
Schmidhuber 1997, with the forget gate of Gers et al. 2000), which can record their gates.

A fixed 10% of the questions of each operator is held out (the same set for every seed and
setting); ``exact_match`` is measured on those *unseen* questions, ``exact_match_seen`` on
questions from the training pool. Evaluation images come from the MNIST *test* split, so both
scores use digit images the model never saw.

Shapes: questions ``(N, 5)`` symbol ids; answers ``(N, 4)``; images ``(N, T, 1, 28, 28)`` in
[0, 1]; LSTM states ``(N, hidden)`` per layer.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from core.blocks.images import image_grid
from core.blocks.recurrent import StackedLSTM
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

SYMBOLS = tuple("0123456789+-")  # shared alphabet of questions and answers
PLUS, MINUS = 10, 11
GO = 12  # decoder start token (text answers)
Q_LEN, A_LEN = 5, 4
POSITIONS = ("sign", "hundreds", "tens", "ones")
MODALITIES = ("text2text", "image2text", "text2image")
HOLDOUT_PER_OP = 1000  # of the 10,000 questions of each operator
SPLIT_SEED = 20240501  # fixed: the held-out questions never depend on the run's seed
QUESTION_RE = re.compile(r"^\s*(\d{1,2})\s*([+-])\s*(\d{1,2})\s*$", re.ASCII)
EVAL_MAX = 1000  # questions per evaluation (unseen and seen each)
EVAL_EVERY_S = 1.0  # seconds between evaluations during training


@dataclass(frozen=True)
class Seq2SeqConfig(RunOptions):
    """Every setting of one seq2seq arithmetic run."""

    modality: str = param("text2text", choices=MODALITIES,
                          help="text2text: tokens in and out; image2text: the question is MNIST "
                          "digit images; text2image: the answer is drawn as images")
    ops: str = param("+-", choices=("+-", "+", "-"), label="Operators",
                     help="which questions to train and test on")
    train_fraction: float = param(1.0, lo=0.05, hi=1.0, step=0.05, label="Questions used",
                                  help="share of the 9,000 non-held-out questions per operator "
                                  "the model may see")
    reverse_input: bool = param(True, label="Reverse the question",
                                help="feed the question back to front (Sutskever et al. 2014): "
                                "the ones digits then sit next to the first answer steps")
    n_layers: int = param(1, lo=1, hi=3, label="LSTM layers", help="stacked LSTM layers",
                          aliases=("layers",))
    hidden: int = param(128, choices=(16, 32, 64, 128, 256), label="Hidden units",
                        help="size of h and c in every LSTM layer")
    embed_dim: int = param(32, choices=(8, 16, 32, 64), label="Embedding size",
                       help="size of each input vector fed to the LSTMs")
    teacher_forcing: float = param(1.0, lo=0.0, hi=1.0, step=0.1, label="Teacher forcing",
                                   help="probability of feeding the true previous answer symbol "
                                   "to the decoder during training (else its own guess)")
    lr: float = param(1e-2, lo=1e-4, hi=1e-1, log=True, label="Learning rate", help="Adam")
    batch_size: int = param(128, choices=(16, 32, 64, 128, 256, 512), label="Batch size")
    steps: int = param(4000, lo=10, hi=50000, step=10, help="mini-batch updates")

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES:
            raise ValueError(f"modality={self.modality!r}; allowed: {', '.join(MODALITIES)}")

    @property
    def op_ids(self) -> tuple[int, ...]:
        """Operator ids used: 0 for ``+``, 1 for ``-``."""
        return tuple(i for i, o in enumerate("+-") if o in self.ops)


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


# -------------------------------------------------------------------------------- the model


class DigitCNN(nn.Module):
    """Embeds 28x28 symbol images (B, 1, 28, 28) into vectors (B, embed)."""

    def __init__(self, embed: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 16, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
            nn.Flatten(), nn.Linear(32 * 7 * 7, embed))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Seq2Seq(nn.Module):
    """LSTM encoder-decoder for the three modalities (see the module docstring).

    Text inputs go through ``nn.Embedding``; image inputs through :class:`DigitCNN`. Text
    outputs are logits over the 12 symbols; image outputs are pixel logits (784 per symbol), fed
    back to the decoder through a linear layer. ``templates`` (12, 784) are the mean training
    image of each symbol, used to read generated images back as symbols.
    """

    def __init__(self, modality: str, hidden: int, n_layers: int, embed: int) -> None:
        super().__init__()
        self.modality = modality
        self.image_in = modality == "image2text"
        self.image_out = modality == "text2image"
        self.q_embed = DigitCNN(embed) if self.image_in else nn.Embedding(len(SYMBOLS), embed)
        self.encoder = StackedLSTM(embed, hidden, n_layers)
        self.decoder = StackedLSTM(embed, hidden, n_layers)
        if self.image_out:
            self.a_embed = nn.Linear(784, embed)  # previous answer image -> decoder input
            self.go = nn.Parameter(torch.zeros(embed))
            self.head = nn.Sequential(nn.Linear(hidden, 256), nn.ReLU(), nn.Linear(256, 784))
        else:
            self.a_embed = nn.Embedding(len(SYMBOLS) + 1, embed)  # + GO
            self.head = nn.Linear(hidden, len(SYMBOLS))
        self.register_buffer("templates", torch.zeros(len(SYMBOLS), 784))

    def encode(self, question: torch.Tensor, record: bool = False
               ) -> tuple[list[tuple[torch.Tensor, ...]], list[torch.Tensor]]:
        """Read the question: ids (B, 5) or images (B, 5, 1, 28, 28) -> final states per layer
        (and, with ``record``, the gates of each step)."""
        B, T = question.shape[:2]
        if self.image_in:
            x = self.q_embed(question.reshape(B * T, 1, 28, 28)).reshape(B, T, -1)
        else:
            x = self.q_embed(question)
        state = self.encoder.zero_state(B, x.device)
        gates = []
        for t in range(T):
            _, state, g = self.encoder.step(x[:, t], state, record)
            if record:
                gates.append(g)
        return state, gates

    def _start(self, B: int, device: torch.device) -> torch.Tensor:
        if self.image_out:
            return self.go.expand(B, -1)
        return self.a_embed(torch.full((B,), GO, dtype=torch.long, device=device))

    def forward(self, question: torch.Tensor, target: torch.Tensor | None = None,
                teacher_forcing: float = 1.0, gen: torch.Generator | None = None,
                record: bool = False) -> dict[str, torch.Tensor | list]:
        """Encode, then decode the 4 answer symbols.

        Args:
            question: ids (B, 5) or images (B, 5, 1, 28, 28).
            target: the true answers for teacher forcing: ids (B, 4) (text out) or images
                (B, 4, 784) (image out); ``None`` decodes greedily from the model's own outputs.
            teacher_forcing: probability, per example and step, of feeding the true previous
                symbol instead of the model's own (only with ``target``).
            record: keep every step's gates.

        Returns:
            ``{"out": logits (B, 4, 12) or pixel logits (B, 4, 784), "pred": symbol ids
            (B, 4), "gates": list of (B, layers, 4, hidden) per step, encoder then decoder}``.
        """
        state, gates = self.encode(question, record)
        B = question.shape[0]
        dev = question.device
        x = self._start(B, dev)
        outs, preds = [], []
        for t in range(A_LEN):
            h, state, g = self.decoder.step(x, state, record)
            if record:
                gates.append(g)
            out = self.head(h)
            outs.append(out)
            pred = self.read_symbols(out, t)
            preds.append(pred)
            if self.image_out:
                own = torch.sigmoid(out).detach() if target is None or teacher_forcing < 1 \
                    else None
            else:
                own = pred
            if target is not None and teacher_forcing >= 1:
                nxt = target[:, t]
            elif target is not None and teacher_forcing > 0:
                use = torch.rand(B, generator=gen).to(dev) < teacher_forcing
                use = use.view(B, *([1] * (target[:, t].dim() - 1)))
                nxt = torch.where(use, target[:, t], own)
            else:
                nxt = own
            x = self.a_embed(nxt)
        return {"out": torch.stack(outs, 1), "pred": torch.stack(preds, 1), "gates": gates}

    def read_symbols(self, out: torch.Tensor, position: int) -> torch.Tensor:
        """Symbol ids (B,) from one step's output; at the sign position only ``+``/``-`` are
        allowed, elsewhere only digits. Images are read as the nearest symbol template (L2)."""
        if self.image_out:
            d = torch.cdist(torch.sigmoid(out), self.templates)  # (B, 12)
            scores = -d
        else:
            scores = out
        mask = torch.full((len(SYMBOLS),), float("-inf"), device=out.device)
        if position == 0:
            mask[PLUS:MINUS + 1] = 0
        else:
            mask[:10] = 0
        return (scores + mask).argmax(1)


def build_model(cfg: Seq2SeqConfig) -> Seq2Seq:
    """The encoder-decoder for ``cfg`` (on the CPU, initialized from the global RNG)."""
    return Seq2Seq(cfg.modality, cfg.hidden, cfg.n_layers, cfg.embed_dim)


# ------------------------------------------------------------------------------ batches


def make_inputs(model_or_cfg: Seq2Seq | Seq2SeqConfig, q: np.ndarray, bank: SymbolBank | None,
                reverse: bool, gen: torch.Generator | None = None) -> torch.Tensor:
    """The encoder input for questions ``q`` (N, 3): ids (N, 5), or for image input random
    images of each symbol from ``bank``: (N, 5, 1, 28, 28)."""
    ids = encode_questions(q, reverse)
    image_in = (model_or_cfg.image_in if isinstance(model_or_cfg, Seq2Seq)
                else model_or_cfg.modality == "image2text")
    if image_in:
        assert bank is not None
        return bank.sample(ids, gen)
    return ids


def make_targets(image_out: bool, q: np.ndarray, bank: SymbolBank | None,
                 gen: torch.Generator | None = None) -> torch.Tensor:
    """Answer ids (N, 4), or for image output random images of each answer symbol (N, 4, 784)."""
    ids = encode_answers(q)
    if image_out:
        assert bank is not None
        return bank.sample(ids, gen).reshape(len(ids), A_LEN, 784)
    return ids


def loss_fn(model: Seq2Seq, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy over answer symbols (nats per symbol), or per-pixel binary cross-entropy
    (nats per pixel) for image answers."""
    if model.image_out:
        return F.binary_cross_entropy_with_logits(out, target)
    return F.cross_entropy(out.reshape(-1, len(SYMBOLS)), target.reshape(-1))


# ---------------------------------------------------------------------------- evaluation


def predict(model: Seq2Seq, cfg: Seq2SeqConfig, q: np.ndarray, device: torch.device | str = "cpu",
            seed: int = 0, batch: int = 1000) -> dict[str, torch.Tensor]:
    """Greedy answers for questions ``q`` (N, 3), with question images drawn from the MNIST
    *test* split (image input) using a generator seeded with ``seed``.

    Returns:
        ``{"pred": (N, 4) ids, "true": (N, 4) ids, "images": (N, 4, 784) generated answer
        images in [0, 1] (image output only), "question_images": (N, 5, 1, 28, 28) the
        question images in reading order (image input only)}``, all on the CPU.
    """
    bank = symbol_bank("test") if model.image_in else None
    gen = torch.Generator().manual_seed(seed)
    preds, imgs, qimgs = [], [], []
    with eval_mode(model):
        for i in range(0, len(q), batch):
            x = make_inputs(model, q[i:i + batch], bank, cfg.reverse_input, gen).to(device)
            r = model(x)
            preds.append(r["pred"].cpu())
            if model.image_out:
                imgs.append(torch.sigmoid(r["out"]).cpu())
            if model.image_in:
                qimgs.append((x.flip(1) if cfg.reverse_input else x).cpu())
    res = {"pred": torch.cat(preds), "true": encode_answers(q)}
    if imgs:
        res["images"] = torch.cat(imgs)
    if qimgs:
        res["question_images"] = torch.cat(qimgs)
    return res


def digit_errors(pred: torch.Tensor, true: torch.Tensor) -> np.ndarray:
    """Error rate by answer position (rows: sign, hundreds, tens, ones) and true symbol
    (columns: 0-9, +, -): (4, 12) float, NaN where the symbol never occurs at that position."""
    err = np.full((A_LEN, len(SYMBOLS)), np.nan)
    wrong = (pred != true).numpy()
    t = true.numpy()
    for p in range(A_LEN):
        for s in range(len(SYMBOLS)):
            m = t[:, p] == s
            if m.any():
                err[p, s] = wrong[m, p].mean()
    return err


def answer_strip(images: torch.Tensor, per_row: int | None = None) -> np.ndarray:
    """Symbol images (T, 784) or (T, 1, 28, 28) in [0, 1] as one uint8 image, ``per_row``
    symbols a row (all T by default) with 2-px white gutters: (30 * rows + 2, 30 * per_row + 2).
    """
    imgs = images.reshape(-1, 1, 28, 28)
    return image_grid(imgs, ncol=per_row or len(imgs), pad=2)


def ask(model: Seq2Seq, cfg: Seq2SeqConfig, text: str, seed: int = 0) -> dict:
    """Answer a typed question with a trained (frozen) model.

    Returns:
        ``{"question": "45+23", "answer": model's answer text, "correct": true answer text,
        "ok": bool, "status": seen/unseen/unused, "question_image": uint8 strip (image input),
        "answer_image": uint8 strip (image output), "gates": (T, n_layers, 4, hidden) float
        array for the encoder's 5 and decoder's 4 steps, "steps": their T labels, e.g.
        ``"1: read 3"`` ... ``"9: write ones"``}``.

    Raises:
        ValueError: from :func:`parse_question` for text that is not a question.
    """
    a, op, b = parse_question(text)
    q = np.array([[a, op, b]])
    bank = symbol_bank("test") if model.image_in else None
    gen = torch.Generator().manual_seed(seed)
    x = make_inputs(model, q, bank, cfg.reverse_input, gen)
    with eval_mode(model):
        r = model(x, record=True)
    read = encode_questions(q, cfg.reverse_input)[0]
    res = {"question": format_question(a, op, b), "answer": decode_answer(r["pred"][0]),
           "correct": str(true_answer(a, op, b)), "status": question_status(cfg, a, op, b),
           "gates": torch.stack([g[0] for g in r["gates"]]).numpy(),
           "steps": [f"{k + 1}: read {SYMBOLS[int(t)]}" for k, t in enumerate(read)]
           + [f"{k + Q_LEN + 1}: write {p}" for k, p in enumerate(POSITIONS)]}
    res["ok"] = bool((r["pred"][0] == encode_answers(q)[0]).all())
    if model.image_in:
        shown = x[0].flip(0) if cfg.reverse_input else x[0]
        res["question_image"] = answer_strip(shown)
    if model.image_out:
        res["answer_image"] = answer_strip(torch.sigmoid(r["out"][0]))
    return res


def preview(cfg: Seq2SeqConfig, n: int = 6, seed: int = 0) -> list[dict]:
    """A few training questions as the model will see them, for the page before training:
    ``[{"question", "answer", "question_image" (image input), "answer_image" (image output)}]``.
    """
    train_q, _ = split_questions(cfg)
    rng = np.random.default_rng(seed)
    q = train_q[rng.choice(len(train_q), size=min(n, len(train_q)), replace=False)]
    gen = torch.Generator().manual_seed(seed)
    out = []
    for row in q:
        d = {"question": format_question(*row), "answer": str(true_answer(*row))}
        if cfg.modality == "image2text":
            ids = encode_questions(row[None])[0]
            d["question_image"] = answer_strip(symbol_bank("train").sample(ids, gen))
        if cfg.modality == "text2image":
            ids = encode_answers(row[None])[0]
            d["answer_image"] = answer_strip(symbol_bank("train").sample(ids, gen))
        out.append(d)
    return out


# ------------------------------------------------------------------------------- training


def evaluate(model: Seq2Seq, cfg: Seq2SeqConfig, seen_q: np.ndarray, unseen_q: np.ndarray,
             device: torch.device) -> tuple[dict[str, float], dict]:
    """Exact match (all 4 symbols right) on unseen and seen questions, per-operator unseen
    scores, per-symbol accuracy, and artifacts for the page (error heatmap, examples)."""
    pu = predict(model, cfg, unseen_q, device, seed=1)
    ps = predict(model, cfg, seen_q, device, seed=2)
    ok_u = (pu["pred"] == pu["true"]).all(1)
    ok_s = (ps["pred"] == ps["true"]).all(1)
    m = {"exact_match": float(ok_u.float().mean()), "exact_match_seen": float(ok_s.float().mean()),
         "symbol_acc": float((pu["pred"] == pu["true"]).float().mean())}
    for op, name in ((0, "add"), (1, "sub")):
        sel = torch.from_numpy(unseen_q[:, 1] == op)
        if sel.any():
            m[f"exact_match_{name}"] = float(ok_u[sel].float().mean())
    ex_idx = np.linspace(0, len(unseen_q) - 1, 8).astype(int)
    examples = []
    for i in ex_idx:
        d = {"question": format_question(*unseen_q[i]), "answer": decode_answer(pu["pred"][i]),
             "correct": str(true_answer(*unseen_q[i])), "ok": bool(ok_u[i])}
        if "images" in pu:
            d["answer_image"] = answer_strip(pu["images"][i])
        if "question_images" in pu:
            d["question_image"] = answer_strip(pu["question_images"][i])
        examples.append(d)
    art = {"digit_errors": digit_errors(pu["pred"], pu["true"]), "examples": examples}
    if "images" in pu:
        art["answer_images"] = answer_strip(pu["images"][ex_idx[:6]], per_row=A_LEN)
    return m, art


def eval_questions(cfg: Seq2SeqConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(training pool, seen questions scored, unseen questions scored)``, each (N, 3): up to
    EVAL_MAX random training questions (by ``cfg.seed``) and EVAL_MAX evenly spaced held-out
    ones."""
    train_q, unseen_q = split_questions(cfg)
    rng = np.random.default_rng(cfg.seed)
    seen = train_q[rng.choice(len(train_q), size=min(EVAL_MAX, len(train_q)), replace=False)]
    unseen = unseen_q[np.linspace(0, len(unseen_q) - 1, min(EVAL_MAX, len(unseen_q)))
                      .astype(int)]
    return train_q, seen, unseen


def train_step(model: Seq2Seq, opt: torch.optim.Optimizer, cfg: Seq2SeqConfig,
               q: np.ndarray, bank: SymbolBank | None, gen: torch.Generator) -> torch.Tensor:
    """One Adam step on questions ``q`` (B, 3) with teacher forcing ``cfg.teacher_forcing``
    and the gradient norm clipped at 1; returns the loss (detached)."""
    device = next(model.parameters()).device
    x = make_inputs(model, q, bank, cfg.reverse_input, gen).to(device)
    y = make_targets(model.image_out, q, bank, gen).to(device)
    loss = loss_fn(model, model(x, y, cfg.teacher_forcing, gen)["out"], y)
    opt.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss.detach()


def train(cfg: Seq2SeqConfig) -> Iterator[Snapshot]:
    """Train the LSTM encoder-decoder with Adam (gradient norm clipped at 1) and yield snapshots.

    Metrics: ``loss`` (training loss with teacher forcing, mean of the last 32 steps: nats
    per answer symbol, or nats per pixel for image answers), and, scored on the untrained model
    at step 0, then at most every EVAL_EVERY_S and 20% of the time, and at the end:
    ``exact_match`` (unseen questions, greedy decoding), ``exact_match_seen``,
    ``exact_match_add``/``exact_match_sub`` (unseen, per operator), ``symbol_acc`` (unseen, per
    answer symbol). Artifacts: ``digit_errors`` (4, 12), ``examples`` (unseen questions with the
    model's answers), ``answer_images`` (uint8, image output only). ``model``: a frozen copy at
    most every 3 s and on the final snapshot.
    """
    device = start(cfg)
    gen = torch.Generator().manual_seed(cfg.seed)
    train_q, seen_eval, unseen_eval = eval_questions(cfg)
    model = build_model(cfg)
    bank = symbol_bank("train") if cfg.modality != "text2text" else None
    if model.image_out:
        model.templates.copy_(bank.templates())
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    tick, budget, copies = Ticker(total=cfg.steps), EvalBudget(0.2, EVAL_EVERY_S), CopyCadence(3.0)
    losses, art = RunningMean(), {}
    for step in range(0, cfg.steps + 1):
        if step > 0:
            idx = torch.randint(0, len(train_q), (cfg.batch_size,), generator=gen).numpy()
            losses.add(loss=train_step(model, opt, cfg, train_q[idx], bank, gen))
        final = step == cfg.steps
        if tick(step):
            metrics = losses.pop()
            if budget.due(final):
                with budget.timed():
                    scores, art = evaluate(model, cfg, seen_eval, unseen_eval, device)
                metrics.update(scores)
            yield Snapshot(step, tick.elapsed, metrics, art, total_steps=cfg.steps,
                           final=final, model=copies(model, final))


DEMOS = [Demo("seq2seq", Seq2SeqConfig, train, title="Seq2seq arithmetic",
              description="An LSTM encoder-decoder learns two-digit addition and subtraction "
              "from text or MNIST digit images, and answers in text or drawn digits.")]
