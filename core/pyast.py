"""``ast.parse`` behind one process-wide lock.

CPython 3.11's conversion of a parse tree to ``ast`` objects keeps its recursion depth in
shared state (gh-106905): two threads parsing at once fail with "AST constructor recursion
depth mismatch". Sessions of the app are threads of one process, so every ``ast.parse`` in
``core`` goes through :func:`parse`.
"""

from __future__ import annotations

import ast
import threading

_LOCK = threading.Lock()


def parse(source: str, mode: str = "exec") -> ast.AST:
    """``ast.parse(source, mode=mode)`` with no other parse running in this process.

    Raises:
        SyntaxError, ValueError, RecursionError, MemoryError: as ``ast.parse`` does.
    """
    with _LOCK:
        return ast.parse(source, mode=mode)
