"""The learning-rate range test (the ``lr_finder`` demo), then a short run at each suggestion.

References: Smith, "Cyclical Learning Rates for Training Neural Networks", WACV 2017 (the
range test); fastai's ``Learner.lr_find`` (1e-7 to 10, 100 steps, smoothed loss with
β = 0.98, stop when it exceeds 4x its minimum; suggestion rules ``valley``, ``slide``,
``minimum``, ``steep``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from core.foundations.optimizers.mnist import (
    accuracy,
    batches,
    mnist_net,
    mnist_tensors,
    train_step,
)
from core.foundations.optimizers.optim import OPTIMIZERS, make_optimizer
from core.protocol import Demo, RunOptions, Snapshot, Ticker, param, start

__all__ = ["RULES", "LrFinderConfig", "range_test", "suggestions", "train_lr_finder"]


@dataclass(frozen=True)
class LrFinderConfig(RunOptions):
    """Smith's learning-rate range test on MNIST with fastai's defaults, then a short training
    run with each suggested learning rate."""

    optimizer: str = param("adam", choices=OPTIMIZERS, help="the optimizer being tuned")
    start_lr: float = param(1e-7, lo=1e-9, hi=1e-2, log=True, label="Start learning rate")
    end_lr: float = param(10.0, lo=1e-3, hi=100.0, log=True, label="End learning rate")
    num_it: int = param(100, lo=20, hi=500, step=10, label="Range-test steps")
    batch_size: int = param(64, choices=(16, 32, 64, 128, 256))
    hidden: int = param(32, lo=8, hi=256, step=8, help="hidden units of the MLP")
    steps: int = param(300, lo=20, hi=3000, step=20, help="training steps per suggestion")
    momentum: float = param(0.9, lo=0.0, hi=0.99, step=0.01, label="Momentum β")

    def __post_init__(self) -> None:
        if self.start_lr >= self.end_lr:
            raise ValueError("the start learning rate must be below the end learning rate")


def range_test(model: nn.Module, opt: torch.optim.Optimizer, data: Iterator, start_lr: float,
               end_lr: float, num_it: int, beta: float = 0.98) -> Iterator[tuple[float, float]]:
    """Smith's range test as fastai runs it: the learning rate grows exponentially from
    ``start_lr`` to ``end_lr`` over ``num_it`` steps; yields ``(lr, smoothed loss)`` per step,
    the loss an exponential moving average (β = 0.98, bias-corrected); stops when the smoothed
    loss exceeds 4x its minimum or is not finite (divergence)."""
    avg, best = 0.0, math.inf
    for i in range(num_it):
        lr = start_lr * (end_lr / start_lr) ** (i / max(1, num_it - 1))
        for g in opt.param_groups:
            g["lr"] = lr
        raw = train_step(model, opt, *next(data))
        if not math.isfinite(raw):
            return
        avg = beta * avg + (1 - beta) * raw
        smooth = avg / (1 - beta ** (i + 1))
        if smooth > 4 * best:
            return
        best = min(best, smooth)
        yield lr, smooth


def suggestions(lrs: np.ndarray, losses: np.ndarray) -> dict[str, float]:
    """fastai's four suggestion rules on a range test, after dropping its first 10% and last 5
    points as fastai does (``lrs``, ``losses`` (n,), smoothed):

    * ``minimum``: the learning rate at the lowest loss, divided by 10;
    * ``steep``: where the loss falls fastest against ``log lr``;
    * ``valley``: from the longest run of decreasing losses, the point about halfway down;
    * ``slide``: walk left from the end until the loss gradient flattens (interval 15,
      threshold 0.005).

    Raises:
        ValueError: when fewer than 20 points are left (the test diverged too early).
    """
    n = len(losses)
    lrs, losses = np.asarray(lrs[n // 10:n - 5], float), np.asarray(losses[n // 10:n - 5], float)
    if len(losses) < 20:
        raise ValueError("the range test stopped too early to suggest a learning rate; lower "
                         "the start learning rate")
    out = {"minimum": float(lrs[np.argmin(losses)] / 10)}
    grads = np.diff(losses) / np.diff(np.log(lrs))
    out["steep"] = float(lrs[int(np.argmin(grads))])
    out["valley"] = float(lrs[_valley_index(losses)])
    out["slide"] = _slide(lrs, losses)
    return out


def _valley_index(losses: np.ndarray) -> int:
    """fastai's ``valley``: the longest decreasing subsequence, and 1/3 + 1/6 of the way down."""
    n = len(losses)
    lds, max_start, max_end = [1] * n, 0, 0
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and lds[i] < lds[j] + 1:
                lds[i] = lds[j] + 1
            if lds[max_end] < lds[i]:
                max_end, max_start = i, i - lds[i]
    sections = (max_end - max_start) / 3
    return max_start + int(sections) + int(sections / 2)


