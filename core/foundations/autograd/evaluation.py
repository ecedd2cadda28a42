"""A parsed program evaluated three ways: on :class:`~core.foundations.autograd.scalar.Value`
nodes (:func:`build_graph`, the engine's graph and gradients), on float64 tensors
(:func:`torch_gradients`, ``torch.autograd.grad``) and on floats (:func:`evaluate`, for central
finite differences); :func:`check_gradients` puts the three side by side.

Reference: Baydin et al., "Automatic differentiation in machine learning: a survey", JMLR 18
(2018).
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from core.foundations.autograd.parser import ExprError, Program, error_at
from core.foundations.autograd.scalar import (
    MAX_NAIVE_PATHS,
    Value,
    backward,
    count_paths,
    naive_backward,
    topological_order,
    zero_grad,
)

__all__ = ["Graph", "build_graph", "check_gradients", "evaluate", "finite_differences",
           "naive_gradients", "torch_gradients"]

_UNARY = {"exp": torch.exp, "log": torch.log, "tanh": torch.tanh, "sin": torch.sin,
          "relu": torch.relu, "sigmoid": torch.sigmoid}
_FLOAT_FUNCS: dict[str, Callable[[float], float]] = {
    "exp": math.exp, "log": math.log, "tanh": math.tanh, "sin": math.sin,
    "relu": lambda x: max(x, 0.0), "sigmoid": lambda x: 1 / (1 + math.exp(-x))}


class _Backend:
    """How to make leaves and apply functions for one kind of number (Value, tensor, float)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def const(self, x: float) -> Any:
        if self.kind == "value":
            return Value(x, label=f"{x:g}", const=True)
        return torch.tensor(float(x), dtype=torch.float64) if self.kind == "torch" else float(x)

    def call(self, name: str, x: Any) -> Any:
        if self.kind == "value":
            return getattr(x, name)()
        return _UNARY[name](x) if self.kind == "torch" else _FLOAT_FUNCS[name](x)


_OPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b, ast.Pow: lambda a, b: a**b}


def _apply(node: ast.AST, fn: Callable[..., Any], args: tuple, multiline: bool,
           at: ast.AST | None = None) -> Any:
    """``fn(*args)``, turning Python's arithmetic errors into an :class:`ExprError` at ``at``
    (default ``node``: the divisor of a division by zero is the more useful position)."""
    at = at or node
    try:
        out = fn(*args)
    except ZeroDivisionError:
        raise error_at(at, "division by zero", multiline) from None
    except OverflowError:
        raise error_at(node, "the result overflows (it is too large for a float)", multiline) from None
    except ValueError as e:
        raise error_at(node, str(e), multiline) from None
    if isinstance(out, float) and not math.isfinite(out):
        raise error_at(node, "the result overflows (it is too large for a float)", multiline)
    if isinstance(out, Value):
        out.pos = out.pos or (node.lineno, node.col_offset + 1)
    return out


def _eval(node: ast.expr, env: dict[str, Any], be: _Backend, multiline: bool) -> Any:
    if isinstance(node, ast.Constant):
        return be.const(node.value)
    if isinstance(node, ast.Name):
        if node.id not in env:
            raise error_at(node, f"unknown name {node.id}; give it a value first", multiline)
        return env[node.id]
    if isinstance(node, ast.UnaryOp):
        if isinstance(node.operand, ast.Constant):  # -4.0 is one number, not neg(4.0)
            v = node.operand.value
            return be.const(-v if isinstance(node.op, ast.USub) else v)
        x = _eval(node.operand, env, be, multiline)
        return x if isinstance(node.op, ast.UAdd) else _apply(node, lambda a: -a, (x,), multiline)
    if isinstance(node, ast.BinOp):
        a = _eval(node.left, env, be, multiline)
        b = _eval(node.right, env, be, multiline)
        at = node.right if isinstance(node.op, (ast.Div, ast.Pow)) else node  # the divisor
        return _apply(node, _OPS[type(node.op)], (a, b), multiline, at)
    if isinstance(node, ast.Call):
        x = _eval(node.args[0], env, be, multiline)
        return _apply(node, be.call, (node.func.id, x), multiline)
    raise error_at(node, f"{type(node).__name__} is not allowed", multiline)  # parse_program refuses


def _run(program: Program, leaves: dict[str, Any], be: _Backend) -> tuple[Any, dict[str, Any]]:
    env = dict(leaves)
    out = None
    for name, expr in program.statements:
        out = _eval(expr, env, be, program.multiline)
        if name is not None:
            env[name] = out
    return out, env


