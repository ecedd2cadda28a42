"""The shape table of ``/cnn``: each layer's output side ``(n + 2p - k) / s + 1``, its
parameters and its receptive field, computed before anything trains (Dumoulin & Visin 2016;
Araujo, Norris & Sim 2019)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.vision.cnn.train import CnnConfig

__all__ = ["LayerRow", "conv_out", "layer_plan", "plan_params", "plan_problems"]


@dataclass
class LayerRow:
    """One row of the shape table: a layer, its output shape, parameters and receptive field."""

    layer: str
    shape: tuple[int, int, int]  # (C, H, W) after the layer (floored like PyTorch)
    formula: str = ""  # how the side was computed, e.g. "(40 + 2·1 − 3)/1 + 1 = 40"
    params: int = 0
    receptive_field: int = 1  # input pixels per side that one output unit sees
    jump: int = 1  # input pixels between neighbouring output units
    level: str = ""  # "", "warning" (formula not an integer) or "error" (the map vanishes)
    message: str = ""


def conv_out(n: int, k: int, p: int, s: int) -> float:
    """The output side ``(n + 2p - k) / s + 1`` exactly (a float; PyTorch floors it)."""
    return (n + 2 * p - k) / s + 1


def _side_row(name: str, c: int, n: int, k: int, p: int, s: int, params: int, rf: int,
              jump: int) -> LayerRow:
    """A conv or pool row for a square map of side ``n``, flagging a vanishing or fractional
    output."""
    exact = conv_out(n, k, p, s)
    side = math.floor(exact) if exact >= 1 else 0
    pad = f" + 2·{p}" if p else ""
    formula = f"({n}{pad} − {k})/{s} + 1 = {exact:g}"
    row = LayerRow(name, (c, side, side), formula, params, rf, jump)
    if exact < 1:
        row.level = "error"
        row.message = (f"{name}: the map vanishes: a {n}x{n} input{' padded by ' + str(p) if p else ''} "
                       f"is smaller than the {k}x{k} window ({formula}). Use fewer blocks, a "
                       f"smaller kernel or stride, more padding, or no pooling.")
    elif exact != int(exact):
        row.level = "warning"
        row.message = (f"{name}: {formula} is not an integer, so PyTorch rounds down to {side} "
                       f"and the last {round((exact - side) * s)} input row(s) and column(s) are "
                       "never seen by the window.")
    return row


def layer_plan(cfg: CnnConfig, in_shape: tuple[int, int, int], n_classes: int = 10
               ) -> list[LayerRow]:
    """The shape table of the CNN ``cfg`` describes, on inputs of shape ``in_shape`` (C, H, W).
    ``cfg`` may be any object with the architecture fields (``n_layers``, ``channels``,
    ``kernel_size``, ``padding``, ``stride``, ``pooling``, ``batch_norm``): a page draws the
    table of settings that cannot be trained too.

    Rows: the input, then per block its conv (params ``c_in c_out k² + c_out``), batch norm
    (``2 c_out``) and pool, then the linear output layer. Receptive field and jump follow
    Araujo et al. (2019). Stops after the first layer whose map vanishes.
    """
    c, n, _ = in_shape
    rf, jump = 1, 1
    rows = [LayerRow("input", (c, n, n))]
    for i in range(cfg.n_layers):
        c_out = min(cfg.channels * 2 ** i, 128)
        k, p, s = cfg.kernel_size, cfg.padding, cfg.stride
        rf, jump = rf + (k - 1) * jump, jump * s
        row = _side_row(f"conv {i + 1}", c_out, n, k, p, s, c * c_out * k * k + c_out, rf, jump)
        rows.append(row)
        if row.level == "error":
            return rows
        c, n = c_out, row.shape[1]
        if cfg.batch_norm:
            rows.append(LayerRow(f"batch norm {i + 1}", (c, n, n), "", 2 * c, rf, jump))
        if cfg.pooling != "none":
            rf, jump = rf + jump, jump * 2
            row = _side_row(f"{cfg.pooling} pool {i + 1}", c, n, 2, 0, 2, 0, rf, jump)
            rows.append(row)
            if row.level == "error":
                return rows
            n = row.shape[1]
    d = c * n * n
    rows.append(LayerRow("linear (output)", (n_classes, 1, 1), f"{c}·{n}·{n} = {d} inputs",
                         d * n_classes + n_classes, rf, jump))
    return rows


def plan_problems(rows: list[LayerRow]) -> list[tuple[str, str]]:
    """``(level, message)`` of every flagged row: ``"error"`` when a map vanishes (the network
    cannot be built), ``"warning"`` when the output-size formula is not an integer."""
    return [(r.level, r.message) for r in rows if r.level]


def plan_params(rows: list[LayerRow]) -> int:
    """Total parameters of the planned CNN."""
    return sum(r.params for r in rows)
