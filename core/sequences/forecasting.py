"""Forecasting real series with RNN / LSTM / GRU (and a causal CNN or small Transformer), and
the vanishing-gradient lesson on the adding and copy-memory problems.

Forecasting (demo ``forecasting``): the series (:mod:`core.data.series`) is split in time order
into train / validation / test; values are scaled with the training part's mean and standard
deviation (``standard``), additionally shifted so each input window starts at 0 (``window``:
the model sees shapes, not levels, which helps trending series such as co2), or left raw
(``none``). A window of ``W`` past values goes in; at every position the model predicts the next
value as a *correction of the last one*, ``x_hat_{t+1} = x_t + f(h_t)``, so an untrained model is
the last-value forecaster. The loss is the MSE of every position's one-step prediction (all
positions are causal). Multi-step forecasts feed predictions back (free-running) or use the
true values (teacher-forced, Williams & Zipser 1989).

Cells (Elman 1990; Hochreiter & Schmidhuber 1997 with Gers et al. 2000; Cho et al. 2014)::

    RNN:  h_t = tanh(W_x x_t + W_h h_{t-1} + b)
    LSTM: c_t = f_t * c_{t-1} + i_t * g_t,  h_t = o_t * tanh(c_t)     (core.blocks.recurrent)
    GRU:  h_t = (1 - z_t) * n_t + z_t * h_{t-1},  n_t = tanh(W_n x_t + r_t * (U_n h_{t-1}))

Vanishing gradients (Bengio, Simard & Frasconi 1994; Pascanu, Mikolov & Bengio 2013): the
gradient reaching step ``k`` from the loss at ``T`` is a product of ``T - k`` Jacobians
``dh_t / dh_{t-1}``; :func:`input_gradient_norms` measures ``|dL / dx_k|`` per step.

Baselines (always computed): last value, seasonal naive ``x_hat_t = x_{t - period}``, and a
ridge-regularised linear autoregression on the same window. Uncertainty past the end: Monte
Carlo dropout (Gal & Ghahramani 2016) plus the validation residuals' noise fed into free-running
paths.

Shapes: windows (B, W) scaled values; network inputs (B, T, n_in); outputs (B, T, n_out);
recorded LSTM gates (B, T, n_layers, 4, hidden).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from core.blocks.attention import Block
from core.blocks.recurrent import GRUCell, LSTMCell, RNNCell
from core.data.series import SERIES, Series, adding_problem, copy_memory, load_series
from core.protocol import (
    CopyCadence,
    Demo,
    EvalBudget,
    RunningMean,
    RunOptions,
    Snapshot,
    Ticker,
    eval_mode,
    param,
    start,
)

MODELS = ("lstm", "gru", "rnn", "cnn", "transformer")
RECURRENT = ("rnn", "lstm", "gru")
NORMALIZATIONS = ("window", "standard", "none")
LARGE_GAIN = 3.0  # recurrent weights = orthogonal * LARGE_GAIN with large_init
EVAL_MAX = 1500  # test / validation windows per evaluation
N_PATHS = 32  # sampled paths of the forecast past the end
ADDING_BASELINE = 1.0 / 6.0  # MSE of always predicting 1 on the adding problem


# ------------------------------------------------------------------------------ models


def _recurrent_weight(cell: nn.Module) -> torch.Tensor:
    return cell.h2h.weight if isinstance(cell, LSTMCell) else cell.W_h.weight


def make_large_(cell: nn.Module, gain: float = LARGE_GAIN) -> None:
    """Set each gate's recurrent matrix to an orthogonal matrix times ``gain`` (spectral
    radius ``gain``: the "initialise recurrent weights large" switch that makes gradients
    explode)."""
    w = _recurrent_weight(cell)
    h = w.shape[1]
    with torch.no_grad():
        for k in range(w.shape[0] // h):
            nn.init.orthogonal_(w[k * h:(k + 1) * h], gain=gain)


class RecurrentNet(nn.Module):
    """``n_layers`` cells of one kind (``rnn``, ``lstm``, ``gru``), dropout between layers and
    before the linear head, which reads every step's top hidden state.

    ``forward(x (B, T, n_in), record)`` -> ``(y (B, T, n_out), gates)``; ``gates`` (B, T,
    n_layers, G, hidden) with ``record`` for LSTM (G = 4: i, f, g, o) and GRU (G = 3: r, z, n),
    else None."""

    def __init__(self, kind: str, n_in: int, hidden: int, n_layers: int, n_out: int,
                 dropout: float = 0.0, large_init: bool = False) -> None:
        super().__init__()
        if kind not in RECURRENT:
            raise ValueError(f"kind={kind!r}; allowed: {', '.join(RECURRENT)}")
        cell = {"rnn": RNNCell, "lstm": LSTMCell, "gru": GRUCell}[kind]
        self.kind, self.hidden = kind, hidden
        self.cells = nn.ModuleList(cell(n_in if k == 0 else hidden, hidden)
                                   for k in range(n_layers))
        if large_init:
            for c in self.cells:
                make_large_(c)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, n_out)

    def _step(self, x: torch.Tensor, hs: list, cs: list, record: bool) -> tuple:
        gates = []
        for k, cell in enumerate(self.cells):
            x = self.drop(x) if k > 0 else x
            if self.kind == "lstm":
                hs[k], cs[k], g = cell(x, (hs[k], cs[k]), record)
            elif self.kind == "gru":
                hs[k], g = cell(x, hs[k], record)
            else:
                hs[k], g = cell(x, hs[k]), None
            gates.append(g)
            x = hs[k]
        return x, gates

    def forward(self, x: torch.Tensor, record: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        B, T, _ = x.shape
        zero = x.new_zeros(B, self.hidden)
        hs, cs = [zero] * len(self.cells), [zero] * len(self.cells)
        tops, recorded = [], []
        for t in range(T):
            top, gates = self._step(x[:, t], hs, cs, record)
            tops.append(top)
            if record and self.kind != "rnn":
                recorded.append(torch.stack(gates, 1))
        y = self.head(self.drop(torch.stack(tops, 1)))
        return y, (torch.stack(recorded, 1) if recorded else None)


class CausalCNN(nn.Module):
    """A temporal convolutional network (Bai, Kolter & Koltun 2018): ``n_layers`` residual
    causal convolutions (kernel 3, dilation 2^l, left padding) and a linear head.
    ``forward(x (B, T, n_in))`` -> ``(y (B, T, n_out), None)``."""

    def __init__(self, n_in: int, hidden: int, n_layers: int, n_out: int,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.inp = nn.Linear(n_in, hidden)
        self.convs = nn.ModuleList(nn.Conv1d(hidden, hidden, 3, dilation=2 ** k)
                                   for k in range(n_layers + 1))
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, n_out)

    def forward(self, x: torch.Tensor, record: bool = False) -> tuple[torch.Tensor, None]:
        h = self.inp(x).transpose(1, 2)  # (B, hidden, T)
        for conv in self.convs:
            pad = 2 * conv.dilation[0]
            h = h + F.relu(conv(F.pad(h, (pad, 0))))
        return self.head(self.drop(h.transpose(1, 2))), None


class SmallTransformer(nn.Module):
    """A decoder-only Transformer: linear value embedding + learned positions, ``n_layers``
    causal pre-LN :class:`core.blocks.attention.Block` (4 heads), final LayerNorm, linear head.
    ``forward(x (B, T, n_in))`` -> ``(y (B, T, n_out), None)``; ``T`` <= 1024."""

    def __init__(self, n_in: int, hidden: int, n_layers: int, n_out: int,
                 dropout: float = 0.0) -> None:
        super().__init__()
        self.inp = nn.Linear(n_in, hidden)
        self.pos = nn.Parameter(torch.zeros(1024, hidden))
        nn.init.normal_(self.pos, std=0.02)
        self.blocks = nn.ModuleList(Block(hidden, 4, dropout) for _ in range(n_layers))
        self.ln = nn.LayerNorm(hidden)
        self.head = nn.Linear(hidden, n_out)

    def forward(self, x: torch.Tensor, record: bool = False) -> tuple[torch.Tensor, None]:
        h = self.inp(x) + self.pos[: x.shape[1]]
        for block in self.blocks:
            h, _ = block(h, causal=True)
        return self.head(self.ln(h)), None


def build_net(kind: str, n_in: int, hidden: int, n_layers: int, n_out: int,
              dropout: float = 0.0, large_init: bool = False) -> nn.Module:
    """The network of ``kind`` (one of :data:`MODELS`); ``large_init`` affects recurrent ones.

    Raises:
        ValueError: for an unknown kind, or a Transformer whose ``hidden`` is not a multiple of 4.
    """
    if kind in RECURRENT:
        return RecurrentNet(kind, n_in, hidden, n_layers, n_out, dropout, large_init)
    if kind == "cnn":
        return CausalCNN(n_in, hidden, n_layers, n_out, dropout)
    if kind == "transformer":
        return SmallTransformer(n_in, hidden, n_layers, n_out, dropout)
    raise ValueError(f"model={kind!r}; allowed: {', '.join(MODELS)}")


class Forecaster(nn.Module):
    """A network plus the series' scaling: ``forward(s (B, T))`` -> (B, T) one-step predictions
    of ``s_{t+1}`` as ``s_t + f(u)_t`` (scaled units), where ``u`` is the network input
    (:meth:`net_input`). Carries ``mean``, ``std`` so a frozen copy forecasts in data units."""

    def __init__(self, net: nn.Module, mean: float, std: float, shift_window: bool) -> None:
        super().__init__()
        self.net, self.shift_window = net, shift_window
        nn.init.zeros_(net.head.weight)  # untrained, the forecaster is the last-value baseline
        nn.init.zeros_(net.head.bias)
        self.register_buffer("mean", torch.tensor(float(mean)))
        self.register_buffer("std", torch.tensor(float(std)))

    def scale(self, v: torch.Tensor) -> torch.Tensor:
        return (v - self.mean) / self.std

    def unscale(self, s: torch.Tensor) -> torch.Tensor:
        return s * self.std + self.mean

    def net_input(self, s: torch.Tensor) -> torch.Tensor:
        """(B, T) -> (B, T, 1): with ``window`` normalisation, each window minus its first value
        (causal: position t never sees a later value)."""
        return (s - s[:, :1] if self.shift_window else s)[..., None]

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        out, _ = self.net(self.net_input(s))
        return s + out[..., 0]


# ------------------------------------------------------------------------------ forecasting


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


def split_bounds(n: int, cfg: ForecastConfig) -> tuple[int, int]:
    """``(n_train, n_train + n_val)``: train = [0, a), validation = [a, b), test = [b, n).

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
    """``(mean, std)`` of the training part; ``(0, 1)`` for ``none``."""
    if normalization == "none":
        return 0.0, 1.0
    tr = values[:n_train]
    return float(tr.mean()), float(max(tr.std(), 1e-8))


