"""The classic autograd pitfalls, each shown on the smallest example: a node used twice under
a naive backward pass, gradients that accumulate without ``zero_grad``, and a graph cut by
``detach``, ``requires_grad=False`` or ``torch.no_grad()``.

Reference: Paszke et al., "Automatic differentiation in PyTorch" (NIPS-W 2017).
"""

from __future__ import annotations

from typing import Any

import torch

from core.foundations.autograd.scalar import Value, backward, naive_backward

__all__ = ["pitfall_accumulate", "pitfall_cut_graph", "pitfall_reused_node"]


def pitfall_reused_node(a: float = 3.0) -> dict[str, float]:
    """``b = a + a`` (then ``c = b * a``): the topological backward gives ∂b/∂a = 2 and
    ∂c/∂a = 4a; the naive recursive one (:func:`naive_backward`) gives 1 and less."""
    av = Value(a, label="a")
    b = av + av
    backward(b)
    right_b = av.grad
    naive_backward(b)
    av2 = Value(a, label="a")
    c = (av2 + av2) * av2
    backward(c)
    right_c = av2.grad
    naive_backward(c)
    return {"db/da correct": right_b, "db/da naive": av.grad, "dc/da correct": right_c,
            "dc/da naive": av2.grad}


def pitfall_accumulate(x: float = 2.0, times: int = 3) -> dict[str, Any]:
    """``y = x²`` backpropagated ``times`` times with ``retain_graph=True``: without zeroing,
    ``x.grad`` grows 2x, 4x, 6x...; with ``x.grad = None`` (what ``zero_grad`` does) before each
    call it stays 2x. Also the exact error torch raises on a second backward without
    ``retain_graph``."""
    t = torch.tensor(float(x), requires_grad=True)
    y = t * t
    grows = []
    for _ in range(times):
        y.backward(retain_graph=True)
        grows.append(float(t.grad))
    steady = []
    for _ in range(times):
        t.grad = None
        y.backward(retain_graph=True)
        steady.append(float(t.grad))
    z = t * t
    z.backward()
    try:
        z.backward()
        error = ""
    except RuntimeError as e:
        error = str(e).split("\n")[0]
    return {"without zero_grad": grows, "with zero_grad": steady, "second backward error": error}


def pitfall_cut_graph(x: float = 2.0) -> dict[str, Any]:
    """Where the graph is cut: ``z = y.detach() * x`` with ``y = x²`` gives ∂z/∂x = x² instead of
    3x²; a weight made with ``requires_grad=False`` gets no gradient (``w.grad is None``); under
    ``torch.no_grad()`` the result has no ``grad_fn`` at all."""
    t = torch.tensor(float(x), requires_grad=True)
    (t * t * t).backward()
    full = float(t.grad)
    t.grad = None
    z = (t * t).detach() * t
    z.backward()
    cut = float(t.grad)
    w = torch.tensor(3.0, requires_grad=False)
    t.grad = None
    (w * t).backward()
    with torch.no_grad():
        q = t * t
    return {"d(x³)/dx": full, "d(detach(x²)·x)/dx": cut, "w.grad (requires_grad=False)": w.grad,
            "x.grad from w·x": float(t.grad), "grad_fn under no_grad": q.grad_fn,
            "requires_grad under no_grad": q.requires_grad}
