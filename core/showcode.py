"""**Show code**: the model and training loop a run executes, read from its topic module.

:func:`trainer_script` returns a plain Python script: the module's imports that the code uses,
the source of the trainer function, its config class and every function, class and constant of
the same module they use (found by name, transitively, in source order: the real source, not a
rewritten copy), and a last few lines that train the given config and print the final metrics.
Run from a clone of Liveprop (the imports of ``core.protocol`` and ``core.blocks`` resolve
there), it gives the numbers of the run it came from.
"""

from __future__ import annotations

import ast
import functools
import inspect
import sys
from typing import Any

from core.protocol import Demo, config_to_dict
from core.pyast import getsource, parse

__all__ = ["trainer_script"]


def _top_level(tree: ast.Module) -> dict[str, ast.stmt]:
    """Top-level definitions by the name they bind (functions, classes, simple assignments)."""
    defs: dict[str, ast.stmt] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defs[node.name] = node
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for t in targets:
                for n in ast.walk(t):
                    if isinstance(n, ast.Name):
                        defs[n.id] = node
    return defs


def _names_used(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _closure(defs: dict[str, ast.stmt], roots: list[str]) -> list[ast.stmt]:
    """The definitions ``roots`` need, transitively, in source order."""
    seen: set[int] = set()
    todo = [defs[r] for r in roots if r in defs]
    while todo:
        node = todo.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        todo += [defs[n] for n in _names_used(node) if n in defs and id(defs[n]) not in seen]
    return sorted((n for n in {id(v): v for v in defs.values()}.values() if id(n) in seen),
                  key=lambda n: n.lineno)


def _imports_used(tree: ast.Module, used: set[str]) -> list[ast.stmt]:
    keep = []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            keep.append(node)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound = {(a.asname or a.name).split(".")[0] for a in node.names}
            if bound & used:
                keep.append(node)
    return keep


def _segment(src: str, node: ast.stmt) -> str:
    lines = src.splitlines()
    start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    return "\n".join(lines[start - 1:node.end_lineno])


@functools.cache
def _module_source(name: str) -> tuple[str, ast.Module]:
    """The source of module ``name`` and its parse tree, read once per process."""
    src = getsource(sys.modules[name])
    return src, parse(src)  # type: ignore[return-value]


def trainer_script(demo: Demo, config: Any = None) -> str:
    """A runnable script with the source that trains ``demo`` (see the module docstring).

    Args:
        demo: the demo whose trainer to show.
        config: the run's config; its settings that differ from the defaults are written into
            the script's last lines (the defaults when None).

    Raises:
        TypeError: when the trainer's source cannot be read (a built-in or generated function).
    """
    module = inspect.getmodule(demo.train)
    if module is None:
        raise TypeError(f"the source of {demo.name}'s trainer cannot be found")
    src, tree = _module_source(module.__name__)
    defs = _top_level(tree)
    roots = [demo.train.__name__, demo.config_cls.__name__]
    body = _closure(defs, roots)
    used = set().union(*(_names_used(n) for n in body)) if body else set()
    for node in body:  # names used by decorators and base classes are in the walk already
        used |= _names_used(node)
    imports = _imports_used(tree, used)
    cfg = config if config is not None else demo.config_cls()
    default = config_to_dict(demo.config_cls())
    changed = {k: getattr(cfg, k) for k, v in config_to_dict(cfg).items() if v != default[k]}
    args = ", ".join(f"{k}={v!r}" for k, v in changed.items())
    parts = [f'"""{demo.name}: the code this run executes, from {module.__name__} '
             f'({module.__name__.replace(".", "/")}.py).\n\nRun it from a clone of Liveprop: '
             f'python this_file.py\n"""']
    parts.append("\n".join(_segment(src, n) for n in imports))
    parts += [_segment(src, n) for n in body]
    parts.append(f'if __name__ == "__main__":\n'
                 f"    cfg = {demo.config_cls.__name__}({args})\n"
                 f"    for snap in {demo.train.__name__}(cfg):\n"
                 f"        pass\n"
                 f'    print("step", snap.step, {{k: round(v, 6) for k, v in snap.metrics.items()\n'
                 f"                              if isinstance(v, (int, float))}})\n")
    return "\n\n\n".join(parts)
