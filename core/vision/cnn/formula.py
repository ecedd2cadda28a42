"""The formula view of ``/cnn``: one output unit of a conv layer computed by hand,
``z = Σ w ⊙ window + b``, then batch norm and the activation, beside PyTorch's forward pass."""

from __future__ import annotations

import torch
from torch import nn

from core.vision.cnn.model import CNN

__all__ = ["unit_formula"]


def unit_formula(cnn: CNN, x: torch.Tensor, layer: int, channel: int, row: int, col: int
                 ) -> dict:
    """One output unit of conv layer ``layer`` (0-based) on image ``x`` (C, H, W), on the
    current weights: ``z = Σ w ⊙ window + b``, then batch norm (if any), then the activation.

    Returns:
        ``window`` (C_in, k, k) the input patch (zeros where it overlaps the padding),
        ``kernel`` (C_in, k, k), ``products`` (C_in, k, k), ``bias``, ``z`` (sum plus bias),
        ``bn`` (after batch norm, or ``None``), ``a`` (after the activation), ``check`` (the
        same unit as PyTorch's forward pass computes it), ``out_size`` (H', W'), ``in_rows`` /
        ``in_cols`` (the window's first row/column in the unpadded input, may be negative),
        ``strongest`` (row, column) of the channel's largest activation.

    Raises:
        ValueError: for a layer, channel or position outside the network's maps.
    """
    if not 0 <= layer < len(cnn.blocks):
        raise ValueError(f"layer {layer + 1} does not exist; the network has {len(cnn.blocks)}")
    block = cnn.blocks[layer]
    conv: nn.Conv2d = block.conv
    with torch.no_grad():
        inp = x[None].float()
        for b in cnn.blocks[:layer]:
            inp = b(inp)
        maps = block.act(block.bn(conv(inp)) if hasattr(block, "bn") else conv(inp))[0]
    c_out, h_out, w_out = maps.shape
    if not (0 <= channel < c_out and 0 <= row < h_out and 0 <= col < w_out):
        raise ValueError(f"unit (channel {channel}, row {row}, column {col}) is outside the "
                         f"{c_out}x{h_out}x{w_out} output of conv {layer + 1}")
    (k, _), (s, _), (p, _) = conv.kernel_size, conv.stride, conv.padding
    padded = nn.functional.pad(inp[0], (p, p, p, p))
    window = padded[:, row * s:row * s + k, col * s:col * s + k]
    kernel = conv.weight[channel].detach()
    window = window.detach()
    products = window * kernel
    bias = float(conv.bias[channel].detach()) if conv.bias is not None else 0.0
    z = torch.tensor(float(products.sum()) + bias)
    bn = None
    with torch.no_grad():
        if hasattr(block, "bn"):
            m = block.bn
            bn = float((z - m.running_mean[channel]) / torch.sqrt(m.running_var[channel] + m.eps)
                       * m.weight[channel] + m.bias[channel])
        a = float(block.act(torch.tensor(bn if bn is not None else float(z))))
    return {"window": window.numpy(), "kernel": kernel.numpy(), "products": products.numpy(),
            "bias": bias, "z": float(z), "bn": bn, "a": a, "check": float(maps[channel, row, col]),
            "out_size": (h_out, w_out), "in_rows": row * s - p, "in_cols": col * s - p,
            "strongest": divmod(int(maps[channel].argmax()), w_out),
            "activation": type(block.act).__name__}
