"""Caption decoding (greedy and beam search) and where the Transformer decoder looks: its
cross-attention per generated word, and that attention drawn over the image.

Shapes: images (B, C, H, W); tokens (B, <= max_len) padded after ``<eos>``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from core.data.captions import Vocab
from core.sequences.captioning.model import Captioner

__all__ = ["attention_overlay", "beam_search", "cross_attention", "decode", "greedy_decode"]


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
