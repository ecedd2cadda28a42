"""The forecasting trainer (demo ``forecasting``): config, set-up, evaluation and the loop.

A window of ``W`` past values goes in; at every position the model predicts the next value
(:class:`~core.sequences.forecasting.models.Forecaster`); the loss is the MSE of every
position's one-step prediction in scaled units. Evaluations (validation and test one-step
errors; on full evaluations the page's artifacts) come on the clock (:class:`EvalBudget`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from core.data.series import SERIES, Series, load_series
from core.protocol import Demo, EvalBudget, Progress, RunOptions, Snapshot, param, start
from core.sequences.forecasting.data import (
    baselines,
    errors,
    scaling,
    split_bounds,
    target_windows,
    train_windows,
)
from core.sequences.forecasting.gradients import clip_step, forecast_gradients, gate_trace
from core.sequences.forecasting.models import LARGE_GAIN, MODELS, Forecaster, build_net
from core.sequences.forecasting.predict import forecast_future, horizon_errors, one_step

__all__ = ["NORMALIZATIONS", "EVAL_MAX", "ForecastConfig", "series_of", "preview",
           "make_forecaster", "setup", "evaluate", "train"]

NORMALIZATIONS = ("window", "standard", "none")
EVAL_MAX = 1500  # validation windows per evaluation


@dataclass(frozen=True)
class ForecastConfig(RunOptions):
    """Every setting of one forecasting run."""

    series: str = param("co2", choices=tuple(SERIES), help="the series to forecast ('csv': "
                        "your upload)")
    csv: str = param("", help="CSV text of one value per row, or time,value rows (series=csv)")
    window: int = param(64, lo=4, hi=256, label="Input window", help="past values the model "
                        "reads")
    horizon: int = param(24, lo=1, hi=200, help="steps of the multi-step forecasts")
    model: str = param("lstm", choices=MODELS, help="cnn: causal dilated 1-D convolutions; "
                       "transformer: causal self-attention")
    hidden: int = param(32, lo=4, hi=256, help="hidden units (channels, d_model)")
    n_layers: int = param(1, lo=1, hi=4, label="Layers")
    dropout: float = param(0.0, lo=0.0, hi=0.5, step=0.05)
    lr: float = param(3e-3, lo=1e-5, hi=1.0, log=True, label="Learning rate")
    max_grad_norm: float = param(1.0, lo=0.0, hi=100.0, label="Gradient clipping",
                                 help="clip the gradient's norm to this (0: off)")
    large_init: bool = param(False, label="Initialise recurrent weights large",
                             help=f"orthogonal recurrent matrices times {LARGE_GAIN}")
    epochs: int = param(10, lo=1, hi=500)
    batch_size: int = param(64, choices=(16, 32, 64, 128, 256))
    normalization: str = param("window", choices=NORMALIZATIONS,
                               help="window: scale, then start each window at 0; standard: "
                               "z-score with the training mean and deviation; none: raw values")
    test_frac: float = param(0.15, lo=0.05, hi=0.4, step=0.05, label="Test share")
    val_frac: float = param(0.15, lo=0.05, hi=0.4, step=0.05, label="Validation share")

    def __post_init__(self) -> None:
        if self.model == "transformer" and self.hidden % 4:
            raise ValueError("the Transformer needs hidden divisible by 4 (its 4 heads)")
        split_bounds(len(series_of(self).values), self)


def series_of(cfg: ForecastConfig) -> Series:
    """The run's series (:func:`core.data.series.load_series`).

    Raises:
        ValueError: for a CSV that cannot be used (the message says why)."""
    return load_series(cfg.series, cfg.csv)


def preview(cfg: ForecastConfig) -> tuple[Series, int, int, dict[str, dict]]:
    """What a page shows before training: ``(series, a, b, baselines)`` (see
    :func:`~core.sequences.forecasting.data.split_bounds` and
    :func:`~core.sequences.forecasting.data.baselines`).

    Raises:
        ValueError: as :func:`series_of` and ``split_bounds``."""
    series = series_of(cfg)
    v = series.values
    a, b = split_bounds(len(v), cfg)
    mean, std = scaling(v, a, cfg.normalization)
    return series, a, b, baselines(v, a, b, cfg.window, min(series.period, b), mean, std)


def make_forecaster(cfg: ForecastConfig, mean: float, std: float) -> Forecaster:
    """The untrained forecaster of ``cfg`` (one input and one output channel)."""
    net = build_net(cfg.model, 1, cfg.hidden, cfg.n_layers, 1, cfg.dropout, cfg.large_init)
    return Forecaster(net, mean, std, cfg.normalization == "window")


@dataclass
class _Eval:
    v: np.ndarray
    a: int
    b: int
    base: dict


def setup(cfg: ForecastConfig, device: torch.device) -> tuple[Forecaster, _Eval, torch.Tensor]:
    """The model, the evaluation data (baselines included) and the training windows
    (M, window + 1) in scaled units."""
    series, a, b, base = preview(cfg)
    v = series.values
    mean, std = scaling(v, a, cfg.normalization)
    model = make_forecaster(cfg, mean, std).to(device)
    return model, _Eval(v, a, b, base), train_windows((v - mean) / std, a, cfg.window)


def _full_artifacts(model: Forecaster, cfg: ForecastConfig, ev: _Eval, test_t: np.ndarray,
                    noise: float) -> dict:
    """Gradients per step, forget gates of one window, error vs horizon, the future band."""
    v, b = ev.v, ev.b
    sample = test_t[np.linspace(0, len(test_t) - 1, min(64, len(test_t))).astype(int)]
    s = model.scale(torch.as_tensor(target_windows(v, sample[:1], cfg.window),
                                    dtype=torch.float32, device=model.mean.device))
    return {"grad_norms": forecast_gradients(model, v, sample, cfg.window),
            "forget_gates": gate_trace(model.net, model.net_input(s)),
            "horizon": horizon_errors(model, v, b, min(cfg.horizon, len(v) - b), cfg.window),
            "future": forecast_future(model, v, cfg.horizon, cfg.window, noise)}


def evaluate(model: Forecaster, cfg: ForecastConfig, ev: _Eval, full: bool
             ) -> tuple[dict[str, float], dict]:
    """Validation and test one-step errors (data units), and with ``full`` the page's artifacts:
    test predictions, gradients per step, forget gates, error vs horizon, the future band."""
    v, a, b = ev.v, ev.a, ev.b
    val_t, test_t = np.arange(a, b)[-EVAL_MAX:], np.arange(b, len(v))
    val_pred = one_step(model, v, val_t, cfg.window)
    test_pred = one_step(model, v, test_t, cfg.window)
    val, test = errors(val_pred, v[val_t]), errors(test_pred, v[test_t])
    metrics = {"val_mae": val["mae"], "test_mae": test["mae"], "test_rmse": test["rmse"]}
    metrics.update({f"{k.split(' (')[0].replace(' ', '_')}_mae": d["mae"]
                    for k, d in ev.base.items()})
    art: dict = {"test_pred": test_pred.astype(np.float32)}
    if full:
        noise = float(np.std((val_pred - v[val_t]) / model.std.item()))
        art.update(_full_artifacts(model, cfg, ev, test_t, noise))
    return metrics, art


def _batches(windows: torch.Tensor, batch_size: int, epochs: int, seed: int
             ) -> Iterator[torch.Tensor]:
    """Mini-batches (batch_size, window + 1) of shuffled windows, epoch after epoch (the
    order drawn from a generator seeded with ``seed``)."""
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(windows), generator=gen)
        for k in range(0, len(windows), batch_size):
            yield windows[order[k:k + batch_size]]


def train(cfg: ForecastConfig) -> Iterator[Snapshot]:
    """Train the forecaster and yield snapshots.

    Metrics: ``train_loss`` (MSE of one-step predictions, scaled units), ``grad_norm`` (before
    clipping), ``val_mae``, ``test_mae``, ``test_rmse`` (data units), and the baselines'
    ``last_value_mae``, ``seasonal_naive_mae``, ``linear_mae``. Artifacts: ``baselines``
    (see :func:`~core.sequences.forecasting.data.baselines`), ``split`` ``(a, b)``,
    ``test_pred``, and on evaluation snapshots ``grad_norms`` (window,), ``forget_gates``
    (window, hidden) or None, ``horizon``, ``future`` (see :func:`evaluate`).
    """
    device = start(cfg)
    model, ev, windows = setup(cfg, device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    per_epoch = max(1, math.ceil(len(windows) / cfg.batch_size))
    total = cfg.epochs * per_epoch
    batches = _batches(windows, cfg.batch_size, cfg.epochs, cfg.seed)
    progress = Progress(total, copy_every_s=3, eval_share=0.2)
    light = EvalBudget(share=0.15, min_interval_s=0.5)  # test errors only, between full ones
    kept: dict = {}  # the newest full evaluation's artifacts ride on every later snapshot
    for step in range(total + 1):
        if step > 0:
            batch = next(batches).to(device)
            loss = F.mse_loss(model(batch[:, :-1]), batch[:, 1:])
            norm = clip_step(list(model.parameters()), opt, loss, cfg.max_grad_norm)
            progress.losses.add(train_loss=loss.detach(), grad_norm=norm)
        if progress.due(step):
            metrics, art = progress.losses.pop(), {"baselines": ev.base, "split": (ev.a, ev.b)}
            full = progress.evaluation_due(step)
            if full or light.due():
                with (progress.budget if full else light).timed():
                    m, extra = evaluate(model, cfg, ev, full)
                metrics.update(m)
                kept.update(extra)
            art.update(kept)
            yield progress.snapshot(step, metrics, art, model=model,
                                    phase=f"epoch {min(cfg.epochs, step // per_epoch + 1)}")


DEMOS = [
    Demo("forecasting", ForecastConfig, train, title="Forecasting",
         description="RNN / LSTM / GRU / CNN / Transformer forecast a real series against "
         "last-value, seasonal-naive and linear baselines."),
]
