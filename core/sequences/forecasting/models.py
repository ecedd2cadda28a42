"""The networks of /forecasting: recurrent nets built from the shared cells
(:mod:`core.blocks.recurrent`), a causal CNN and a small Transformer, and the forecaster that
wraps one with the series' scaling.

A :class:`RecurrentNet` runs its cells step by step when it records gates (the page draws the
gates of one sequence) and otherwise runs each layer through torch's native RNN / LSTM / GRU
kernel with the cells' own parameters (:func:`fused_layer`, the same function, ~2-4x faster
on a CPU; on a GPU it steps the cells). Shapes: inputs (B, T, n_in); outputs (B, T, n_out);
recorded gates (B, T, n_layers, G, hidden).
"""

from __future__ import annotations

import threading

import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

from core.blocks.attention import Block
from core.blocks.recurrent import GRUCell, LSTMCell, RNNCell

__all__ = ["MODELS", "RECURRENT", "LARGE_GAIN", "make_large_", "chrono_init_", "fused_layer",
           "RecurrentNet", "CausalCNN", "SmallTransformer", "build_net", "Forecaster"]

MODELS = ("lstm", "gru", "rnn", "cnn", "transformer")
RECURRENT = ("rnn", "lstm", "gru")
LARGE_GAIN = 3.0  # recurrent weights = orthogonal * LARGE_GAIN with large_init
CELLS = {"rnn": RNNCell, "lstm": LSTMCell, "gru": GRUCell}
NATIVE = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
_local = threading.local()  # each thread's weightless native modules (see fused_layer)


def _recurrent_weight(cell: nn.Module) -> torch.Tensor:
    return cell.h2h.weight if isinstance(cell, LSTMCell) else cell.W_h.weight


def _input_layer(cell: nn.Module) -> nn.Linear:
    return cell.x2h if isinstance(cell, LSTMCell) else cell.W_x


def make_large_(cell: nn.Module, gain: float = LARGE_GAIN) -> None:
    """Set each gate's recurrent matrix to an orthogonal matrix times ``gain`` (spectral
    radius ``gain``: the "initialise recurrent weights large" switch that makes gradients
    explode)."""
    w = _recurrent_weight(cell)
    h = w.shape[1]
    with torch.no_grad():
        for k in range(w.shape[0] // h):
            nn.init.orthogonal_(w[k * h:(k + 1) * h], gain=gain)


def chrono_init_(cell: nn.Module, t_max: int) -> None:
    """Chrono initialisation (Tallec & Ollivier, "Can recurrent neural networks warp time?",
    ICLR 2018): forget-gate biases ``b_f ~ log U(1, t_max - 1)`` and input-gate biases
    ``b_i = -b_f``, so the units start with memory time scales spread up to ``t_max`` steps.
    For a GRU the update gate ``z`` (which keeps the old state) gets ``b_z = log U(1, t_max -
    1)``. No effect on a vanilla RNN cell. Draws from torch's global generator.
    """
    if isinstance(cell, RNNCell):
        return
    h = cell.hidden
    b = _input_layer(cell).bias
    with torch.no_grad():
        keep = torch.log(torch.empty(h, device=b.device).uniform_(1.0, max(2.0, t_max - 1.0)))
        if isinstance(cell, LSTMCell):
            b[:h], b[h:2 * h] = -keep, keep
        else:
            b[h:2 * h] = keep


def _template(kind: str, n_in: int, hidden: int) -> nn.RNNBase:
    """A one-layer, batch-first native module on the meta device (no weights), one per thread:
    :func:`torch.func.functional_call` swaps parameters in and out of it, which two threads
    must not do to the same module at once."""
    cache = _local.__dict__.setdefault("templates", {})
    key = (kind, n_in, hidden)
    if key not in cache:
        cache[key] = NATIVE[kind](n_in, hidden, batch_first=True, device="meta")
    return cache[key]


def fused_layer(kind: str, cell: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """One recurrent layer of ``kind`` over a whole sequence in torch's native kernel
    (``nn.RNN`` / ``nn.LSTM`` / ``nn.GRU``, the same gate order as our cells) with ``cell``'s
    own parameters; our cells have no hidden-to-hidden bias, so it is passed as zeros. It
    computes what stepping the cell does, without a Python loop over time.

    ``x`` (B, T, n_in) -> every step's state ``h`` (B, T, hidden), from a zero initial state."""
    w_in = _input_layer(cell)
    params = {"weight_ih_l0": w_in.weight, "weight_hh_l0": _recurrent_weight(cell),
              "bias_ih_l0": w_in.bias, "bias_hh_l0": torch.zeros_like(w_in.bias)}
    out, _ = functional_call(_template(kind, x.shape[-1], cell.hidden), params, (x,))
    return out


class RecurrentNet(nn.Module):
    """``n_layers`` cells of one kind (``rnn``, ``lstm``, ``gru``), dropout between layers and
    before the linear head, which reads every step's top hidden state.

    ``forward(x (B, T, n_in), record)`` -> ``(y (B, T, n_out), gates)``; ``gates`` (B, T,
    n_layers, G, hidden) with ``record`` for LSTM (G = 4: i, f, g, o) and GRU (G = 3: r, z, n),
    else None. Without ``record`` (and with ``fused``, the default) each layer runs in torch's
    native kernel (:func:`fused_layer`) on a CPU; with it, or on a GPU, the cells step one time
    step at a time. (On CUDA, ``nn.LSTM`` would re-pack the weights it is handed into one cuDNN
    buffer in place at every call; that path is not used.)"""

    fused = True  # False: always step the cells (the bench's comparison)

    def __init__(self, kind: str, n_in: int, hidden: int, n_layers: int, n_out: int,
                 dropout: float = 0.0, large_init: bool = False) -> None:
        super().__init__()
        if kind not in RECURRENT:
            raise ValueError(f"kind={kind!r}; allowed: {', '.join(RECURRENT)}")
        self.kind, self.hidden = kind, hidden
        self.cells = nn.ModuleList(CELLS[kind](n_in if k == 0 else hidden, hidden)
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

    def _stepwise(self, x: torch.Tensor, record: bool
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
        return torch.stack(tops, 1), (torch.stack(recorded, 1) if recorded else None)

    def _fused(self, x: torch.Tensor) -> torch.Tensor:
        for k, cell in enumerate(self.cells):
            x = fused_layer(self.kind, cell, self.drop(x) if k > 0 else x)
        return x

    def forward(self, x: torch.Tensor, record: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        if record or not self.fused or x.device.type != "cpu":
            top, gates = self._stepwise(x, record)
        else:
            top, gates = self._fused(x), None
        return self.head(self.drop(top)), gates


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
