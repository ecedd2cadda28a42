"""The answer loss under teacher forcing, held-out evaluation and greedy decoding."""

from __future__ import annotations

import torch
from torch.nn import functional as F

from core.protocol import eval_mode
from core.sequences.transformer.model import GPT

__all__ = ["answer_loss", "evaluate", "generate"]

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