def _slide(lrs: np.ndarray, losses: np.ndarray, lr_diff: int = 15, thresh: float = 0.005) -> float:
    """fastai's ``slide`` rule (see :func:`suggestions`)."""
    loss_grad = np.gradient(losses)
    r_idx, l_idx = -1, -1 - lr_diff
    local_min_lr = lrs[l_idx]
    while l_idx >= -len(losses) and abs(loss_grad[r_idx] - loss_grad[l_idx]) > thresh:
        local_min_lr = lrs[l_idx]
        r_idx, l_idx = r_idx - 1, l_idx - 1
    return float(local_min_lr)


RULES = ("valley", "slide", "minimum", "steep")


def train_lr_finder(cfg: LrFinderConfig) -> Iterator[Snapshot]:
    """Phase 1: the range test (``smooth_loss`` against ``lr``, one snapshot per tick).
    Phase 2: for each rule a fresh copy of the same initial network trains ``cfg.steps`` steps
    at the suggested learning rate (``loss_<rule>``, ``test_acc_<rule>``; ``test_acc`` is the
    best of them). Artifacts: ``curve`` ``(lrs, losses)``, ``suggest`` {rule: lr}, ``runs``."""
    device = start(cfg)
    xtr, ytr, xte, yte, note = mnist_tensors(device)
    gen = torch.Generator().manual_seed(cfg.seed)
    init = mnist_net(cfg.hidden).to(device)
    model = mnist_net(cfg.hidden).to(device)
    model.load_state_dict(init.state_dict())
    opt = make_optimizer(cfg.optimizer, model.parameters(), cfg.start_lr, cfg.momentum)
    total = cfg.num_it + len(RULES) * cfg.steps
    t, lrs, losses = Ticker(total=total), [], []
    for i, (lr, loss) in enumerate(range_test(model, opt, batches(xtr, ytr, cfg.batch_size, gen),
                                              cfg.start_lr, cfg.end_lr, cfg.num_it), start=1):
        lrs.append(lr)
        losses.append(loss)
        if t(i):
            yield Snapshot(i, t.elapsed, {"smooth_loss": loss, "lr": lr},
                           {"curve": (np.array(lrs), np.array(losses)), "note": note},
                           total_steps=total, phase=f"range test: lr {lr:.2g}")
    suggest = suggestions(np.array(lrs), np.array(losses))
    yield from _train_suggestions(cfg, init, suggest, (xtr, ytr, xte, yte),
                                  {"curve": (np.array(lrs), np.array(losses)), "note": note,
                                   "suggest": suggest}, t, total)


def _train_suggestions(cfg: LrFinderConfig, init: nn.Module, suggest: dict[str, float],
                       data: tuple, art: dict, t: Ticker, total: int) -> Iterator[Snapshot]:
    """Phase 2 of :func:`train_lr_finder`: one short run per suggestion from the same init."""
    xtr, ytr, xte, yte = data
    runs: dict[str, list[float]] = {}
    metrics: dict[str, float] = {}
    for k, rule in enumerate(RULES):
        gen = torch.Generator().manual_seed(cfg.seed + 1)  # the same batches for every rule
        model = mnist_net(cfg.hidden).to(xtr.device)
        model.load_state_dict(init.state_dict())
        opt = make_optimizer(cfg.optimizer, model.parameters(), suggest[rule], cfg.momentum)
        data_it, runs[rule] = batches(xtr, ytr, cfg.batch_size, gen), []
        for s in range(1, cfg.steps + 1):
            value = train_step(model, opt, *next(data_it))
            runs[rule].append(min(value, 1e3) if math.isfinite(value) else 1e3)
            step = cfg.num_it + k * cfg.steps + s
            final = k == len(RULES) - 1 and s == cfg.steps
            if s == cfg.steps:
                metrics[f"test_acc_{rule}"] = accuracy(model, xte, yte)
                metrics["test_acc"] = max(v for key, v in metrics.items()
                                          if key.startswith("test_acc_"))
            if t(step) or s == cfg.steps:
                yield Snapshot(step, t.elapsed, {**metrics, f"train_{rule}": runs[rule][-1]},
                               {**art, "runs": {r: np.array(v) for r, v in runs.items()}},
                               total_steps=total, final=final,
                               phase=f"{rule} (lr {suggest[rule]:.2g}): step {s}")


DEMOS = [
    Demo("lr_finder", LrFinderConfig, train_lr_finder, title="Learning-rate range test",
         description="Smith's LR range test on MNIST with fastai's four suggestions, each "
                     "then trained for a short run."),
]
