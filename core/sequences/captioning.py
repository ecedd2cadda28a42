"""Image captioning: one CNN encoder, three decoders (vanilla RNN, LSTM, Transformer) side by side.

Every decoder gets its own copy of the same small CNN encoder (identical initial weights), the
same mini-batches, the same optimizer and the same number of steps, so their loss curves, BLEU-4
and exact match compare the decoders and nothing else.

* Encoder: ``images (B, C, H, W) -> regions V (B, R, D)``, a grid of ``R = rows * cols`` region
  features (three 3x3 conv blocks, then adaptive average pooling to the grid).
* Vanilla RNN and LSTM ("Show and Tell", Vinyals et al., CVPR 2015): the image only sets the
  initial state, ``h_0 = tanh(W_init vec(V))``; every later word must be carried through the
  recurrence, which is where the vanilla RNN's gradient vanishes (Bengio et al., 1994;
  Hochreiter & Schmidhuber, 1997 for the LSTM).
* Transformer decoder (Vaswani et al., NeurIPS 2017): pre-norm blocks of causal self-attention,
  cross-attention over the regions and an MLP; it looks at the image at every word, and its
  cross-attention weights show where.

Training is teacher forcing: the decoder reads the true previous words ``<bos> w_1 .. w_{n}`` and
is trained with cross-entropy to predict ``w_1 .. w_n <eos>``. Decoding is greedy or beam search.
Held-out quality is corpus BLEU-4 (Papineni et al., ACL 2002) and exact match.

Shapes: B batch, T caption positions (words + 2), V vocabulary size, R regions, D features.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.blocks.attention import Block
from core.blocks.recurrent import LSTMCell, RNNCell
from core.checks import check_choice
from core.data.captions import (
    CAPTION_DATASETS,
    CaptionData,
    Vocab,
    compose_scene,
    load_captions,
    scene_caption,
)
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

DECODERS = ("rnn", "lstm", "transformer")
DECODER_SETS = {"all": DECODERS, "rnn+lstm": ("rnn", "lstm"), "rnn": ("rnn",),
                "lstm": ("lstm",), "transformer": ("transformer",)}
DECODER_NAMES = {"rnn": "vanilla RNN", "lstm": "LSTM", "transformer": "Transformer"}
DATA_SEED = 0  # the scenes and the held-out split are fixed, whatever the training seed
N_SAMPLES = 6  # held-out images shown with their generated captions


@dataclass(frozen=True)
class CaptioningConfig(RunOptions):
    """Every setting of one captioning run (data, the three decoders, training, decoding)."""

    dataset: str = param("shapes", choices=CAPTION_DATASETS,
                         help="shapes: generated scenes; digits: MNIST digit strips; flickr8k and "
                         "coco only when their files are on this machine")
    style: str = param("long", choices=("long", "short"),
                       help="shapes captions: long names sizes (10 words), short does not (6)")
    n_train: int = param(4000, lo=200, hi=20000, step=100, label="Training images")
    decoders: str = param("all", choices=tuple(DECODER_SETS),
                          help="which decoders to train side by side")
    hidden: int = param(128, choices=(32, 64, 128, 256), label="Hidden size",
                        help="RNN/LSTM state size and Transformer width (also the word embedding)")
    n_layers: int = param(2, lo=1, hi=4, label="Transformer layers", aliases=("layers",))
    n_heads: int = param(4, choices=(1, 2, 4, 8), label="Attention heads", aliases=("heads",))
    lr: float = param(2e-3, lo=1e-5, hi=1.0, log=True, label="Learning rate")
    batch_size: int = param(32, choices=(8, 16, 32, 64, 128, 256), label="Batch size")
    max_grad_norm: float = param(1.0, lo=0.0, hi=100.0, label="Gradient clipping",
                                 help="clip the gradient norm to this (0 = off)",
                                 aliases=("clip",))
    steps: int = param(800, lo=10, hi=50000, step=10)
    decoding: str = param("greedy", choices=("greedy", "beam"))
    beam_size: int = param(3, lo=1, hi=8, label="Beam size")
    eval_size: int = param(100, lo=20, hi=2000, step=10, label="Held-out images scored")

    def __post_init__(self) -> None:
        if self.hidden % self.n_heads:
            raise ValueError(f"hidden={self.hidden} must be divisible by "
                             f"n_heads={self.n_heads}")

    @property
    def decoder_list(self) -> tuple[str, ...]:
        return DECODER_SETS[self.decoders]


# --------------------------------------------------------------------------------- data


@functools.lru_cache(maxsize=4)
def get_data(dataset: str = "shapes", n_train: int = 4000, style: str = "long",
             n_test: int = 500) -> tuple[CaptionData, CaptionData]:
    """The fixed train / held-out splits (cached in memory; do not modify the tensors)."""
    return load_captions(dataset, n_train=n_train, n_test=n_test, seed=DATA_SEED, style=style)


# ------------------------------------------------------------------------------ encoder


class CNNEncoder(nn.Module):
    """Three 3x3 convolutions (the first two with stride 2) and adaptive average pooling:
    ``(B, C, H, W) -> regions (B, R, D)``.

    ``R = grid[0] * grid[1]`` regions in row-major order; region r covers cell
    ``(r // cols, r % cols)`` of the image.
    """

    def __init__(self, in_ch: int, dim: int, grid: tuple[int, int]) -> None:
        super().__init__()
        self.grid = grid
        self.net = nn.Sequential(
            nn.Conv2d(in_ch, 16, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(32, dim, 3, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(grid))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images).flatten(2).transpose(1, 2)  # (B, R, D)


# ----------------------------------------------------------------------------- decoders
#
# Every decoder has the same interface:
#   forward(regions (B, R, D), tokens_in (B, T)) -> logits (B, T, V)         teacher forcing
#   init_state(regions) -> state;  step(token (B,), state) -> (logits (B, V), state)  decoding
# A state is a tuple of batch-first tensors, so beam search can reorder it with index_select.


class RNNDecoder(nn.Module):
    """Vanilla (Elman) RNN decoder: ``h_t = tanh(W_x x_t + W_h h_{t-1} + b)``; ``h_0`` is set
    by the image (:class:`~core.blocks.recurrent.RNNCell`)."""

    def __init__(self, vocab_size: int, hidden: int, region_dim: int, n_regions: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, hidden)
        self.init_h = nn.Linear(region_dim * n_regions, hidden)
        self.cell = self.make_cell(hidden)
        self.out = nn.Linear(hidden, vocab_size)

    def make_cell(self, hidden: int) -> nn.Module:
        return RNNCell(hidden, hidden)

    def init_state(self, regions: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return (torch.tanh(self.init_h(regions.flatten(1))),)

    def advance(self, x: torch.Tensor, state: tuple[torch.Tensor, ...]
                ) -> tuple[torch.Tensor, ...]:
        """One recurrence step on the embedded word ``x`` (B, hidden)."""
        return (self.cell(x, state[0]),)

    def step(self, token: torch.Tensor, state: tuple[torch.Tensor, ...]
             ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        state = self.advance(self.embed(token), state)
        return self.out(state[0]), state

    def states(self, regions: torch.Tensor, tokens_in: torch.Tensor
               ) -> list[tuple[torch.Tensor, ...]]:
        """All states ``[s_0, s_1, .., s_T]`` (s_0 from the image) under teacher forcing."""
        state = self.init_state(regions)
        out = [state]
        emb = self.embed(tokens_in)
        for t in range(tokens_in.shape[1]):
            state = self.advance(emb[:, t], state)
            out.append(state)
        return out

    def forward(self, regions: torch.Tensor, tokens_in: torch.Tensor) -> torch.Tensor:
        hs = torch.stack([s[0] for s in self.states(regions, tokens_in)[1:]], 1)  # (B, T, H)
        return self.out(hs)


class LSTMDecoder(RNNDecoder):
    """LSTM decoder (:class:`~core.blocks.recurrent.LSTMCell`, Hochreiter & Schmidhuber, 1997);
    ``h_0 = tanh(W_init vec(V))`` and ``c_0 = W_c vec(V)`` come from the image."""

    def __init__(self, vocab_size: int, hidden: int, region_dim: int, n_regions: int) -> None:
        super().__init__(vocab_size, hidden, region_dim, n_regions)
        self.init_c = nn.Linear(region_dim * n_regions, hidden)

    def make_cell(self, hidden: int) -> nn.Module:
        return LSTMCell(hidden, hidden)

    def init_state(self, regions: torch.Tensor) -> tuple[torch.Tensor, ...]:
        v = regions.flatten(1)
        return torch.tanh(self.init_h(v)), self.init_c(v)

    def advance(self, x: torch.Tensor, state: tuple[torch.Tensor, ...]
                ) -> tuple[torch.Tensor, ...]:
        h, c, _ = self.cell(x, state)
        return h, c


class TransformerDecoder(nn.Module):
    """Transformer decoder: causal self-attention over the words, cross-attention over the image
    regions and an MLP per :class:`~core.blocks.attention.Block` (GELU, 2x wide); learned
    positions for words and for regions. ``forward(..., return_attn=True)`` also returns the
    cross-attention weights, a tensor (n_layers, B, n_heads, T, R)."""

    def __init__(self, vocab_size: int, hidden: int, region_dim: int, n_regions: int,
                 n_layers: int = 2, n_heads: int = 4, max_len: int = 32) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab_size, hidden)
        self.pos = nn.Parameter(torch.randn(max_len, hidden) * 0.02)
        self.region_proj = nn.Linear(region_dim, hidden)
        self.region_pos = nn.Parameter(torch.randn(n_regions, hidden) * 0.02)
        self.blocks = nn.ModuleList(Block(hidden, n_heads, mlp_ratio=2, cross_attention=True)
                                    for _ in range(n_layers))
        self.ln = nn.LayerNorm(hidden)
        self.out = nn.Linear(hidden, vocab_size)

    def memory(self, regions: torch.Tensor) -> torch.Tensor:
        return self.region_proj(regions) + self.region_pos

    def decode(self, memory: torch.Tensor, tokens_in: torch.Tensor, return_attn: bool = False):
        T = tokens_in.shape[1]
        if self.pos.shape[0] < T:
            raise ValueError(f"captions longer than {self.pos.shape[0]} tokens are not supported")
        x = self.embed(tokens_in) + self.pos[:T]
        attn = []
        for block in self.blocks:
            x, w = block(x, memory, causal=True, need_weights=return_attn)
            attn.append(w)
        logits = self.out(self.ln(x))
        return (logits, torch.stack(attn)) if return_attn else logits

    def forward(self, regions: torch.Tensor, tokens_in: torch.Tensor, return_attn: bool = False):
        return self.decode(self.memory(regions), tokens_in, return_attn)

    def init_state(self, regions: torch.Tensor) -> tuple[torch.Tensor, ...]:
        mem = self.memory(regions)
        return mem, torch.zeros(len(mem), 0, dtype=torch.int64, device=mem.device)

    def step(self, token: torch.Tensor, state: tuple[torch.Tensor, ...]
             ) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        mem, prefix = state  # the prefix is re-read each step (short captions: cheap and clear)
        prefix = torch.cat([prefix, token[:, None]], 1)
        return self.decode(mem, prefix)[:, -1], (mem, prefix)


class Captioner(nn.Module):
    """Encoder + one decoder: ``forward(images (B,C,H,W), tokens_in (B,T)) -> logits (B,T,V)``."""

    def __init__(self, kind: str, vocab_size: int, in_ch: int, grid: tuple[int, int],
                 hidden: int = 128, n_layers: int = 2, n_heads: int = 4, region_dim: int = 64,
                 max_len: int = 32) -> None:
        super().__init__()
        check_choice("decoder", kind, DECODERS)
        self.kind = kind
        n_regions = grid[0] * grid[1]
        self.encoder = CNNEncoder(in_ch, region_dim, grid)
        if kind == "rnn":
            self.decoder = RNNDecoder(vocab_size, hidden, region_dim, n_regions)
        elif kind == "lstm":
            self.decoder = LSTMDecoder(vocab_size, hidden, region_dim, n_regions)
        else:
            self.decoder = TransformerDecoder(vocab_size, hidden, region_dim, n_regions,
                                              n_layers, n_heads, max_len)

    def forward(self, images: torch.Tensor, tokens_in: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(images), tokens_in)


def build_models(cfg: CaptioningConfig, data: CaptionData) -> nn.ModuleDict:
    """One :class:`Captioner` per decoder in ``cfg.decoders``; all encoders start identical."""
    models = {}
    for kind in cfg.decoder_list:
        torch.manual_seed(cfg.seed)  # same encoder init for every decoder
        models[kind] = Captioner(kind, len(data.vocab), data.images.shape[1], data.grid,
                                 cfg.hidden, cfg.n_layers, cfg.n_heads,
                                 max_len=data.tokens.shape[1] + 2)
    return nn.ModuleDict(models)


def caption_loss(model: Captioner, images: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    """Teacher-forcing cross-entropy (nats per word): read ``tokens[:, :-1]``, predict
    ``tokens[:, 1:]``; padding is ignored."""
    logits = model(images, tokens[:, :-1])
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1),
                           ignore_index=Vocab.pad)


# ----------------------------------------------------------------------------- decoding


@torch.no_grad()
def greedy_decode(model: Captioner, images: torch.Tensor, max_len: int) -> torch.Tensor:
    """Pick the most likely word at every step: ``images (B,C,H,W) -> tokens (B, max_len)``
    (padded after ``<eos>``)."""
    state = model.decoder.init_state(model.encoder(images))
    token = torch.full((len(images),), Vocab.bos, dtype=torch.int64, device=images.device)
    done = torch.zeros(len(images), dtype=torch.bool, device=images.device)
    out = []
    for _ in range(max_len):
        logits, state = model.decoder.step(token, state)
        token = logits.argmax(-1).masked_fill(done, Vocab.pad)
        out.append(token)
        done |= token == Vocab.eos
        if bool(done.all()):
            break
    return torch.stack(out, 1)


@torch.no_grad()
def beam_search(model: Captioner, images: torch.Tensor, max_len: int, beam_size: int = 3
                ) -> torch.Tensor:
    """Beam search: keep the ``beam_size`` most likely partial captions (sum of log-probs) per
    image; finished beams (``<eos>``) keep their score. Returns the best beam's tokens
    (B, <= max_len). ``beam_size=1`` is greedy decoding."""
    B, K = len(images), beam_size
    dev = images.device
    state = model.decoder.init_state(model.encoder(images))
    state = tuple(s.repeat_interleave(K, 0) for s in state)  # (B*K, ...)
    scores = torch.full((B, K), float("-inf"), device=dev)
    scores[:, 0] = 0.0  # start from one beam per image
    token = torch.full((B * K,), Vocab.bos, dtype=torch.int64, device=dev)
    done = torch.zeros(B * K, dtype=torch.bool, device=dev)
    seqs = torch.zeros(B * K, 0, dtype=torch.int64, device=dev)
    for _ in range(max_len):
        logits, state = model.decoder.step(token, state)
        logp = logits.log_softmax(-1)
        V = logp.shape[-1]
        finished = torch.full_like(logp, float("-inf"))
        finished[:, Vocab.pad] = 0.0  # a finished beam can only add padding, at no cost
        logp = torch.where(done[:, None], finished, logp)
        cand = (scores.view(B * K, 1) + logp).view(B, K * V)
        scores, flat = cand.topk(K, dim=1)  # (B, K)
        beam = flat // V + torch.arange(B, device=dev)[:, None] * K
        beam, token = beam.view(-1), (flat % V).view(-1)
        state = tuple(s.index_select(0, beam) for s in state)
        seqs = torch.cat([seqs.index_select(0, beam), token[:, None]], 1)
        done = done.index_select(0, beam) | (token == Vocab.eos) | (token == Vocab.pad)
        if bool(done.all()):
            break
    best = scores.argmax(1) + torch.arange(B, device=dev) * K
    return seqs[best]


def decode(model: Captioner, images: torch.Tensor, max_len: int, method: str = "greedy",
           beam_size: int = 3, batch: int = 256) -> torch.Tensor:
    """Greedy or beam decoding in chunks of ``batch`` images; tokens (N, <= max_len), padded."""
    outs = []
    for i in range(0, len(images), batch):
        x = images[i:i + batch]
        outs.append(beam_search(model, x, max_len, beam_size) if method == "beam"
                    else greedy_decode(model, x, max_len))
    width = max(o.shape[1] for o in outs)
    return torch.cat([F.pad(o, (0, width - o.shape[1]), value=Vocab.pad) for o in outs])


@torch.no_grad()
def cross_attention(model: Captioner, images: torch.Tensor, max_len: int
                    ) -> tuple[list[list[str]], np.ndarray]:
    """Greedy captions of a Transformer captioner and its cross-attention for every word.

    Returns:
        ``(words, attn)``: the generated words per image (up to and including ``<eos>``) and
        float32 attention (B, layers, T, rows, cols), averaged over heads; row t is where the
        model looked while choosing word t. Raises ValueError for a recurrent captioner.
    """
    if model.kind != "transformer":
        raise ValueError("cross-attention exists only for the Transformer decoder")
    tokens = greedy_decode(model, images, max_len)
    tokens_in = torch.cat([torch.full_like(tokens[:, :1], Vocab.bos), tokens], 1)[:, :-1]
    _, attn = model.decoder(model.encoder(images), tokens_in, return_attn=True)
    rows, cols = model.encoder.grid
    a = attn.mean(2).permute(1, 0, 2, 3)  # (B, layers, T, R)
    a = a.reshape(*a.shape[:3], rows, cols).cpu().numpy().astype(np.float32)
    return tokens.cpu(), a


# ------------------------------------------------------------------------------- metrics


def _ngrams(words: list[str], n: int) -> dict[tuple[str, ...], int]:
    counts: dict[tuple[str, ...], int] = {}
    for i in range(len(words) - n + 1):
        g = tuple(words[i:i + n])
        counts[g] = counts.get(g, 0) + 1
    return counts


def corpus_bleu4(references: list[str], hypotheses: list[str]) -> float:
    """Corpus-level BLEU-4 with one reference per image (Papineni et al., ACL 2002).

    ``BLEU = BP * exp(mean_{n=1..4} log p_n)``, where ``p_n`` = clipped n-gram matches / n-grams
    in the hypotheses, summed over the corpus, and the brevity penalty
    ``BP = min(1, exp(1 - r / c))`` for total reference length r and hypothesis length c.
    No smoothing: 0.0 when some ``p_n`` is 0 (as NLTK's ``corpus_bleu`` default).

    Returns:
        BLEU-4 in [0, 1].

    Raises:
        ValueError: when the two lists differ in length.
    """
    if len(references) != len(hypotheses):
        raise ValueError("need one hypothesis per reference")
    matches, totals = [0] * 4, [0] * 4
    r_len = c_len = 0
    for ref, hyp in zip(references, hypotheses):
        r, h = ref.split(), hyp.split()
        r_len, c_len = r_len + len(r), c_len + len(h)
        for n in range(1, 5):
            hc, rc = _ngrams(h, n), _ngrams(r, n)
            matches[n - 1] += sum(min(c, rc.get(g, 0)) for g, c in hc.items())
            totals[n - 1] += max(0, len(h) - n + 1)
    if c_len == 0 or min(matches) == 0:
        return 0.0
    log_p = sum(math.log(m / t) for m, t in zip(matches, totals)) / 4
    bp = 1.0 if c_len > r_len else math.exp(1 - r_len / c_len)
    return bp * math.exp(log_p)


def exact_match(references: list[str], hypotheses: list[str]) -> float:
    """Fraction of images whose caption equals the reference word for word."""
    return float(np.mean([r.split() == h.split() for r, h in zip(references, hypotheses)]))


def evaluate(model: Captioner, data: CaptionData, n: int, method: str = "greedy",
             beam_size: int = 3) -> tuple[float, float, list[str]]:
    """(BLEU-4, exact match, captions) of the first ``n`` held-out images."""
    dev = next(model.parameters()).device
    with eval_mode(model):
        toks = decode(model, data.images[:n].to(dev), data.tokens.shape[1], method, beam_size)
    hyps = [data.vocab.decode(t) for t in toks.cpu()]
    refs = data.captions[:n]
    return corpus_bleu4(refs, hyps), exact_match(refs, hyps), hyps


def grad_through_time(model: Captioner, images: torch.Tensor, tokens: torch.Tensor
                      ) -> np.ndarray:
    """How much the loss of the *last* word reaches back to each earlier recurrent state.

    With teacher forcing, let ``l_n`` be the cross-entropy of the caption's last word and
    ``s_t`` the decoder state after reading t words (``s_0`` is set by the image; ``s = h`` for
    the RNN, ``s = (h, c)`` for the LSTM). Returns the batch-mean ``||d l_n / d s_t||`` for
    t = 0..n, float64 (n + 1,). For a vanilla RNN it typically shrinks geometrically as t goes
    back (vanishing gradients); the LSTM's cell state carries it further.

    Raises:
        ValueError: for the Transformer decoder (it has no recurrence).
    """
    if model.kind == "transformer":
        raise ValueError("gradient through time is defined for the RNN and LSTM decoders")
    lengths = (tokens != Vocab.pad).sum(1) - 2  # words per caption
    n = int(lengths.min())  # positions every caption in the batch has
    with eval_mode(model, no_grad=False):
        states = model.decoder.states(model.encoder(images), tokens[:, :n])
        logits = model.decoder.out(states[n][0])  # predicts word n (1-based) from s_n
        loss = F.cross_entropy(logits, tokens[:, n])
        flat = [t for s in states for t in s]
        grads = torch.autograd.grad(loss, flat, allow_unused=True)
    k = len(states[0])
    out = []
    for t in range(n + 1):
        sq = sum((g.pow(2).sum(1) if g is not None else 0) for g in grads[t * k:(t + 1) * k])
        out.append(float(torch.as_tensor(sq).sqrt().mean()))
    return np.asarray(out)


def attention_overlay(image: np.ndarray, attn: np.ndarray, floor: float = 0.15) -> np.ndarray:
    """Spotlight an attention grid (rows, cols) on an image (C, H, W) in [0, 1]: uint8 (H, W, 3).

    The grid is scaled so its largest weight is 1, upsampled (nearest neighbour) to the image
    size, and multiplies the image's brightness (``floor`` keeps unattended regions faintly
    visible); a thin cyan frame marks the most attended region.
    """
    c, h, w = image.shape
    rgb = np.repeat(image, 3, 0) if c == 1 else image[:3]
    a = attn / max(float(attn.max()), 1e-8)
    rows, cols = a.shape
    ys = np.minimum(np.arange(h) * rows // h, rows - 1)
    xs = np.minimum(np.arange(w) * cols // w, cols - 1)
    up = a[ys][:, xs]
    out = rgb * (floor + (1 - floor) * up)[None]
    r, q = np.unravel_index(int(a.argmax()), a.shape)
    y0, y1 = int(np.searchsorted(ys, r)), int(np.searchsorted(ys, r, side="right")) - 1
    x0, x1 = int(np.searchsorted(xs, q)), int(np.searchsorted(xs, q, side="right")) - 1
    for ch, v in enumerate((0.0, 1.0, 1.0)):
        out[ch, y0, x0:x1 + 1] = out[ch, y1, x0:x1 + 1] = v
        out[ch, y0:y1 + 1, x0] = out[ch, y0:y1 + 1, x1] = v
    return (np.clip(out.transpose(1, 2, 0), 0, 1) * 255 + 0.5).astype(np.uint8)


# ----------------------------------------------------------------------- your own scene

SCENE_MAX_WORDS = 14  # decoding limit for a composed scene


def vocabulary(itos: list[str]) -> Vocab:
    """The :class:`Vocab` of a run, from its words by id (the ``vocab`` artifact)."""
    vocab = Vocab([w for w in itos if not w.startswith("<")])
    if vocab.itos != list(itos):
        raise ValueError("these words are not a captioning vocabulary (special tokens first, "
                         "then the words in sorted order)")
    return vocab


@dataclass
class SceneCaptions:
    """A composed scene and what each trained decoder says about it."""

    image: np.ndarray  # (3, 32, 32) float in [0, 1]
    truth: str  # the caption the shapes grammar gives it
    captions: dict[str, str]  # {decoder: generated caption}


def caption_scene(models: nn.ModuleDict, cfg: CaptioningConfig, itos: list[str],
                  first: tuple[str, str, str], second: tuple[str, str, str],
                  relation: str) -> SceneCaptions:
    """Draw two objects ``(size, color, shape)`` at fixed places (``first`` left of or above
    ``second``) and caption the scene with every trained captioner of a ``shapes`` run
    (``cfg.decoding``, ``cfg.beam_size``); ``itos`` is the run's ``vocab`` artifact.

    Raises:
        ValueError: for an unknown relation, size, color or shape, or a run not on shapes.
    """
    if cfg.dataset != "shapes":
        raise ValueError("only runs on the shapes scenes can caption a composed scene")
    vocab = vocabulary(itos)
    image = compose_scene(first, second, relation)
    x = torch.from_numpy(image)[None]
    captions = {}
    for k, model in models.items():
        with eval_mode(model):
            toks = decode(model, x, SCENE_MAX_WORDS, cfg.decoding, cfg.beam_size)
        captions[k] = vocab.decode(toks[0])
    return SceneCaptions(image, scene_caption(first, second, relation, cfg.style), captions)


# ------------------------------------------------------------------------------- trainer


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def train_step(models: nn.ModuleDict, opts: dict[str, torch.optim.Optimizer],
               images: torch.Tensor, tokens: torch.Tensor, max_grad_norm: float
               ) -> dict[str, torch.Tensor]:
    """One Adam step of every captioner on the same batch; ``{"loss_<decoder>": loss}``
    (detached)."""
    losses = {}
    for k, m in models.items():
        loss = caption_loss(m, images, tokens)
        opts[k].zero_grad()
        loss.backward()
        if max_grad_norm > 0:
            nn.utils.clip_grad_norm_(m.parameters(), max_grad_norm)
        opts[k].step()
        losses[f"loss_{k}"] = loss.detach()
    return losses


def evaluate_decoders(models: nn.ModuleDict, cfg: CaptioningConfig, test: CaptionData
                      ) -> tuple[dict[str, float], dict]:
    """Held-out scores of every captioner (``bleu4_<d>``, ``exact_match_<d>`` and their means
    ``bleu4``, ``exact_match``) and the page's views of them: ``captions`` of the sample images,
    the Transformer's cross-``attention``, the recurrent decoders' ``grad_time``."""
    dev = next(models.parameters()).device
    samples = test.images[:N_SAMPLES].to(dev)
    max_len = test.tokens.shape[1]
    scores: dict[str, float] = {}
    art: dict = {"captions": {}, "grad_time": {}}
    for k, m in models.items():
        scores[f"bleu4_{k}"], scores[f"exact_match_{k}"], _ = evaluate(
            m, test, min(cfg.eval_size, len(test)), cfg.decoding, cfg.beam_size)
        with eval_mode(m):
            toks = decode(m, samples, max_len, cfg.decoding, cfg.beam_size)
            art["captions"][k] = [test.vocab.decode(t) for t in toks.cpu()]
            if k == "transformer":
                words, attn = cross_attention(m, samples, max_len)
                art["attention"] = {"words": [[test.vocab.itos[i] for i in row if i != Vocab.pad]
                                              for row in words.tolist()], "attn": attn}
        if k in ("rnn", "lstm"):
            art["grad_time"][k] = grad_through_time(m, test.images[:64].to(dev),
                                                    test.tokens[:64].to(dev))
    scores["bleu4"] = float(np.mean([scores[f"bleu4_{k}"] for k in models]))
    scores["exact_match"] = float(np.mean([scores[f"exact_match_{k}"] for k in models]))
    if not art["grad_time"]:
        del art["grad_time"]
    return scores, art


def train(cfg: CaptioningConfig) -> Iterator[Snapshot]:
    """Train the chosen decoders side by side on the same batches; yield snapshots.

    Metrics, per decoder d in ``cfg.decoders``: ``loss_d`` (teacher-forcing cross-entropy in
    nats/word, mean over the last 32 steps), and when scored on held-out images
    (from the second snapshot on, at most every 1.5 s and a quarter of the time, and at the end)
    ``bleu4_d`` and ``exact_match_d`` in [0, 1]. The plain ``loss``, ``bleu4``, ``exact_match``
    are their means over the decoders trained.

    Artifacts: ``samples`` (held-out images (6, C, H, W) float), ``references`` and ``captions``
    ({decoder: [str]}) for them; ``attention`` ({"words": [[str]], "attn": (6, n_layers, T,
    rows, cols)}) for the Transformer; ``grad_time`` ({decoder: (n+1,) array}) for the RNN/LSTM;
    ``params`` ({decoder: count}); ``vocab`` (the words by id); ``eval_step``. ``model`` (an
    ``nn.ModuleDict`` of the captioners) on the final snapshot.
    """
    device = start(cfg)
    gen = torch.Generator().manual_seed(cfg.seed)
    tr, te = get_data(cfg.dataset, cfg.n_train, cfg.style)
    models = build_models(cfg, tr).to(device)
    opts = {k: torch.optim.Adam(m.parameters(), lr=cfg.lr) for k, m in models.items()}
    x_tr, y_tr = tr.images.to(device), tr.tokens.to(device)
    art: dict = {"params": {k: n_params(m) for k, m in models.items()},
                 "samples": te.images[:N_SAMPLES].numpy(), "references": te.captions[:N_SAMPLES],
                 "vocab": tr.vocab.itos, "dataset": tr.name, "note": tr.note}
    tick, budget, copies = Ticker(total=cfg.steps), EvalBudget(0.25, 1.5), CopyCadence(0)
    losses = RunningMean()
    for step in range(1, cfg.steps + 1):
        idx = torch.randint(0, len(x_tr), (min(cfg.batch_size, len(x_tr)),), generator=gen)
        idx = idx.to(device)
        losses.add(**train_step(models, opts, x_tr[idx], y_tr[idx], cfg.max_grad_norm))
        if not tick(step):
            continue
        final = step == cfg.steps
        metrics = losses.pop()
        metrics["loss"] = float(np.mean([metrics[f"loss_{k}"] for k in models]))
        if budget.due(final) and (step > 1 or final):  # the first snapshot comes at once
            with budget.timed():
                scores, views = evaluate_decoders(models, cfg, te)
            metrics.update(scores)
            art = {**art, **views, "eval_step": step}
        yield Snapshot(step, tick.elapsed, metrics, dict(art),
                       total_steps=cfg.steps, final=final, model=copies(models, final))


DEMOS = [Demo("captioning", CaptioningConfig, train, title="Image captioning",
              description="A CNN encoder with a vanilla RNN, an LSTM and a Transformer decoder "
              "caption shape scenes or MNIST digit strips, side by side.")]
