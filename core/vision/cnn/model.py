"""The networks of ``/cnn``: the configurable CNN and its one-hidden-layer MLP baseline with
the same number of parameters (LeCun et al. 1998; Wang et al., "CNN Explainer", 2020)."""

from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from core.vision.cnn.plan import layer_plan, plan_problems

if TYPE_CHECKING:
    from core.vision.cnn.train import CnnConfig

__all__ = ["ACTIVATIONS", "CNN", "build_models", "count_params", "mlp_hidden"]

ACTIVATIONS = {"relu": nn.ReLU, "leaky_relu": nn.LeakyReLU, "gelu": nn.GELU, "tanh": nn.Tanh,
               "sigmoid": nn.Sigmoid}


class CNN(nn.Module):
    """The configurable CNN: ``blocks`` (each ``conv``, optional ``bn``, ``act``, optional
    ``pool``) then ``head`` (Flatten, optional Dropout, Linear). Input (N, C, H, W) -> logits
    (N, K)."""

    def __init__(self, cfg: CnnConfig, in_shape: tuple[int, int, int], n_classes: int) -> None:
        super().__init__()
        c = in_shape[0]
        blocks = []
        for i in range(cfg.n_layers):
            c_out = min(cfg.channels * 2 ** i, 128)
            parts: list[tuple[str, nn.Module]] = [
                ("conv", nn.Conv2d(c, c_out, cfg.kernel_size, cfg.stride, cfg.padding))]
            if cfg.batch_norm:
                parts.append(("bn", nn.BatchNorm2d(c_out)))
            parts.append(("act", ACTIVATIONS[cfg.activation]()))
            if cfg.pooling != "none":
                parts.append(("pool", nn.MaxPool2d(2) if cfg.pooling == "max" else nn.AvgPool2d(2)))
            blocks.append(nn.Sequential(OrderedDict(parts)))
            c = c_out
        self.blocks = nn.ModuleList(blocks)
        with torch.no_grad():
            d = self.trunk(torch.zeros(1, *in_shape)).numel()
        head: list[nn.Module] = [nn.Flatten()]
        if cfg.dropout > 0:
            head.append(nn.Dropout(cfg.dropout))
        head.append(nn.Linear(d, n_classes))
        self.head = nn.Sequential(*head)

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x))

    def feature_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each block's activation (after the nonlinearity, before pooling): (N, C_i, H_i, W_i)."""
        maps = []
        for block in self.blocks:
            for name, mod in block.named_children():
                x = mod(x)
                if name == "act":
                    maps.append(x)
        return maps


def mlp_hidden(n_params: int, d_in: int, n_classes: int) -> int:
    """The hidden width ``h`` of a one-hidden-layer MLP ``d_in -> h -> K`` whose parameter
    count ``(d_in + 1) h + (h + 1) K`` is closest to ``n_params`` (at least 1)."""
    return max(1, round((n_params - n_classes) / (d_in + 1 + n_classes)))


def build_models(cfg: CnnConfig, in_shape: tuple[int, int, int], n_classes: int
                 ) -> tuple[CNN, nn.Sequential]:
    """The CNN and its equal-size MLP baseline (Flatten -> Linear -> act -> Dropout -> Linear).

    Raises:
        ValueError: when a map vanishes on ``in_shape`` (the message of :func:`layer_plan`).
    """
    errors = [m for level, m in plan_problems(layer_plan(cfg, in_shape, n_classes))
              if level == "error"]
    if errors:
        raise ValueError(errors[0])
    cnn = CNN(cfg, in_shape, n_classes)
    d_in = int(np.prod(in_shape))
    h = mlp_hidden(count_params(cnn), d_in, n_classes)
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(d_in, h), ACTIVATIONS[cfg.activation](),
                        nn.Dropout(cfg.dropout), nn.Linear(h, n_classes))
    return cnn, mlp


def count_params(model: nn.Module) -> int:
    """Trainable parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
