"""Splits, scaling, windows and the baselines of /forecasting.

The series is split in time order: train = [0, a), validation = [a, b), test = [b, N). Values
are scaled with the training part's mean and standard deviation. Baselines: last value,
seasonal naive ``x_hat_t = x_{t - period}`` and a ridge-regularised linear autoregression on
the same window. Shapes: series (N,) float64 in data units; windows (M, W).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["split_bounds", "scaling", "target_windows", "train_windows", "errors", "baselines"]


def split_bounds(n: int, cfg) -> tuple[int, int]:
    """``(a, b)`` for a series of ``n`` values and a config with ``window``, ``test_frac`` and
    ``val_frac``: train = [0, a), validation = [a, b), test = [b, n).

    Raises:
        ValueError: when the training part is too short for the window."""
    n_test = max(1, int(round(n * cfg.test_frac)))
    n_val = max(1, int(round(n * cfg.val_frac)))
    a = n - n_test - n_val
    if a < cfg.window + 8:
        raise ValueError(f"the training part has {a} values, too few for a window of "
                         f"{cfg.window}; use a shorter window (at most {max(4, a - 8)}) or "
                         "smaller validation and test shares")
    return a, a + n_val


def scaling(values: np.ndarray, n_train: int, normalization: str) -> tuple[float, float]:
    """``(mean, std)`` of the training part ``values[:n_train]``; ``(0, 1)`` for ``none``."""
    if normalization == "none":
        return 0.0, 1.0
    tr = values[:n_train]
    return float(tr.mean()), float(max(tr.std(), 1e-8))


def target_windows(s: np.ndarray, targets: np.ndarray, window: int) -> np.ndarray:
    """The input windows (M, window) ``s[t - window : t]`` ending just before each target index
    ``t`` (all ``t >= window``)."""
    idx = targets[:, None] - window + np.arange(window)[None, :]
    return s[idx]


def train_windows(s: np.ndarray, a: int, window: int) -> torch.Tensor:
    """All training windows of ``window + 1`` values inside [0, a): (M, window + 1) float32."""
    starts = np.arange(0, a - window)
    return torch.as_tensor(s[starts[:, None] + np.arange(window + 1)[None, :]],
                           dtype=torch.float32)


def errors(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """``{"mae", "rmse"}`` of predictions against truth (same shapes)."""
    e = np.asarray(pred, dtype=np.float64) - np.asarray(true, dtype=np.float64)
    return {"mae": float(np.abs(e).mean()), "rmse": float(np.sqrt((e ** 2).mean()))}


def baselines(v: np.ndarray, a: int, b: int, window: int, period: int,
              mean: float, std: float) -> dict[str, dict]:
    """Last value, seasonal naive and a linear AR(``window``) model (fit on [0, a) by ridge
    regression) on the test part [b, N) of ``v`` (N,).

    Returns:
        ``{name: {"pred": (N - b,), "mae": float, "rmse": float}}`` in data units.
    """
    t = np.arange(b, len(v))
    s = (v - mean) / std
    tr = np.arange(window, a)
    X = np.c_[target_windows(s, tr, window), np.ones(len(tr))]
    w = np.linalg.solve(X.T @ X + 1e-3 * np.eye(X.shape[1]), X.T @ s[tr])
    lin = (np.c_[target_windows(s, t, window), np.ones(len(t))] @ w) * std + mean
    preds = {"last value": v[t - 1], f"seasonal naive ({period})": v[t - period],
             "linear": lin}
    return {k: {"pred": p, **errors(p, v[t])} for k, p in preds.items()}
