"""Autograd from scratch: a whitelist parser, a scalar graph engine, the classic pitfalls, and a
custom ``nn.Module`` layer trained live.

* :func:`parse_program` reads a typed expression (or a few lines of assignments, as in the
  micrograd README) with Python's :mod:`ast`, restricted to numbers, named variables,
  ``+ - * / **``, unary minus and calls of :data:`FUNCTIONS`; everything else is refused with
  one sentence naming the position. The text is **never** passed to ``eval``.
* :class:`Value` is a micrograd-style scalar node: its forward value ``data``, its ``grad``, its
  children and the local derivatives ``∂self/∂child``. :func:`backward` visits the graph in
  reverse topological order and accumulates ``child.grad += ∂self/∂child · self.grad``;
  :func:`naive_backward` recurses and *assigns*, which is wrong for a node used twice.
* :func:`check_gradients` puts the engine's gradients next to ``torch.autograd.grad`` on the same
  expression and central finite differences.
* :class:`RBF` is a custom layer as a module (parameters, buffers, ``state_dict``); the demo
  ``module`` trains it live on the iris flowers.

References: A. Karpathy, micrograd (github.com/karpathy/micrograd, 2020); Baydin et al.,
"Automatic differentiation in machine learning: a survey", JMLR 18 (2018); Paszke et al.,
"Automatic differentiation in PyTorch" (NIPS-W 2017); Broomhead & Lowe, "Radial basis
functions, multi-variable functional interpolation and adaptive networks" (1988).
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from core.protocol import CopyCadence, Demo, RunOptions, Snapshot, Ticker, eval_mode, param, start
from core.pyast import parse

FUNCTIONS = ("exp", "log", "tanh", "sin", "relu", "sigmoid")
MAX_CHARS = 400  # characters of a typed program
MAX_LINES = 12
MAX_DEPTH = 24  # nesting of the syntax tree
MAX_NODES = 160  # nodes of the syntax tree
MAX_INPUTS = 6  # named input variables
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
ALLOWED = ("numbers, variable names, + - * / **, and calls of " + ", ".join(FUNCTIONS))


class ExprError(ValueError):
    """A typed program that cannot be parsed or evaluated: ``str(e)`` is one plain sentence that
    names the position (``pos`` is the 1-based (line, column), or None)."""

    def __init__(self, message: str, pos: tuple[int, int] | None = None) -> None:
        self.pos = pos
        super().__init__(message)


def _where(node: ast.AST | None, multiline: bool) -> tuple[str, tuple[int, int] | None]:
    if node is None or not hasattr(node, "col_offset"):
        return "", None
    line, col = node.lineno, node.col_offset + 1
    return (f"line {line}, column {col}" if multiline else f"position {col}"), (line, col)


def _fail(node: ast.AST | None, what: str, multiline: bool) -> ExprError:
    where, pos = _where(node, multiline)
    return ExprError(f"At {where}: {what}." if where else what[:1].upper() + what[1:] + ".", pos)


# ----------------------------------------------------------------------------------- parser


@dataclass(frozen=True)
class Program:
    """A parsed, whitelisted program: ``statements`` ((name or None, expression) pairs, the
    last one is the output), the ``inputs`` in order of first use, the output's name, and the
    ``defaults`` of inputs declared as ``a = -4.0`` lines (micrograd's style)."""

    statements: tuple[tuple[str | None, ast.expr], ...]
    inputs: tuple[str, ...]
    output: str
    multiline: bool
    defaults: dict[str, float] = field(default_factory=dict)


_REFUSED = {
    ast.Attribute: "attribute access (a dot after a value) is not allowed",
    ast.Lambda: "lambda is not allowed",
    ast.ListComp: "comprehensions are not allowed", ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.Subscript: "indexing with [ ] is not allowed", ast.Compare: "comparisons are not allowed",
    ast.BoolOp: "and/or are not allowed", ast.IfExp: "if/else is not allowed",
    ast.Import: "import is not allowed", ast.ImportFrom: "import is not allowed",
    ast.List: "lists are not allowed", ast.Tuple: "tuples are not allowed",
    ast.Dict: "dictionaries are not allowed", ast.Set: "sets are not allowed",
    ast.JoinedStr: "strings are not allowed", ast.NamedExpr: "the := operator is not allowed",
    ast.Starred: "* unpacking is not allowed", ast.Await: "await is not allowed",
}
_BINOPS = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Pow: "**"}