def target_windows(s: np.ndarray, targets: np.ndarray, window: int) -> np.ndarray:
    """The input windows (M, window) ``s[t - window : t]`` ending just before each target index
    ``t`` (all ``t >= window``)."""
    idx = targets[:, None] - window + np.arange(window)[None, :]
    return s[idx]


def baselines(v: np.ndarray, a: int, b: int, window: int, period: int,
              mean: float, std: float) -> dict[str, dict]:
    """Last value, seasonal naive and a linear AR(``window``) model on the test part [b, N).

    Returns:
        ``{name: {"pred": (n_test,), "mae": float, "rmse": float}}`` in data units.
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


def errors(pred: np.ndarray, true: np.ndarray) -> dict[str, float]:
    """``{"mae", "rmse"}`` of predictions against truth (same shapes)."""
    e = np.asarray(pred, dtype=np.float64) - np.asarray(true, dtype=np.float64)
    return {"mae": float(np.abs(e).mean()), "rmse": float(np.sqrt((e ** 2).mean()))}


def one_step(model: Forecaster, v: np.ndarray, targets: np.ndarray, window: int) -> np.ndarray:
    """One-step predictions (data units) of ``v[t]`` for each target index ``t`` from the true
    window before it: (len(targets),)."""
    device = model.mean.device
    s = model.scale(torch.as_tensor(v, dtype=torch.float32, device=device))
    idx = torch.as_tensor(targets[:, None] - window + np.arange(window)[None, :], device=device)
    with eval_mode(model):
        pred = torch.cat([model(s[idx[i:i + 512]])[:, -1] for i in range(0, len(idx), 512)])
    return model.unscale(pred).cpu().numpy().astype(np.float64)


def free_run(model: Forecaster, history: torch.Tensor, horizon: int) -> torch.Tensor:
    """Feed predictions back: from scaled windows (B, W), the next ``horizon`` values (B, H)
    in scaled units (dropout stays as the model's mode leaves it: MC dropout in train mode)."""
    window, out = history, []
    for _ in range(horizon):
        nxt = model(window)[:, -1:]
        out.append(nxt)
        window = torch.cat([window[:, 1:], nxt], 1)
    return torch.cat(out, 1)


def multi_step(model: Forecaster, v: np.ndarray, origin: int, horizon: int, window: int
               ) -> dict[str, np.ndarray]:
    """From ``origin`` (the first forecast index; ``window <= origin``, ``origin + horizon <=
    len(v)``): ``{"teacher_forced": (H,), "free_running": (H,), "true": (H,)}`` in data units.

    Raises:
        ValueError: if the origin leaves no room for the window or the horizon."""
    if not window <= origin <= len(v) - horizon:
        raise ValueError(f"origin {origin} must be in [{window}, {len(v) - horizon}]")
    t = np.arange(origin, origin + horizon)
    s = model.scale(torch.as_tensor(v[origin - window:origin], dtype=torch.float32,
                                    device=model.mean.device))
    with eval_mode(model):
        free = model.unscale(free_run(model, s[None], horizon))[0].cpu().numpy()
    return {"teacher_forced": one_step(model, v, t, window), "free_running": free,
            "true": v[t]}


def horizon_errors(model: Forecaster, v: np.ndarray, b: int, horizon: int, window: int,
                   n_origins: int = 12) -> dict[str, np.ndarray]:
    """Mean absolute error against the horizon (1..H) over up to ``n_origins`` origins spread
    over the test part: ``{"teacher_forced": (H,), "free_running": (H,)}``."""
    last = len(v) - horizon
    origins = np.unique(np.linspace(b, max(b, last), n_origins).astype(int))
    origins = origins[origins <= last]
    t = (origins[:, None] + np.arange(horizon)[None, :]).reshape(-1)
    tf = np.abs(one_step(model, v, t, window) - v[t]).reshape(len(origins), horizon)
    s = model.scale(torch.as_tensor(v, dtype=torch.float32, device=model.mean.device))
    hist = torch.stack([s[o - window:o] for o in origins])
    with eval_mode(model):
        free = model.unscale(free_run(model, hist, horizon)).cpu().numpy()
    true = np.stack([v[o:o + horizon] for o in origins])
    return {"teacher_forced": tf.mean(0), "free_running": np.abs(free - true).mean(0)}


def forecast_future(model: Forecaster, v: np.ndarray, horizon: int, window: int,
                    noise_std: float, n_paths: int = N_PATHS) -> dict[str, np.ndarray]:
    """Forecast ``horizon`` steps past the end: ``n_paths`` free-running paths with dropout on
    (MC dropout, Gal & Ghahramani 2016) and Gaussian noise of the validation residuals'
    deviation ``noise_std`` (scaled units) added at every step.

    Returns:
        ``{"median", "lo", "hi"}`` (H,) in data units; lo/hi = 5% / 95% quantiles.
    """
    gen = torch.Generator().manual_seed(0)
    s = model.scale(torch.as_tensor(v[-window:], dtype=torch.float32, device=model.mean.device))
    window_s = s[None].repeat(n_paths, 1)
    was = model.training
    model.train()
    paths = []
    dev = model.mean.device
    with torch.no_grad(), torch.random.fork_rng(devices=[dev.index or 0] if dev.type == "cuda"
                                                else []):
        torch.manual_seed(0)  # MC dropout's own stream: the training's random stream is untouched
        for _ in range(horizon):
            nxt = model(window_s)[:, -1:]
            nxt = nxt + noise_std * torch.randn(nxt.shape, generator=gen).to(nxt.device)
            paths.append(nxt)
            window_s = torch.cat([window_s[:, 1:], nxt], 1)
    model.train(was)
    p = model.unscale(torch.cat(paths, 1)).cpu().numpy()
    q = np.quantile(p, [0.05, 0.5, 0.95], axis=0)
    return {"lo": q[0], "median": q[1], "hi": q[2]}


def input_gradient_norms(net: nn.Module, x: torch.Tensor, loss_fn) -> np.ndarray:
    """``|dL / dx_t|`` per time step (the norm over the input channels, averaged over the
    batch): how far back the error signal reaches. ``x`` (B, T, n_in); ``loss_fn(y (B, T,
    n_out))`` -> scalar. Returns (T,)."""
    x = x.detach().clone().requires_grad_(True)
    with eval_mode(net, no_grad=False):
        y, _ = net(x)
        grad, = torch.autograd.grad(loss_fn(y), x)
    return grad.norm(dim=2).mean(0).cpu().numpy()


def forecast_gradients(model: Forecaster, v: np.ndarray, targets: np.ndarray,
                       window: int) -> np.ndarray:
    """:func:`input_gradient_norms` of the last position's squared error on windows ending
    before ``targets`` (the network part only, not the skip ``s_t``): (window,)."""
    s = model.scale(torch.as_tensor(target_windows(v, targets, window), dtype=torch.float32,
                                    device=model.mean.device))
    y = model.scale(torch.as_tensor(v[targets], dtype=torch.float32, device=model.mean.device))

    def loss(out: torch.Tensor) -> torch.Tensor:
        return ((s[:, -1] + out[:, -1, 0] - y) ** 2).mean()

    return input_gradient_norms(model.net, model.net_input(s), loss)


def gate_trace(net: nn.Module, x: torch.Tensor, gate: int = 1) -> np.ndarray | None:
    """One recorded gate of the first layer over time for the first sequence of ``x`` (B, T,
    n_in): (T, hidden); ``gate`` 1 is the LSTM's forget gate. None for models without gates."""
    if not isinstance(net, RecurrentNet) or net.kind != "lstm":
        return None
    with eval_mode(net):
        _, gates = net(x[:1], record=True)
    return gates[0, :, 0, gate].cpu().numpy()


def train_windows(s: np.ndarray, a: int, window: int) -> torch.Tensor:
    """All training windows of ``window + 1`` values inside [0, a): (M, window + 1)."""
    starts = np.arange(0, a - window)
    return torch.as_tensor(s[starts[:, None] + np.arange(window + 1)[None, :]],
                           dtype=torch.float32)


def make_forecaster(cfg: ForecastConfig, mean: float, std: float) -> Forecaster:
    net = build_net(cfg.model, 1, cfg.hidden, cfg.n_layers, 1, cfg.dropout, cfg.large_init)
    return Forecaster(net, mean, std, cfg.normalization == "window")


def clip_step(params: list, opt: torch.optim.Optimizer, loss: torch.Tensor,
              max_grad_norm: float) -> torch.Tensor:
    """Backward, clip (``max_grad_norm`` > 0; Pascanu et al. 2013) and step; returns the
    gradient norm before clipping."""
    opt.zero_grad()
    loss.backward()
    norm = torch.nn.utils.clip_grad_norm_(params, max_grad_norm if max_grad_norm > 0 else math.inf)
    opt.step()
    return norm


@dataclass
class _Eval:
    v: np.ndarray
    a: int
    b: int
    base: dict


def evaluate(model: Forecaster, cfg: ForecastConfig, ev: _Eval, full: bool
             ) -> tuple[dict[str, float], dict]:
    """Validation and test one-step errors (data units), and with ``full`` the page's artifacts:
    test predictions, gradients per step, forget gates, error vs horizon, the future band."""
    v, a, b = ev.v, ev.a, ev.b
    val_t = np.arange(a, b)[-EVAL_MAX:]
    test_t = np.arange(b, len(v))
    val_pred, test_pred = one_step(model, v, val_t, cfg.window), one_step(model, v, test_t,
                                                                          cfg.window)
    val, test = errors(val_pred, v[val_t]), errors(test_pred, v[test_t])
    metrics = {"val_mae": val["mae"], "test_mae": test["mae"], "test_rmse": test["rmse"]}
    metrics.update({f"{k.split(' (')[0].replace(' ', '_')}_mae": d["mae"]
                    for k, d in ev.base.items()})
    art: dict = {"test_pred": test_pred.astype(np.float32)}
    if not full:
        return metrics, art
    sample = test_t[np.linspace(0, len(test_t) - 1, min(64, len(test_t))).astype(int)]
    art["grad_norms"] = forecast_gradients(model, v, sample, cfg.window)
    s = model.scale(torch.as_tensor(target_windows(v, sample[:1], cfg.window),
                                    dtype=torch.float32, device=model.mean.device))
    art["forget_gates"] = gate_trace(model.net, model.net_input(s))
    art["horizon"] = horizon_errors(model, v, b, min(cfg.horizon, len(v) - b), cfg.window)
    noise = float(np.std((val_pred - v[val_t]) / model.std.item()))
    art["future"] = forecast_future(model, v, cfg.horizon, cfg.window, noise)
    return metrics, art


def setup(cfg: ForecastConfig, device: torch.device) -> tuple[Forecaster, _Eval, torch.Tensor]:
    """The model, the evaluation data (baselines included) and the training windows."""
    series, a, b, base = preview(cfg)
    v = series.values
    mean, std = scaling(v, a, cfg.normalization)
    model = make_forecaster(cfg, mean, std).to(device)
    return model, _Eval(v, a, b, base), train_windows((v - mean) / std, a, cfg.window)


def train(cfg: ForecastConfig) -> Iterator[Snapshot]:
    """Train the forecaster and yield snapshots.

    Metrics: ``train_loss`` (MSE of one-step predictions, scaled units), ``grad_norm`` (before
    clipping), ``val_mae``, ``test_mae``, ``test_rmse`` (data units), and the baselines'
    ``last_value_mae``, ``seasonal_naive_mae``, ``linear_mae``. Artifacts: ``baselines``
    (see :func:`baselines`), ``split`` ``(a, b)``, ``test_pred``, and on evaluation snapshots
    ``grad_norms`` (window,), ``forget_gates`` (window, hidden) or None, ``horizon``,
    ``future`` (see :func:`evaluate`).
    """
    device = start(cfg)
    model, ev, windows = setup(cfg, device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    gen = torch.Generator().manual_seed(cfg.seed)
    per_epoch = max(1, math.ceil(len(windows) / cfg.batch_size))
    total = cfg.epochs * per_epoch
    tick, losses = Ticker(total=total), RunningMean()
    light, budget = EvalBudget(share=0.15, min_interval_s=0.5), EvalBudget(share=0.2)
    copies = CopyCadence(every_s=3)
    kept: dict = {}  # the newest full evaluation's artifacts ride on every later snapshot
    for step in range(total + 1):
        if step > 0:
            if (step - 1) % per_epoch == 0:
                order = torch.randperm(len(windows), generator=gen)
            k = (step - 1) % per_epoch
            batch = windows[order[k * cfg.batch_size:(k + 1) * cfg.batch_size]].to(device)
            loss = F.mse_loss(model(batch[:, :-1]), batch[:, 1:])
            norm = clip_step(list(model.parameters()), opt, loss, cfg.max_grad_norm)
            losses.add(train_loss=loss.detach(), grad_norm=norm)
        if tick(step):
            final = step == total
            metrics, art = losses.pop(), {"baselines": ev.base, "split": (ev.a, ev.b)}
            full = budget.due(final)
            if full or light.due():
                with (budget if full else light).timed():
                    m, extra = evaluate(model, cfg, ev, full)
                metrics.update(m)
                kept.update(extra)
            art.update(kept)
            yield Snapshot(step, tick.elapsed, metrics, art, total_steps=total,
                           final=final, model=copies(model, final),
                           phase=f"epoch {min(cfg.epochs, step // per_epoch + 1)}")


# ------------------------------------------------------------------------------ long memory


@dataclass(frozen=True)
class MemoryConfig(RunOptions):
    """The long-memory experiment: RNN, LSTM and GRU side by side on one synthetic task."""

    task: str = param("adding", choices=("adding", "copy"), help="adding: sum the two marked "
                      "numbers; copy: repeat 5 symbols after a long gap")
    seq_len: int = param(50, lo=5, hi=400, label="Sequence length",
                         help="steps between the information and the answer")
    models: str = param("rnn,lstm,gru", choices=("rnn,lstm,gru", "rnn,lstm", "lstm,gru", "rnn",
                                                 "lstm", "gru"))
    hidden: int = param(64, lo=4, hi=256)
    lr: float = param(1e-2, lo=1e-5, hi=1.0, log=True, label="Learning rate")
    max_grad_norm: float = param(1.0, lo=0.0, hi=100.0, label="Gradient clipping",
                                 help="clip the gradient's norm to this (0: off)")
    large_init: bool = param(False, label="Initialise recurrent weights large",
                             help=f"orthogonal recurrent matrices times {LARGE_GAIN}")
    batch_size: int = param(64, choices=(16, 32, 64, 128, 256))
    steps: int = param(1000, lo=10, hi=100_000)

    @property
    def kinds(self) -> list[str]:
        return self.models.split(",")


def memory_batch(cfg: MemoryConfig, n: int, gen: torch.Generator
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of the task: adding ``x`` (n, T, 2), ``y`` (n,); copy ``x`` (n, T + 10, 10),
    ``y`` (n, 5)."""
    if cfg.task == "adding":
        return adding_problem(n, cfg.seq_len, gen)
    return copy_memory(n, cfg.seq_len, gen)


def memory_loss(cfg: MemoryConfig, y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Adding: MSE of the last step's output (B, T, 1) against ``y`` (B,); copy: cross-entropy
    of the last 5 steps' logits (B, T, 8) against ``y`` (B, 5)."""
    if cfg.task == "adding":
        return F.mse_loss(y_hat[:, -1, 0], y)
    k = y.shape[1]
    return F.cross_entropy(y_hat[:, -k:].reshape(-1, y_hat.shape[-1]), y.reshape(-1))


def memory_baseline(cfg: MemoryConfig) -> float:
    """The trivial solution's loss: 1/6 (adding, predict 1) or log 8 (copy, guess)."""
    return ADDING_BASELINE if cfg.task == "adding" else math.log(8)


def memory_eval(cfg: MemoryConfig, nets: dict, x: torch.Tensor, y: torch.Tensor,
                full: bool) -> tuple[dict[str, float], dict]:
    """Test loss (and copy accuracy) per model; with ``full`` also gradient norms per step
    ``{kind: (T,)}`` and the LSTM's forget gates (T, hidden)."""
    metrics, grads = {}, {}
    for kind, net in nets.items():
        with eval_mode(net):
            y_hat, _ = net(x)
        metrics[f"test_loss_{kind}"] = float(memory_loss(cfg, y_hat, y))
        if cfg.task == "copy":
            k = y.shape[1]
            metrics[f"test_acc_{kind}"] = float((y_hat[:, -k:].argmax(-1) == y).float().mean())
        if full:
            grads[kind] = input_gradient_norms(net, x[:64], lambda o: memory_loss(cfg, o, y[:64]))
    art: dict = {}
    if full:
        art["grad_norms"] = grads
        if "lstm" in nets:
            art["forget_gates"] = gate_trace(nets["lstm"], x)
    return metrics, art


def train_memory(cfg: MemoryConfig) -> Iterator[Snapshot]:
    """Train one network per kind in :attr:`MemoryConfig.kinds` on the same batches.

    Metrics: ``loss_<kind>`` (train), ``test_loss_<kind>`` on 512 fixed test sequences,
    ``test_acc_<kind>`` (copy), ``grad_norm_<kind>`` (before clipping) and ``baseline``.
    Artifacts: ``grad_norms`` ``{kind: (T,)}``, ``forget_gates`` (T, hidden) or None.
    """
    device = start(cfg)
    n_in, n_out = (2, 1) if cfg.task == "adding" else (10, 8)
    nets = {k: build_net(k, n_in, cfg.hidden, 1, n_out, 0.0, cfg.large_init).to(device)
            for k in cfg.kinds}
    opts = {k: torch.optim.Adam(n.parameters(), lr=cfg.lr) for k, n in nets.items()}
    gen = torch.Generator().manual_seed(cfg.seed)
    x_test, y_test = (t.to(device) for t in memory_batch(cfg, 512,
                                                         torch.Generator().manual_seed(12345)))
    tick, losses, budget = Ticker(total=cfg.steps), RunningMean(), EvalBudget(share=0.2)
    kept: dict = {}  # the newest full evaluation's artifacts ride on every later snapshot
    for step in range(cfg.steps + 1):
        if step > 0:
            x, y = (t.to(device) for t in memory_batch(cfg, cfg.batch_size, gen))
            for k, net in nets.items():
                loss = memory_loss(cfg, net(x)[0], y)
                norm = clip_step(list(net.parameters()), opts[k], loss, cfg.max_grad_norm)
                losses.add(**{f"loss_{k}": loss.detach(), f"grad_norm_{k}": norm})
        if tick(step):
            final = step == cfg.steps
            full = budget.due(final)
            with budget.timed() if full else contextlib.nullcontext():
                m, art = memory_eval(cfg, nets, x_test, y_test, full)
            kept.update(art)
            yield Snapshot(step, tick.elapsed, {**losses.pop(), **m,
                                                "baseline": memory_baseline(cfg)},
                           dict(kept), total_steps=cfg.steps, final=final)


DEMOS = [
    Demo("forecasting", ForecastConfig, train, title="Forecasting",
         description="RNN / LSTM / GRU / CNN / Transformer forecast a real series against "
         "last-value, seasonal-naive and linear baselines."),
    Demo("adding", MemoryConfig, train_memory, title="Long memory",
         description="RNN vs LSTM vs GRU on the adding and copy-memory problems: vanishing "
         "gradients made visible."),
]


def preview(cfg: ForecastConfig) -> tuple[Series, int, int, dict[str, dict]]:
    """What a page shows before training: ``(series, a, b, baselines)`` (see
    :func:`split_bounds`, :func:`baselines`).

    Raises:
        ValueError: as :func:`series_of` and :func:`split_bounds`."""
    series = series_of(cfg)
    v = series.values
    a, b = split_bounds(len(v), cfg)
    mean, std = scaling(v, a, cfg.normalization)
    return series, a, b, baselines(v, a, b, cfg.window, min(series.period, b), mean, std)
