"""Caption quality on held-out images (corpus BLEU-4, Papineni et al. 2002; exact match) and
how far the last word's loss reaches back through a recurrent decoder (Bengio et al. 1994)."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from core.data.captions import CaptionData, Vocab
from core.protocol import eval_mode
from core.sequences.captioning.decoding import decode
from core.sequences.captioning.model import Captioner

__all__ = ["corpus_bleu4", "evaluate", "exact_match", "grad_through_time"]


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