class _Checker:
    """Walks a syntax tree and raises :class:`ExprError` at the first node off the whitelist."""

    def __init__(self, multiline: bool) -> None:
        self.multiline, self.count = multiline, 0

    def fail(self, node: ast.AST, what: str) -> ExprError:
        return _fail(node, what, self.multiline)

    def name(self, node: ast.AST, name: str) -> None:
        if name.startswith("_"):
            raise self.fail(node, f"names starting with an underscore (like {name}) are not "
                            "allowed")
        if len(name) > 12:
            raise self.fail(node, f"the name {name[:20]} is too long; use at most 12 characters")

    def expr(self, node: ast.AST, depth: int) -> None:
        self.count += 1
        if depth > MAX_DEPTH or self.count > MAX_NODES:
            raise self.fail(node, f"the expression is too deep or too long (at most {MAX_DEPTH} "
                            f"levels and {MAX_NODES} parts)")
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                raise self.fail(node, f"{type(node.value).__name__} values are not allowed; "
                                "use numbers")
            if not math.isfinite(float(node.value)) or abs(node.value) > 1e12:
                raise self.fail(node, "numbers must be finite and at most 1e12 in size")
        elif isinstance(node, ast.Name):
            self.name(node, node.id)
            if node.id in FUNCTIONS:
                raise self.fail(node, f"{node.id} is a function; call it, as in {node.id}(x)")
        elif isinstance(node, ast.BinOp):
            if type(node.op) not in _BINOPS:
                raise self.fail(node, "this operator is not allowed; use + - * / **")
            self.expr(node.left, depth + 1)
            self.expr(node.right, depth + 1)
        elif isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, (ast.USub, ast.UAdd)):
                raise self.fail(node, "only the unary minus and plus are allowed")
            self.expr(node.operand, depth + 1)
        elif isinstance(node, ast.Call):
            self.call(node, depth)
        else:
            raise self.fail(node, _REFUSED.get(type(node), f"{type(node).__name__} is not "
                                               f"allowed; use {ALLOWED}"))

    def call(self, node: ast.Call, depth: int) -> None:
        if not isinstance(node.func, ast.Name):
            raise self.fail(node, f"only calls of {', '.join(FUNCTIONS)} are allowed")
        self.name(node.func, node.func.id)
        if node.func.id not in FUNCTIONS:
            raise self.fail(node, f"unknown function {node.func.id}; allowed: "
                            f"{', '.join(FUNCTIONS)}")
        if len(node.args) != 1 or node.keywords or isinstance(node.args[0], ast.Starred):
            raise self.fail(node, f"{node.func.id} takes exactly one argument")
        self.expr(node.args[0], depth + 1)


def parse_program(text: str) -> Program:
    """Parse ``text``: one expression (``tanh(x*w + b)``) or up to :data:`MAX_LINES` lines of
    ``name = expr`` / ``name += expr`` (also ``-=``, ``*=``, ``/=``) ending in an expression or
    an assignment, whose value is the output. Never evaluates anything.

    Raises:
        ExprError: one sentence naming the position: a syntax error, anything outside the
            whitelist (attribute access, unknown functions, lambdas, comprehensions, dunder
            names...), more than :data:`MAX_CHARS` characters, :data:`MAX_LINES` lines,
            :data:`MAX_DEPTH` levels or :data:`MAX_INPUTS` input variables.
    """
    text = str(text)
    if not text.strip():
        raise ExprError("Type an expression, for example tanh(x*w + b).")
    if len(text) > MAX_CHARS:
        raise ExprError(f"The program has {len(text)} characters; use at most {MAX_CHARS}.")
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    if len(lines) > MAX_LINES:
        raise ExprError(f"The program has {len(lines)} lines; use at most {MAX_LINES}.")
    multiline = len(lines) > 1
    try:
        tree = parse(text.strip(), mode="exec")
    except SyntaxError as e:
        where = (f"line {e.lineno}, column {e.offset}" if multiline else f"position {e.offset}")
        raise ExprError(f"At {where}: syntax error ({e.msg}).",
                        (e.lineno or 1, e.offset or 1)) from None
    except (ValueError, RecursionError, MemoryError):
        raise ExprError("The text cannot be parsed; use " + ALLOWED + ".") from None
    return _program(tree, multiline)


