"""The captioners: a small CNN encoder (images -> a grid of region features) and three
decoders with one interface (vanilla RNN and LSTM, "Show and Tell", Vinyals et al. 2015;
Transformer, Vaswani et al. 2017), and the teacher-forcing loss.

Shapes: images (B, C, H, W); regions (B, R, D); tokens (B, T); logits (B, T, V).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from core.blocks.attention import Block
from core.blocks.recurrent import LSTMCell, RNNCell
from core.checks import check_choice
from core.data.captions import CaptionData, Vocab

if TYPE_CHECKING:
    from core.sequences.captioning.train import CaptioningConfig

__all__ = ["DECODERS", "DECODER_NAMES", "CNNEncoder", "Captioner", "LSTMDecoder", "RNNDecoder",
           "TransformerDecoder", "build_models", "caption_loss"]

DECODERS = ("rnn", "lstm", "transformer")
DECODER_NAMES = {"rnn": "vanilla RNN", "lstm": "LSTM", "transformer": "Transformer"}


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
