"""``ast.parse`` and ``inspect.getsource`` behind one process-wide lock.

CPython 3.11's conversion of a parse tree to ``ast`` objects keeps its recursion depth in
shared state (gh-106905): two threads parsing at once fail with "AST constructor recursion
depth mismatch". ``inspect.getsource`` of a class parses its module the same way. Sessions of
the app are threads of one process, so every parse in ``core``, ``ui`` and ``pages`` goes
through :func:`parse` or :func:`getsource`.
"""

from __future__ import annotations

import ast
import functools
import inspect
import threading
from typing import Any

_LOCK = threading.Lock()


def parse(source: str, mode: str = "exec") -> ast.AST:
    """``ast.parse(source, mode=mode)`` with no other parse running in this process.

    Raises:
        SyntaxError, ValueError, RecursionError, MemoryError: as ``ast.parse`` does.
    """
    with _LOCK:
        return ast.parse(source, mode=mode)


@functools.cache
def getsource(obj: Any) -> str:
    """``inspect.getsource(obj)`` (a module, class or function), read once per process.

    Raises:
        OSError, TypeError: as ``inspect.getsource`` does.
    """
    with _LOCK:
        return inspect.getsource(obj)
