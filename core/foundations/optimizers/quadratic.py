"""Distill's analysis of gradient descent and momentum on a quadratic ``f(w) = ½ wᵀAw``.

Reference: Goh, "Why Momentum Really Works", Distill (2017): gradient descent converges iff
``0 < α < 2/λ_max``; its best rate ``(κ-1)/(κ+1)`` needs ``α = 2/(λ_min+λ_max)``; heavy-ball
momentum reaches ``(√κ-1)/(√κ+1)`` with ``α = (2/(√λ_min+√λ_max))²`` and
``β = ((√κ-1)/(√κ+1))²``. torch's SGD momentum (``v ← βv + g; w ← w - αv``) is exactly the
article's ``z ← βz + ∇f; w ← w - αz``.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["gd_rate", "measured_rate", "momentum_rate", "quadratic_theory"]


def gd_rate(lr: float, lams: np.ndarray) -> float:
    """Gradient descent's linear rate ``max_i |1 - α λ_i|`` on a quadratic with eigenvalues
    ``lams``; below 1 iff ``0 < α < 2/λ_max``."""
    return float(np.max(np.abs(1 - lr * np.asarray(lams))))


def momentum_rate(lr: float, beta: float, lams: np.ndarray) -> float:
    """Heavy-ball momentum's linear rate: the largest spectral radius over the eigenvalues λ of
    Distill's 2x2 iteration matrix ``[[β, λ], [-αβ, 1 - αλ]]``."""
    out = 0.0
    for lam in np.asarray(lams, dtype=float):
        m = np.array([[beta, lam], [-lr * beta, 1 - lr * lam]])
        out = max(out, float(np.max(np.abs(np.linalg.eigvals(m)))))
    return out


def quadratic_theory(kappa: float, lam_min: float = 1.0) -> dict[str, float]:
    """Distill's optimal step sizes and rates for eigenvalues ``λ_min`` and ``κ λ_min``:
    ``lr_max = 2/λ_max`` (GD converges iff ``0 < α < lr_max``), ``gd_lr`` = ``2/(λ_min+λ_max)``
    with ``gd_rate = (κ-1)/(κ+1)``, and ``mom_lr = (2/(√λ_min+√λ_max))²``,
    ``mom_beta = ((√κ-1)/(√κ+1))²`` with ``mom_rate = (√κ-1)/(√κ+1)``."""
    lam_max = kappa * lam_min
    sk = math.sqrt(kappa)
    return {"lr_max": 2 / lam_max, "gd_lr": 2 / (lam_min + lam_max),
            "gd_rate": (kappa - 1) / (kappa + 1),
            "mom_lr": (2 / (math.sqrt(lam_min) + math.sqrt(lam_max))) ** 2,
            "mom_beta": ((sk - 1) / (sk + 1)) ** 2, "mom_rate": (sk - 1) / (sk + 1)}


def measured_rate(path: np.ndarray, floor: float = 1e-12) -> float | None:
    """The measured linear rate of a path (T+1, 2) towards the optimum at 0: the geometric
    mean of ``‖w_{k+1}‖/‖w_k‖`` over the second half of the steps before ``‖w‖`` hits ``floor``
    (float64 round-off). None when fewer than 4 steps are usable."""
    d = np.linalg.norm(np.asarray(path, dtype=float), axis=1)
    usable = np.nonzero(d > floor)[0]
    if len(usable) < 5:
        return None
    end = int(usable[-1])
    begin = end // 2
    if end - begin < 4 or d[begin] <= 0:
        return None
    return float((d[end] / d[begin]) ** (1 / (end - begin)))