def _number(node: ast.expr) -> float | None:
    """The value of a numeric literal (``2.0``, ``-4``), else None."""
    sign = 1.0
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        sign, node = (-1.0 if isinstance(node.op, ast.USub) else 1.0), node.operand
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) \
            and not isinstance(node.value, bool):
        return sign * float(node.value)
    return None


def _program(tree: ast.Module, multiline: bool) -> Program:
    checker, statements, assigned, inputs = _Checker(multiline), [], set(), []
    defaults: dict[str, float] = {}
    for stmt in tree.body:
        name, value = _statement(stmt, checker)
        checker.expr(value, 1)
        number = _number(value)
        if (isinstance(stmt, ast.Assign) and number is not None and name not in assigned
                and name not in inputs and len(tree.body) > 1):
            inputs.append(name)  # ``a = -4.0`` declares an input with that default value
            defaults[name] = number
            continue
        called = {id(n.func) for n in ast.walk(value) if isinstance(n, ast.Call)}
        names = sorted((n for n in ast.walk(value) if isinstance(n, ast.Name)),
                       key=lambda n: (n.lineno, n.col_offset))
        for node in names:  # names read before they are assigned are the inputs, in text order
            if (isinstance(node, ast.Name) and id(node) not in called
                    and node.id not in assigned and node.id not in inputs):
                inputs.append(node.id)
        if isinstance(stmt, ast.AugAssign) and name not in assigned and name not in inputs:
            inputs.append(name)
        if name is not None:
            assigned.add(name)
        statements.append((name, value))
    if not statements:
        raise ExprError("The program only sets numbers; end it with an expression, e.g. a * b.")
    if len(inputs) > MAX_INPUTS:
        raise ExprError(f"The program uses {len(inputs)} input variables ({', '.join(inputs)}); "
                        f"use at most {MAX_INPUTS}.")
    return Program(tuple(statements), tuple(inputs), statements[-1][0] or "out", multiline,
                   defaults)


def _statement(stmt: ast.stmt, checker: _Checker) -> tuple[str | None, ast.expr]:
    """``(assigned name or None, value expression)``; ``c += e`` becomes ``c = c + e``."""
    if isinstance(stmt, ast.Expr):
        return None, stmt.value
    if isinstance(stmt, ast.Assign):
        if len(stmt.targets) != 1 or not isinstance(stmt.targets[0], ast.Name):
            raise checker.fail(stmt, "assign to one plain name, as in c = a + b")
        checker.name(stmt.targets[0], stmt.targets[0].id)
        if stmt.targets[0].id in FUNCTIONS:
            raise checker.fail(stmt, f"{stmt.targets[0].id} is a function name")
        return stmt.targets[0].id, stmt.value
    if isinstance(stmt, ast.AugAssign) and isinstance(stmt.target, ast.Name):
        if type(stmt.op) not in _BINOPS:
            raise checker.fail(stmt, "this operator is not allowed; use + - * / **")
        checker.name(stmt.target, stmt.target.id)
        load = ast.copy_location(ast.Name(stmt.target.id, ast.Load()), stmt.target)
        return stmt.target.id, ast.copy_location(ast.BinOp(load, stmt.op, stmt.value), stmt)
    raise checker.fail(stmt, _REFUSED.get(type(stmt), f"{type(stmt).__name__} is not allowed; "
                                          f"write expressions or name = expression lines"))


# ----------------------------------------------------------------------------------- engine


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