@dataclass
class Graph:
    """A program evaluated on :class:`Value` nodes: ``output``, the input leaves by name, and
    every node in topological order (``nodes``)."""

    output: Value
    inputs: dict[str, Value]
    nodes: list[Value] = field(default_factory=list)

    def index(self, node: Value) -> int:
        return next(i for i, n in enumerate(self.nodes) if n is node)


def build_graph(program: Program, values: dict[str, float]) -> Graph:
    """Evaluate ``program`` on :class:`Value` leaves with ``values`` (missing inputs raise) and
    run :func:`backward`. Intermediate nodes take the name they were assigned to.

    Raises:
        ExprError: an unknown name, division by zero, overflow, log of a non-positive number,
            naming the position.
    """
    values = _merged(program, values)
    leaves = {name: Value(values[name], label=name) for name in program.inputs}
    be = _Backend("value")
    env = dict(leaves)
    out = None
    for name, expr in program.statements:
        out = _eval(expr, env, be, program.multiline)
        if not isinstance(out, Value):
            out = Value.lift(out)
        if name is not None:
            if not out.label or out.label.startswith("_"):
                out.label = name
            env[name] = out
    if not out.label:
        out.label = program.output
    backward(out)
    return Graph(out, leaves, topological_order(out))


def _merged(program: Program, values: dict[str, float]) -> dict[str, float]:
    """The value of every input: ``values`` over the program's defaults.

    Raises:
        ExprError: for an input without a value.
    """
    merged = {**program.defaults, **values}
    for name in program.inputs:
        if name not in merged:
            raise ExprError(f"Unknown name {name}: it has no value.")
    return {k: float(merged[k]) for k in program.inputs}


def evaluate(program: Program, values: dict[str, float]) -> float:
    """The program's output as a plain float (for finite differences).

    Raises:
        ExprError: as :func:`build_graph`.
    """
    out, _ = _run(program, _merged(program, values), _Backend("float"))
    return float(out)


def torch_gradients(program: Program, values: dict[str, float]) -> tuple[float, dict[str, float]]:
    """The output and ``torch.autograd.grad`` of it w.r.t. every input, in float64.

    An input the output does not depend on gets 0 (``allow_unused``)."""
    values = _merged(program, values)
    leaves = {k: torch.tensor(values[k], dtype=torch.float64, requires_grad=True)
              for k in program.inputs}
    out, _ = _run(program, leaves, _Backend("torch"))
    if not program.inputs or not isinstance(out, torch.Tensor) or not out.requires_grad:
        return float(out), {k: 0.0 for k in program.inputs}
    grads = torch.autograd.grad(out, list(leaves.values()), allow_unused=True)
    return float(out.detach()), {k: 0.0 if g is None else float(g) for k, g in zip(leaves, grads)}


def finite_differences(program: Program, values: dict[str, float],
                       h: float = 1e-6) -> dict[str, float]:
    """Central differences ``(f(x + h) - f(x - h)) / 2h`` for every input (float64).

    Raises:
        ExprError: when ``f(x ± h)`` cannot be evaluated (e.g. log at the edge of its domain).
    """
    grads, values = {}, _merged(program, values)
    for k in program.inputs:
        up, down = dict(values), dict(values)
        up[k] += h
        down[k] -= h
        grads[k] = (evaluate(program, up) - evaluate(program, down)) / (2 * h)
    return grads


def check_gradients(program: Program, values: dict[str, float]) -> list[dict[str, Any]]:
    """One row per input: the engine's gradient, torch's, central finite differences, and the
    largest absolute difference between them (finite differences are NaN where they cannot be
    evaluated)."""
    graph = build_graph(program, values)
    _, tg = torch_gradients(program, values)
    try:
        fd = finite_differences(program, values)
    except ExprError:
        fd = {k: math.nan for k in program.inputs}
    rows = []
    for k in program.inputs:
        e, t, f = graph.inputs[k].grad, tg[k], fd[k]
        rows.append({"variable": k, "engine": e, "torch.autograd": t, "finite differences": f,
                     "max |difference|": max(abs(e - t), abs(e - f) if math.isfinite(f) else 0)})
    return rows


def naive_gradients(program: Program, values: dict[str, float]) -> dict[str, float] | None:
    """The inputs' gradients from :func:`naive_backward` (wrong wherever a node is reused), or
    None when the graph has more than :data:`MAX_NAIVE_PATHS` paths (it would take too long).

    Raises:
        ExprError: as :func:`build_graph`.
    """
    graph = build_graph(program, values)
    if count_paths(graph.output) > MAX_NAIVE_PATHS:
        return None
    zero_grad(graph.output)
    naive_backward(graph.output)
    return {k: v.grad for k, v in graph.inputs.items()}
