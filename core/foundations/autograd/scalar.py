"""The tiny scalar engine: micrograd's ``Value`` and reverse-mode backpropagation over it.

:class:`Value` is a scalar node: its forward value ``data``, its ``grad``, its children and the
local derivatives ``∂self/∂child``. :func:`backward` visits the graph in reverse topological
order and accumulates ``child.grad += ∂self/∂child · self.grad``; :func:`naive_backward` recurses
and *assigns*, which is wrong for a node used twice.

Reference: A. Karpathy, micrograd (github.com/karpathy/micrograd, 2020).
"""

from __future__ import annotations

import math

__all__ = ["MAX_NAIVE_PATHS", "Value", "backward", "count_paths", "naive_backward",
           "topological_order", "zero_grad"]


class Value:
    """A scalar node of a dynamic graph (micrograd's ``Value``).

    Attributes:
        data: the forward value (float). grad: ∂output/∂self once :func:`backward` ran.
        children: the nodes this one was computed from; local: ∂self/∂child for each of them.
        op: the operation (``"+"``, ``"exp"``...; ``""`` for a leaf); label: a name, if any.
        pos: the 1-based (line, column) of the expression that made it, if parsed.

    Arithmetic with numbers and other Values builds new nodes; ``ZeroDivisionError``,
    ``OverflowError`` and ``ValueError`` (log of a non-positive number, a negative base to a
    fractional power) propagate as Python raises them, and a non-finite result raises
    ``OverflowError``.
    """

    __slots__ = ("data", "grad", "children", "local", "op", "label", "pos", "const")
    _count = 0

    def __init__(self, data: float, children: tuple[Value, ...] = (), local: tuple = (),
                 op: str = "", label: str = "", const: bool = False) -> None:
        data = float(data)
        if not math.isfinite(data):
            raise OverflowError("result is not a finite number")
        self.data, self.grad = data, 0.0
        self.children, self.local, self.op, self.label = children, local, op, label
        self.pos: tuple[int, int] | None = None
        self.const = const

    def __repr__(self) -> str:
        return f"Value(data={self.data:.6g}, grad={self.grad:.6g}{', ' + self.label if self.label else ''})"

    @staticmethod
    def lift(x: Value | float) -> Value:
        return x if isinstance(x, Value) else Value(x, label=f"{x:g}", const=True)

    def __add__(self, other: Value | float) -> Value:
        o = Value.lift(other)
        return Value(self.data + o.data, (self, o), (1.0, 1.0), "+")

    def __sub__(self, other: Value | float) -> Value:
        o = Value.lift(other)
        return Value(self.data - o.data, (self, o), (1.0, -1.0), "-")

    def __mul__(self, other: Value | float) -> Value:
        o = Value.lift(other)
        return Value(self.data * o.data, (self, o), (o.data, self.data), "*")

    def __truediv__(self, other: Value | float) -> Value:
        o = Value.lift(other)
        if o.data == 0:
            raise ZeroDivisionError("division by zero")
        return Value(self.data / o.data, (self, o), (1 / o.data, -self.data / o.data**2), "/")

    def __pow__(self, other: Value | float) -> Value:
        o = Value.lift(other)
        a, b = self.data, o.data
        if a < 0 and not float(b).is_integer():
            raise ValueError("a negative number to a fractional power is not a real number")
        out = a**b  # ZeroDivisionError for 0 ** negative, OverflowError when too large
        d_base = b * a ** (b - 1) if a != 0 or b >= 1 else (0.0 if b == 0 else math.inf)
        d_exp = out * math.log(a) if a > 0 else (0.0 if a == 0 and b > 0 else math.nan)
        return Value(out, (self, o), (d_base, d_exp), "**")

    def __neg__(self) -> Value:
        return Value(-self.data, (self,), (-1.0,), "neg")

    def __radd__(self, other: float) -> Value:
        return Value.lift(other) + self

    def __rsub__(self, other: float) -> Value:
        return Value.lift(other) - self

    def __rmul__(self, other: float) -> Value:
        return Value.lift(other) * self

    def __rtruediv__(self, other: float) -> Value:
        return Value.lift(other) / self

    def __rpow__(self, other: float) -> Value:
        return Value.lift(other) ** self

    def exp(self) -> Value:
        out = math.exp(self.data)  # OverflowError above ~709
        return Value(out, (self,), (out,), "exp")

    def log(self) -> Value:
        if self.data <= 0:
            raise ValueError("log of a number that is not positive")
        return Value(math.log(self.data), (self,), (1 / self.data,), "log")

    def tanh(self) -> Value:
        t = math.tanh(self.data)
        return Value(t, (self,), (1 - t * t,), "tanh")

    def sin(self) -> Value:
        return Value(math.sin(self.data), (self,), (math.cos(self.data),), "sin")

    def relu(self) -> Value:
        return Value(max(self.data, 0.0), (self,), (1.0 if self.data > 0 else 0.0,), "relu")

    def sigmoid(self) -> Value:
        x = self.data
        s = 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))
        return Value(s, (self,), (s * (1 - s),), "sigmoid")


def topological_order(root: Value) -> list[Value]:
    """Every node reachable from ``root``, each after all of its children (root last)."""
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        for c in reversed(node.children):
            if id(c) not in seen:
                stack.append((c, False))
    return order


def backward(root: Value) -> None:
    """Reverse-mode autodiff: ``root.grad = 1``, then for every node in reverse topological order
    ``child.grad += local · node.grad``. Like ``torch``, gradients *accumulate*: call
    :func:`zero_grad` first to start afresh."""
    order = topological_order(root)
    root.grad += 1.0
    for node in reversed(order):
        for child, local in zip(node.children, node.local):
            child.grad += local * node.grad


def zero_grad(root: Value) -> None:
    """Set the gradient of every node reachable from ``root`` to 0."""
    for node in topological_order(root):
        node.grad = 0.0


def naive_backward(node: Value, upstream: float = 1.0) -> None:
    """The buggy textbook version (the mistake in early micrograd videos): recurse from the
    output and *assign* ``child.grad = local · node.grad`` instead of accumulating. A node used
    twice (``b = a + a``) keeps only its last path's share: ``a.grad`` comes out 1, not 2.
    Exponential in the number of paths; use on small graphs only."""
    node.grad = upstream
    for child, local in zip(node.children, node.local):
        naive_backward(child, local * node.grad)


def count_paths(root: Value) -> int:
    """The number of distinct paths from ``root`` down to all nodes: the work
    :func:`naive_backward` does (it grows exponentially with reuse, e.g. ``c = c + c``)."""
    paths = {id(root): 1}
    for node in reversed(topological_order(root)):
        for child in node.children:
            paths[id(child)] = paths.get(id(child), 0) + paths.get(id(node), 0)
    return sum(paths.values())


MAX_NAIVE_PATHS = 20_000