# ------------------------------------------------------------------------------- evaluation

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
        raise _fail(at, "division by zero", multiline) from None
    except OverflowError:
        raise _fail(node, "the result overflows (it is too large for a float)", multiline) from None
    except ValueError as e:
        raise _fail(node, str(e), multiline) from None
    if isinstance(out, float) and not math.isfinite(out):
        raise _fail(node, "the result overflows (it is too large for a float)", multiline)
    if isinstance(out, Value):
        out.pos = out.pos or (node.lineno, node.col_offset + 1)
    return out


def _eval(node: ast.expr, env: dict[str, Any], be: _Backend, multiline: bool) -> Any:
    if isinstance(node, ast.Constant):
        return be.const(node.value)
    if isinstance(node, ast.Name):
        if node.id not in env:
            raise _fail(node, f"unknown name {node.id}; give it a value first", multiline)
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
    raise _fail(node, f"{type(node).__name__} is not allowed", multiline)  # parse_program refuses


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


EXAMPLES = {
    "neuron": ("tanh(x*w + b)", "x=1, w=-0.5, b=0.8"),
    "micrograd README": (MICROGRAD_EXAMPLE, ""),
    "reused node": ("b = a + a\nc = b * a\nc", "a=3.0"),
    "sigmoid": ("sigmoid(w1*x1 + w2*x2)", "w1=0.5, x1=2.0, w2=-1.0, x2=1.0"),
    "exp and log": ("log(exp(x) + exp(y))", "x=1.0, y=-1.0"),
    "relu kink": ("relu(x) * relu(-x) + relu(x - 1)", "x=0.5"),
}


# ------------------------------------------------------------------------ stepping and DOT


@dataclass(frozen=True)
class Step:
    """One step of the animation: ``phase`` ("forward" or "backward"), the node computed or
    whose gradient changes (index into :attr:`Graph.nodes`), the active edge ``(child,
    parent)`` indices or None, the edge's local derivative ∂parent/∂child (backward), and a
    sentence saying what happens."""

    phase: str
    node: int
    edge: tuple[int, int] | None
    text: str
    local: float = 0.0


def name_of(node: Value, graph: Graph) -> str:
    """The node's label, else ``n<index>``."""
    return node.label or f"n{graph.index(node)}"


def _formula(node: Value, graph: Graph) -> str:
    args = [name_of(c, graph) for c in node.children]
    if node.op in ("+", "-", "*", "/", "**"):
        return f"{args[0]} {node.op} {args[1]}"
    return f"-{args[0]}" if node.op == "neg" else f"{node.op}({args[0]})"


def steps(graph: Graph) -> list[Step]:
    """The forward pass in topological order, one step per node, then the backward pass: the
    seed ``out.grad = 1`` and one step per edge in reverse topological order."""
    out: list[Step] = []
    for i, node in enumerate(graph.nodes):
        name = name_of(node, graph)
        if not node.children:
            kind = "constant" if node.const else "input"
            out.append(Step("forward", i, None, f"{kind} {name} = {node.data:.4g}"))
        else:
            out.append(Step("forward", i, (graph.index(node.children[0]), i),
                            f"{name} = {_formula(node, graph)} = {node.data:.4g}"))
    root = len(graph.nodes) - 1
    top = name_of(graph.output, graph)
    out.append(Step("backward", root, None, f"seed: {top}.grad = ∂{top}/∂{top} = 1"))
    for i in range(root, -1, -1):
        node = graph.nodes[i]
        p = name_of(node, graph)
        for child, local in zip(node.children, node.local):
            c, cn = graph.index(child), name_of(child, graph)
            out.append(Step("backward", c, (c, i),
                            f"{cn}.grad += ∂{p}/∂{cn} · {p}.grad = {local:.4g} · "
                            f"{node.grad:.4g} = {local * node.grad:.4g}", local))
    return out


