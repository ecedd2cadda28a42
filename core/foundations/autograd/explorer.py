"""The /autograd explorer's settings (in the URL) and its example programs."""

from __future__ import annotations

import math
from dataclasses import dataclass

from core.protocol import param

__all__ = ["EXAMPLES", "MICROGRAD_EXAMPLE", "ExpressionConfig", "parse_values"]

MICROGRAD_EXAMPLE = """a = -4.0
b = 2.0
c = a + b
d = a * b + b**3
c += c + 1
c += 1 + c + (-a)
d += d * 2 + relu(b + a)
d += 3 * d + relu(b - a)
e = c - d
f = e**2
g = f / 2.0
g += 10.0 / f"""

EXAMPLES = {
    "neuron": ("tanh(x*w + b)", "x=1, w=-0.5, b=0.8"),
    "micrograd README": (MICROGRAD_EXAMPLE, ""),
    "reused node": ("b = a + a\nc = b * a\nc", "a=3.0"),
    "sigmoid": ("sigmoid(w1*x1 + w2*x2)", "w1=0.5, x1=2.0, w2=-1.0, x2=1.0"),
    "exp and log": ("log(exp(x) + exp(y))", "x=1.0, y=-1.0"),
    "relu kink": ("relu(x) * relu(-x) + relu(x - 1)", "x=0.5"),
}


@dataclass(frozen=True)
class ExpressionConfig:
    """The /autograd explorer's settings (in the URL): the typed program and the input values
    as ``name=value`` pairs (e.g. ``"x=1.5, w=-0.5"``)."""

    expr: str = param("tanh(x*w + b)", help="an expression or a few lines of assignments")
    values: str = param("x=1, w=-0.5, b=0.8", help="input values, e.g. x=1.5, w=-0.5")


def parse_values(text: str) -> dict[str, float]:
    """``"x=1.5, w=-0.5"`` -> ``{"x": 1.5, "w": -0.5}``; malformed or non-finite pairs are
    skipped (the page then uses its slider defaults)."""
    out = {}
    for part in str(text).split(","):
        name, _, raw = part.partition("=")
        try:
            v = float(raw)
        except ValueError:
            continue
        if name.strip().isidentifier() and math.isfinite(v):
            out[name.strip()] = v
    return out
