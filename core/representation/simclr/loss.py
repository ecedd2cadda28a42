"""SimCLR's NT-Xent loss and the similarities of a batch's positive and negative pairs.

Reference: Chen, Kornblith, Norouzi & Hinton, "A Simple Framework for Contrastive Learning of
Visual Representations", ICML 2020, arXiv:2002.05709, Sec. 2.1 and Algorithm 1.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - the usual alias

__all__ = ["batch_metrics", "nt_xent_loss", "pair_similarities"]

def nt_xent_loss(z: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """NT-Xent (normalized temperature-scaled cross-entropy), SimCLR eq. (1).

    Args:
        z: projections of two views, shape (2N, D): rows ``i`` and ``i + N`` are the positive
            pair of image ``i``; every other row is a negative. Need not be normalised.
        temperature: tau > 0 (unitless; similarities are cosines in [-1, 1]).

    Returns:
        the scalar loss in nats, averaged over all 2N anchors (both orders of each pair).

    Raises:
        ValueError: if ``z`` is not 2-D with an even number (>= 4) of rows, or tau <= 0.

    Reference: Chen et al., ICML 2020, arXiv:2002.05709, Sec. 2.1 and Algorithm 1.
    """
    if z.ndim != 2 or z.shape[0] % 2 or z.shape[0] < 4:
        raise ValueError(f"z must have shape (2N, D) with N >= 2, got {tuple(z.shape)}")
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    n2 = z.shape[0]
    n = n2 // 2
    zn = F.normalize(z, dim=1)
    logits = zn @ zn.T / temperature                          # (2N, 2N) cosine / tau
    self_mask = torch.eye(n2, dtype=torch.bool, device=z.device)
    logits = logits.masked_fill(self_mask, float("-inf"))     # k != i in the denominator
    positive = torch.cat([torch.arange(n, n2), torch.arange(0, n)]).to(z.device)
    return F.cross_entropy(logits, positive)


def pair_similarities(z: torch.Tensor, max_negatives: int = 4000,
                      generator: torch.Generator | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Cosine similarities of positive pairs (N,) and of a sample of negative pairs.

    Args:
        z: projections of two views, (2N, D), as for :func:`nt_xent_loss`.
        max_negatives: at most this many negative similarities are returned (random sample).

    Returns:
        ``(positives (N,), negatives (<= max_negatives,))`` float32 arrays in [-1, 1].
    """
    with torch.no_grad():
        zn = F.normalize(z.detach().float(), dim=1)
        n = zn.shape[0] // 2
        sim = zn @ zn.T
        pos = sim[torch.arange(n), torch.arange(n, 2 * n)]
        mask = ~torch.eye(2 * n, dtype=torch.bool, device=z.device)
        mask[torch.arange(n), torch.arange(n, 2 * n)] = False
        mask[torch.arange(n, 2 * n), torch.arange(n)] = False
        neg = sim[mask]
        if neg.numel() > max_negatives:
            idx = torch.randperm(neg.numel(), generator=generator)[:max_negatives]
            neg = neg[idx.to(neg.device)]
    return pos.cpu().numpy().astype(np.float32), neg.cpu().numpy().astype(np.float32)


def batch_metrics(z: torch.Tensor, generator: torch.Generator) -> tuple[dict, np.ndarray,
                                                                           np.ndarray]:
    """Of one batch's projections z (2N, P): ``pos_sim`` / ``neg_sim`` (mean cosine of positive
    and negative pairs), ``contrast_acc`` (fraction of views whose most similar other view is
    their positive), and the similarity samples ``(positives (N,), negatives)``."""
    pos, neg = pair_similarities(z, generator=generator)
    zn = F.normalize(z, dim=1)
    sim = zn @ zn.T
    sim.fill_diagonal_(-2.0)
    n = len(z) // 2
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
    acc = float((sim.argmax(1) == target).float().mean())
    return {"pos_sim": float(pos.mean()), "neg_sim": float(neg.mean()), "contrast_acc": acc}, \
        pos, neg