def state_at(all_steps: list[Step], k: int) -> tuple[set[int], dict[int, float]]:
    """After step ``k`` (0-based): the nodes whose value is computed and the gradients so far
    (replaying the backward steps up to ``k``)."""
    computed = {s.node for s in all_steps[:k + 1] if s.phase == "forward"}
    grads: dict[int, float] = {}
    for s in all_steps[:k + 1]:
        if s.phase != "backward":
            continue
        if s.edge is None:
            grads[s.node] = 1.0
        else:
            c, p = s.edge
            grads[c] = grads.get(c, 0.0) + s.local * grads.get(p, 0.0)
    return computed, grads


def chain_rule(graph: Graph, i: int) -> list[dict[str, Any]]:
    """The node inspector: one row per parent ``p`` of node ``i`` (each use of it), with
    ``∂p/∂node``, ``p.grad`` and their product; the products sum to the node's grad."""
    node, rows = graph.nodes[i], []
    for parent in graph.nodes:
        for child, local in zip(parent.children, parent.local):
            if child is node:
                rows.append({"parent": name_of(parent, graph), "operation": _formula(parent, graph),
                             "∂parent/∂node": local, "parent.grad": parent.grad,
                             "product": local * parent.grad})
    return rows


def to_dot(graph: Graph, k: int | None = None, all_steps: list[Step] | None = None) -> str:
    """The graph as Graphviz DOT (left to right), each node with its value and gradient. With
    ``k`` and ``all_steps``, only what is known after step ``k`` is shown and the active edge
    and node are highlighted in red."""
    if k is None or all_steps is None:
        computed, grads = set(range(len(graph.nodes))), {i: n.grad for i, n in
                                                           enumerate(graph.nodes)}
        active, edge = None, None
    else:
        computed, grads = state_at(all_steps, k)
        active, edge = all_steps[k].node, all_steps[k].edge
    lines = ["digraph G {", "rankdir=LR;", 'node [fontname="Helvetica", fontsize=11];',
             'edge [color="#888888"];']
    for i, n in enumerate(graph.nodes):
        head = name_of(n, graph) if not n.children else (
            f"{name_of(n, graph)} = {_formula(n, graph)}")
        val = f"{n.data:.4g}" if i in computed else "?"
        grad = f"{grads[i]:.4g}" if i in grads else "·"
        shape = "box" if not n.children else "ellipse"
        fill = "#ffd7d7" if i == active else ("#dbe9f6" if not n.children and not n.const
                                              else "#f2f2f2" if n.const else "white")
        label = f"{head}\\ndata {val}\\ngrad {grad}".replace('"', "'")
        lines.append(f'n{i} [label="{label}", shape={shape}, style=filled, fillcolor="{fill}"];')
    for p, n in enumerate(graph.nodes):
        for child in n.children:
            c = graph.index(child)
            hot = edge == (c, p)
            lines.append(f"n{c} -> n{p}" + (' [color="#d62728", penwidth=3];' if hot else ";"))
    lines.append("}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------- pitfalls


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


# -------------------------------------------------------------------- nn.Module: RBF layer


class RBF(nn.Module):
    """A radial-basis-function layer written as a module.

    ``phi_k(x) = exp(-gamma_k · ||(x - mean) / std - c_k||²)`` for K learned centres ``c_k``
    and widths ``gamma_k = exp(log_gamma_k)``. Parameters (learned): ``centers`` (K, D),
    ``log_gamma`` (K,). Buffers (saved in the ``state_dict``, moved by ``.to()``, never
    learned): ``mean`` and ``std`` (D,), the input standardisation, and ``calls``, how many
    forward passes ran in training mode. Input (N, D) -> output (N, K).
    """

    def __init__(self, in_features: int, n_centers: int, mean: torch.Tensor,
                 std: torch.Tensor) -> None:
        super().__init__()
        self.centers = nn.Parameter(torch.randn(n_centers, in_features))
        self.log_gamma = nn.Parameter(torch.zeros(n_centers))
        self.register_buffer("mean", mean.clone())
        self.register_buffer("std", std.clone())
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.calls += 1
        z = (x - self.mean) / self.std  # (N, D)
        d2 = ((z[:, None, :] - self.centers[None, :, :]) ** 2).sum(-1)  # (N, K)
        return torch.exp(-self.log_gamma.exp() * d2)


class RBFNet(nn.Module):
    """``RBF(D -> K)`` then ``nn.Linear(K -> classes)``: logits (N, classes)."""

    def __init__(self, in_features: int, n_centers: int, n_classes: int, mean: torch.Tensor,
                 std: torch.Tensor) -> None:
        super().__init__()
        self.rbf = RBF(in_features, n_centers, mean, std)
        self.out = nn.Linear(n_centers, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.rbf(x))


IRIS_FEATURES = {"petal": (2, 3), "sepal": (0, 1)}
IRIS_NAMES = {"petal": ("petal length (cm)", "petal width (cm)"),
              "sepal": ("sepal length (cm)", "sepal width (cm)")}
GRID = 60


@dataclass(frozen=True)
class ModuleConfig(RunOptions):
    """A custom ``nn.Module`` (:class:`RBFNet`) trained on two features of the iris flowers."""

    features: str = param("sepal", choices=tuple(IRIS_FEATURES),
                          help="which two iris measurements the network sees")
    n_centers: int = param(6, lo=1, hi=20, label="RBF centres",
                           help="K: the learned centres of the RBF layer")
    lr: float = param(0.03, lo=1e-4, hi=1.0, log=True, label="Learning rate",
                      help="Adam learning rate")
    steps: int = param(400, lo=10, hi=5000, help="full-batch Adam steps")


def _iris_table() -> tuple[np.ndarray, np.ndarray]:
    """Iris measurements (150, 4) in cm and species (150,), read from the CSV file that ships
    with scikit-learn (without importing scikit-learn, which takes seconds)."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("sklearn")
    path = Path(spec.origin).parent / "datasets" / "data" / "iris.csv" if spec and spec.origin \
        else None
    if path is not None and path.exists():
        table = np.loadtxt(path, delimiter=",", skiprows=1)
        return table[:, :4], table[:, 4].astype(np.int64)
    from sklearn.datasets import load_iris

    d = load_iris()
    return d.data, d.target


def iris(features: str, seed: int) -> tuple[torch.Tensor, ...]:
    """Fisher's iris (150 flowers, 3 species; bundled with scikit-learn): two measurements in
    cm, split 70/30 with ``seed``. Returns ``(X_train (N, 2), y_train (N,), X_test, y_test)``."""
    data, target = _iris_table()
    X = torch.tensor(data[:, list(IRIS_FEATURES[features])], dtype=torch.float32)
    y = torch.tensor(target, dtype=torch.long)
    order = torch.randperm(len(X), generator=torch.Generator().manual_seed(seed))
    tr, te = order[:105], order[105:]
    return X[tr], y[tr], X[te], y[te]


def build_module(cfg: ModuleConfig, X_train: torch.Tensor) -> RBFNet:
    """The network, its RBF buffers set from the training inputs (N, 2)."""
    return RBFNet(2, cfg.n_centers, 3, X_train.mean(0), X_train.std(0))


def module_anatomy(model: nn.Module) -> dict[str, list[dict[str, Any]]]:
    """What ``nn.Module`` keeps track of: ``parameters`` (name, shape, numel, requires_grad),
    ``buffers`` (name, shape, dtype) and the ``state_dict`` (key, shape, whether it is a
    parameter)."""
    params = {n for n, _ in model.named_parameters()}
    return {
        "parameters": [{"name": n, "shape": str(tuple(p.shape)), "numel": p.numel(),
                        "requires_grad": p.requires_grad} for n, p in model.named_parameters()],
        "buffers": [{"name": n, "shape": str(tuple(b.shape)), "dtype": str(b.dtype)}
                    for n, b in model.named_buffers()],
        "state_dict": [{"key": k, "shape": str(tuple(v.shape)), "kind": "parameter" if k in
                        params else "buffer"} for k, v in model.state_dict().items()]}


def _grid(X: torch.Tensor) -> tuple[np.ndarray, np.ndarray, torch.Tensor]:
    lo, hi = X.min(0).values - 0.5, X.max(0).values + 0.5
    xs = torch.linspace(float(lo[0]), float(hi[0]), GRID)
    ys = torch.linspace(float(lo[1]), float(hi[1]), GRID)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return xs.numpy(), ys.numpy(), torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)


def _module_artifacts(model: RBFNet, grid: torch.Tensor) -> dict[str, np.ndarray]:
    """Class probabilities over the grid (GRID, GRID, 3), centres (K, 2) in cm, widths (K,)."""
    with eval_mode(model):
        prob = model(grid).softmax(1).reshape(GRID, GRID, 3).cpu().numpy()
        rbf = model.rbf
        centers = (rbf.centers * rbf.std + rbf.mean).cpu().numpy()
        gamma = rbf.log_gamma.exp().cpu().numpy()
    return {"prob": prob, "centers": centers, "gamma": gamma}


def _accuracy(model: RBFNet, X: torch.Tensor, y: torch.Tensor) -> float:
    with eval_mode(model):
        return float((model(X).argmax(1) == y).float().mean())


def train_module(cfg: ModuleConfig) -> Iterator[Snapshot]:
    """Train :class:`RBFNet` with full-batch Adam on cross-entropy; step 0 is the untrained net.

    Metrics: ``loss`` (train cross-entropy, nats), ``train_acc``, ``test_acc``. Artifacts:
    ``prob`` (GRID, GRID, 3) class probabilities over the plane, ``centers`` (K, 2) in cm,
    ``gamma`` (K,), ``xs``/``ys`` the grid axes, ``data`` (X_train, y_train, X_test, y_test).
    """
    device = start(cfg)
    Xtr, ytr, Xte, yte = iris(cfg.features, cfg.seed)
    model = build_module(cfg, Xtr).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    xs, ys, grid = _grid(torch.cat([Xtr, Xte]))
    data = tuple(t.numpy() for t in (Xtr, ytr, Xte, yte))
    Xtr, ytr, Xte, yte, grid = (t.to(device) for t in (Xtr, ytr, Xte, yte, grid))
    tick, copies = Ticker(total=cfg.steps), CopyCadence(every_s=2)
    for step in range(cfg.steps + 1):
        loss = nn.functional.cross_entropy(model(Xtr), ytr)
        if step > 0:
            opt.zero_grad()
            loss.backward()
            opt.step()
        if tick(step):
            final = step == cfg.steps
            metrics = {"loss": loss.item(), "train_acc": _accuracy(model, Xtr, ytr),
                       "test_acc": _accuracy(model, Xte, yte)}
            art = {**_module_artifacts(model, grid), "xs": xs, "ys": ys, "data": data}
            yield Snapshot(step, tick.elapsed, metrics, art, total_steps=cfg.steps, final=final,
                           model=copies(model, final))


DEMOS = [Demo("module", ModuleConfig, train_module, title="A custom nn.Module",
              description="An RBF layer written as an nn.Module learns the iris flowers.")]


# ------------------------------------------------- the autograd graph of a real network


def _module_members(outputs: dict[str, tuple[Any, set[int]]]) -> dict[int, str]:
    """``{id(grad_fn node): module name}``: every node reachable backwards from a module's
    output node, stopping at the nodes of its inputs."""
    owner: dict[int, str] = {}
    for name, (out_fn, stop) in outputs.items():
        stack, seen = [out_fn], set()
        while stack:
            fn = stack.pop()
            if fn is None or id(fn) in seen or id(fn) in stop:
                continue
            seen.add(id(fn))
            owner.setdefault(id(fn), name)
            stack.extend(f for f, _ in fn.next_functions)
    return owner


def _record_forward(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> tuple[Any, dict]:
    """Run the loss forward with hooks on the leaf modules; returns ``(loss, {module name:
    (output grad_fn, ids of its inputs' grad_fns)})``."""
    outputs: dict[str, tuple[Any, set[int]]] = {}
    hooks = []
    for name, mod in model.named_modules():
        if name and not list(mod.children()):
            def hook(m: nn.Module, inp: tuple, out: torch.Tensor, name: str = name) -> None:
                outputs[name] = (out.grad_fn, {id(t.grad_fn) for t in inp
                                               if isinstance(t, torch.Tensor) and t.grad_fn})
            hooks.append(mod.register_forward_hook(hook))
    try:
        loss = nn.functional.cross_entropy(model(X), y)
    finally:
        for h in hooks:
            h.remove()
    return loss, outputs


def _shape_hook(shapes: dict[int, tuple], key: int) -> Callable[[tuple, tuple], None]:
    """A backward hook on a graph node that records the shape of the node's forward output (the
    shape of the gradient flowing into it)."""
    def hook(grad_inputs: tuple, grad_outputs: tuple) -> None:
        if grad_outputs and grad_outputs[0] is not None:
            shapes[key] = tuple(grad_outputs[0].shape)
    return hook


def network_graph(model: nn.Module, X: torch.Tensor, y: torch.Tensor,
                  expanded: tuple[str, ...] = ()) -> str:
    """The autograd graph of one forward pass (cross-entropy of ``model(X)`` against ``y``) as
    DOT, read from ``loss.grad_fn`` and its ``next_functions``: one node per backward function,
    parameters (``AccumulateGrad``) by name, every edge labelled with the shape of the tensor it
    carries (recorded by hooks on the nodes during one real ``backward``). The nodes of a leaf
    module not in ``expanded`` are collapsed into one box named after the module.

    ``model`` is deep-copied with gradients on, so a frozen copy can be drawn.
    """
    import copy

    model = copy.deepcopy(model).train()
    for p in model.parameters():
        p.requires_grad_(True)
    names = {id(p): n for n, p in model.named_parameters()}
    loss, outputs = _record_forward(model, X, y)
    owner = _module_members(outputs)
    nodes, edges, stack, shapes = {}, [], [loss.grad_fn], {}
    while stack:
        fn = stack.pop()
        if id(fn) in nodes:
            continue
        nodes[id(fn)] = fn
        if hasattr(fn, "variable"):
            shapes[id(fn)] = tuple(fn.variable.shape)
        else:
            fn.register_hook(_shape_hook(shapes, id(fn)))
        for child, _ in fn.next_functions:
            if child is not None:
                edges.append((id(child), id(fn)))
                stack.append(child)
    loss.backward()
    kinds = {n: type(m).__name__ for n, m in model.named_modules()}
    return _network_dot(nodes, edges, shapes, owner, names, kinds, set(expanded))


def _network_dot(nodes: dict, edges: list, shapes: dict, owner: dict, names: dict, kinds: dict,
                 expanded: set[str]) -> str:
    def key(i: int) -> str:
        mod = owner.get(i)
        return f"m_{mod.replace('.', '_')}" if mod and mod not in expanded else f"n{i}"

    lines = ["digraph G {", "rankdir=BT;", 'node [fontname="Helvetica", fontsize=10];',
             'edge [fontname="Helvetica", fontsize=9, color="#888888"];']
    drawn = set()
    for i, fn in nodes.items():
        k = key(i)
        if k in drawn:
            continue
        drawn.add(k)
        mod = owner.get(i)
        if k.startswith("m_"):
            lines.append(f'{k} [label="{mod} ({kinds.get(mod, "")})\\n(collapsed)", '
                         'shape=box3d, style=filled, fillcolor="#fde0c5"];')
        elif hasattr(fn, "variable"):
            lines.append(f'{k} [label="{names.get(id(fn.variable), "input")}\\n'
                         f'{tuple(fn.variable.shape)}", shape=box, style=filled, '
                         f'fillcolor="#dbe9f6"];')
        else:
            where = f"\\nin {mod}" if mod else ""
            lines.append(f'{k} [label="{type(fn).__name__}{where}", shape=ellipse];')
    seen = set()
    for c, p in edges:
        a, b = key(c), key(p)
        if a == b or (a, b) in seen:
            continue
        seen.add((a, b))
        lines.append(f'{a} -> {b} [label=" {shapes.get(c, "")}"];')
    lines.append("}")
    return "\n".join(lines)


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
