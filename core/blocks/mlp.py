"""A plain multilayer perceptron as an ``nn.Sequential``.

Its state dict has the keys ``"0.weight"``, ``"0.bias"``, ``"2.weight"``, ... (the Linear layers
at even indices), so weights saved by one topic load into ``mlp(sizes)`` built by another without
importing the topic that trained them (see :mod:`core.handoff`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from torch import nn


def mlp(sizes: Sequence[int], activation: Callable[[], nn.Module] = nn.ReLU) -> nn.Sequential:
    """``Linear(sizes[0], sizes[1]) -> activation -> ... -> Linear(sizes[-2], sizes[-1])``: maps
    ``(B, sizes[0])`` to ``(B, sizes[-1])``, no activation after the last layer.

    Raises:
        ValueError: for fewer than two sizes or a size below 1.
    """
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"an MLP needs at least two layer sizes, all >= 1; got {sizes}")
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)
