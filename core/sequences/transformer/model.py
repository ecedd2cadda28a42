"""The decoder-only Transformer (minGPT): token embedding + positional encoding (learned,
sinusoidal or none) -> causal pre-LN blocks -> LayerNorm -> linear head.

References: Vaswani et al., "Attention Is All You Need" (NeurIPS 2017) for the sinusoidal
encoding; Radford et al. (GPT-2, 2019) for the pre-norm block and its initialization.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch import nn

from core.blocks.attention import Block, gpt2_init_
from core.sequences.transformer.data import VOCAB, layout

__all__ = ["GPT", "build_model", "sinusoidal_encoding"]

if TYPE_CHECKING:
    from core.sequences.transformer.train import TransformerConfig

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
