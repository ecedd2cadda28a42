"""Recurrent cells written as their equations: a vanilla (Elman) RNN cell, an LSTM cell that can
record its gates, a GRU cell (Cho et al. 2014) and a stack of LSTM cells.

LSTM (Hochreiter & Schmidhuber, 1997, with the forget gate of Gers et al., 2000), gate order
``i, f, g, o`` as in :class:`torch.nn.LSTMCell`::

    i = sigmoid(W_i x + U_i h + b_i)      input gate
    f = sigmoid(W_f x + U_f h + b_f)      forget gate
    g = tanh(W_g x + U_g h + b_g)         candidate cell
    o = sigmoid(W_o x + U_o h + b_o)      output gate
    c' = f * c + i * g;   h' = o * tanh(c')

With ``x2h.weight = weight_ih``, ``x2h.bias = bias_ih``, ``h2h.weight = weight_hh`` and
``bias_hh = 0`` it computes exactly what :class:`torch.nn.LSTMCell` does.

Shapes: inputs ``x`` (B, n_in); states ``h``, ``c`` (B, hidden); recorded gates
(B, 4, hidden) in the order ``i, f, g, o`` (``i, f, o`` in [0, 1], ``g`` in [-1, 1]).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["RNNCell", "LSTMCell", "GRUCell", "StackedLSTM"]


class RNNCell(nn.Module):
    """Vanilla (Elman) cell: ``h' = tanh(W_x x + b + W_h h)``; ``x`` (B, n_in), ``h`` (B, hidden).

    Same parameters as :class:`torch.nn.RNNCell` with ``bias_hh = 0``."""

    def __init__(self, n_in: int, hidden: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.W_x = nn.Linear(n_in, hidden)
        self.W_h = nn.Linear(hidden, hidden, bias=False)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.W_x(x) + self.W_h(h))


class LSTMCell(nn.Module):
    """One LSTM step (equations in the module docstring).

    Biases start at 0 except the forget gate's, at ``forget_bias`` (1: remember by default,
    Jozefowicz et al., 2015).
    """

    def __init__(self, n_in: int, hidden: int, forget_bias: float = 1.0) -> None:
        super().__init__()
        self.hidden = hidden
        self.x2h = nn.Linear(n_in, 4 * hidden)
        self.h2h = nn.Linear(hidden, 4 * hidden, bias=False)
        with torch.no_grad():
            self.x2h.bias.zero_()
            self.x2h.bias[hidden:2 * hidden].fill_(forget_bias)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor],
                record: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """``(h', c', gates)``: ``gates`` (B, 4, hidden) = ``i, f, g, o`` with ``record``, else
        None."""
        h, c = state
        i, f, g, o = (self.x2h(x) + self.h2h(h)).chunk(4, dim=1)
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        c = f * c + i * g
        h = o * torch.tanh(c)
        return h, c, torch.stack([i, f, g, o], 1) if record else None


class GRUCell(nn.Module):
    """One GRU step (Cho et al. 2014), gate order ``r, z, n`` as :class:`torch.nn.GRUCell`::

        r = sigmoid(W_r x + U_r h + b_r),  z = sigmoid(W_z x + U_z h + b_z)
        n = tanh(W_n x + b_n + r * (U_n h)),  h' = (1 - z) * n + z * h

    ``x`` (B, n_in), ``h`` (B, hidden); recorded gates (B, 3, hidden)."""

    def __init__(self, n_in: int, hidden: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.W_x = nn.Linear(n_in, 3 * hidden)
        self.W_h = nn.Linear(hidden, 3 * hidden, bias=False)

    def forward(self, x: torch.Tensor, h: torch.Tensor, record: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        xr, xz, xn = self.W_x(x).chunk(3, dim=1)
        hr, hz, hn = self.W_h(h).chunk(3, dim=1)
        r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
        n = torch.tanh(xn + r * hn)
        h = (1 - z) * n + z * h
        return h, torch.stack([r, z, n], 1) if record else None


class StackedLSTM(nn.Module):
    """``n_layers`` :class:`LSTMCell` on top of each other: layer l's ``h`` is layer l+1's input.

    A state is a list of ``(h, c)`` per layer."""

    def __init__(self, n_in: int, hidden: int, n_layers: int) -> None:
        super().__init__()
        self.cells = nn.ModuleList(LSTMCell(n_in if k == 0 else hidden, hidden)
                                   for k in range(n_layers))

    def zero_state(self, batch: int, device: torch.device | str = "cpu"
                   ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        z = torch.zeros(batch, self.cells[0].hidden, device=device)
        return [(z, z) for _ in self.cells]

    def step(self, x: torch.Tensor, state: list[tuple[torch.Tensor, torch.Tensor]],
             record: bool = False
             ) -> tuple[torch.Tensor, list[tuple[torch.Tensor, torch.Tensor]], torch.Tensor | None]:
        """One time step: ``x`` (B, n_in) -> (top ``h`` (B, hidden), new state, and with
        ``record`` the gates (B, n_layers, 4, hidden), else None)."""
        new, gates = [], []
        for cell, (h, c) in zip(self.cells, state):
            h, c, g = cell(x, (h, c), record)
            new.append((h, c))
            gates.append(g)
            x = h
        return x, new, torch.stack(gates, 1) if record else None
