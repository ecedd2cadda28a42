"""The LSTM encoder-decoder (Sutskever, Vinyals & Le 2014; Cho et al. 2014) for the three
modalities, the CNN that embeds symbol images, and the batches and loss it trains on.

Shapes: question ids ``(B, 5)`` or images ``(B, 5, 1, 28, 28)``; answer ids ``(B, 4)`` or
images ``(B, 4, 784)``; LSTM states ``(B, hidden)`` per layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from core.blocks.recurrent import StackedLSTM
from core.sequences.seq2seq.data import (
    A_LEN,
    GO,
    MINUS,
    PLUS,
    SYMBOLS,
    SymbolBank,
    encode_answers,
    encode_questions,
)

if TYPE_CHECKING:
    from core.sequences.seq2seq.train import Seq2SeqConfig

__all__ = ["DigitCNN", "Seq2Seq", "build_model", "loss_fn", "make_inputs", "make_targets"]


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
