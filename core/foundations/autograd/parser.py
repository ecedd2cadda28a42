"""The parser of typed programs: a whitelist over Python's :mod:`ast`, never ``eval``.

:func:`parse_program` reads one expression (``tanh(x*w + b)``) or a few lines of assignments, as
in the micrograd README, restricted to numbers, named variables, ``+ - * / **``, unary minus and
calls of :data:`FUNCTIONS`; everything else is refused with an :class:`ExprError`, one sentence
naming the position.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass, field

from core.pyast import parse

__all__ = ["ALLOWED", "FUNCTIONS", "MAX_CHARS", "MAX_DEPTH", "MAX_INPUTS", "MAX_LINES",
           "MAX_NODES", "ExprError", "Program", "parse_program"]

FUNCTIONS = ("exp", "log", "tanh", "sin", "relu", "sigmoid")
MAX_CHARS = 400  # characters of a typed program
MAX_LINES = 12
MAX_DEPTH = 24  # nesting of the syntax tree
MAX_NODES = 160  # nodes of the syntax tree
MAX_INPUTS = 6  # named input variables
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


def error_at(node: ast.AST | None, what: str, multiline: bool) -> ExprError:
    """The :class:`ExprError` "At line 2, column 5: ``what``." (``position 5`` in a one-line
    program) for the syntax node ``node``; without a position, just ``what`` as a sentence."""
    where, pos = _where(node, multiline)
    return ExprError(f"At {where}: {what}." if where else what[:1].upper() + what[1:] + ".", pos)


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
        return error_at(node, what, self.multiline)

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
