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
import textwrap
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


def _sibling(node: ast.ImportFrom, module: str, package: str) -> str | None:
    """The module of the topic package ``package`` that ``node`` imports from, or None."""
    if node.level:
        base = module.rsplit(".", node.level)[0]
        target = f"{base}.{node.module}" if node.module else base
    else:
        target = node.module or ""
    return target if target.startswith(package + ".") and target in sys.modules else None


Imports = dict[str | None, dict[str, None]]  # module (None: ``import x``) -> names, in order


def _add_import(imports: Imports, node: ast.Import | ast.ImportFrom, module: str | None) -> None:
    """Merge ``node`` into ``imports``: a name imported by several modules of a topic package
    is imported once, and names from one module share one line."""
    names = imports.setdefault(module if isinstance(node, ast.ImportFrom) else None, {})
    for a in node.names:
        names.setdefault(f"{a.name} as {a.asname}" if a.asname else a.name)


def _import_lines(imports: Imports) -> list[str]:
    """The merged imports as source lines, ``from __future__`` first, then in first-use order;
    a ``from`` line over 99 characters is wrapped in parentheses."""
    lines = []
    for module in sorted(imports, key=lambda m: m != "__future__"):
        names = list(imports[module])
        if module is None:
            lines += [f"import {n}" for n in names]
            continue
        line = f"from {module} import {', '.join(names)}"
        if len(line) > 99:
            wrapped = textwrap.fill(", ".join(names), 95, initial_indent="    ",
                                    subsequent_indent="    ")
            line = f"from {module} import (\n{wrapped},\n)"
        lines.append(line)
    return lines


def _gather(module: str, roots: list[str], package: str | None,
            out: dict[tuple[str, int], tuple[str, ast.stmt]], imports: Imports) -> None:
    """Add to ``out`` the definitions of ``module`` that ``roots`` need (transitively), first
    those it imports from sibling modules of its topic ``package`` (their source inlined, so a
    packaged topic shows its model too), and to ``imports`` the import lines the code needs."""
    src, tree = _module_source(module)
    body = _closure(_top_level(tree), roots)
    used = set().union(*(_names_used(n) for n in body)) if body else set()
    missing = [r for r in roots if r not in _top_level(tree)]
    used |= set(missing)  # a root the module imports (a config class kept beside the trainer)
    for node in _imports_used(tree, used):
        target = _sibling(node, module, package) if isinstance(node, ast.ImportFrom) and \
            package else None
        names = [a.name for a in node.names if (a.asname or a.name) in used and not a.asname]
        defs = _top_level(_module_source(target)[1]) if target else {}
        if target and names and all(n in defs for n in names):
            _gather(target, names, package, out, imports)
        elif isinstance(node, ast.ImportFrom) and node.level:  # a script has no package
            base = module.rsplit(".", node.level)[0]
            _add_import(imports, node, f"{base}.{node.module}" if node.module else base)
        else:
            _add_import(imports, node, getattr(node, "module", None))
    for n in body:
        out.setdefault((module, n.lineno), (src, n))


def trainer_script(demo: Demo, config: Any = None) -> str:
    """A runnable script with the source that trains ``demo`` (see the module docstring). A
    trainer inside a topic package (``core/<section>/<topic>/``) also gets the definitions it
    imports from the package's other modules, each after the imports it needs.

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
    name = module.__name__
    package = name.rsplit(".", 1)[0] if name.count(".") >= 3 else None  # core.section.topic.x
    out: dict[tuple[str, int], tuple[str, ast.stmt]] = {}
    imports: Imports = {}
    _gather(name, [demo.train.__name__, demo.config_cls.__name__], package, out, imports)
    cfg = config if config is not None else demo.config_cls()
    default = config_to_dict(demo.config_cls())
    changed = {k: getattr(cfg, k) for k, v in config_to_dict(cfg).items() if v != default[k]}
    args = ", ".join(f"{k}={v!r}" for k, v in changed.items())
    parts = [f'"""{demo.name}: the code this run executes, from {name} '
             f'({name.replace(".", "/")}.py{" and its package" if package else ""}).\n\n'
             f'Run it from a clone of Liveprop: python this_file.py\n"""']
    parts.append("\n".join(_import_lines(imports)))
    parts += [_segment(src, n) for src, n in out.values()]
    parts.append(f'if __name__ == "__main__":\n'
                 f"    cfg = {demo.config_cls.__name__}({args})\n"
                 f"    for snap in {demo.train.__name__}(cfg):\n"
                 f"        pass\n"
                 f'    print("step", snap.step, {{k: round(v, 6) for k, v in snap.metrics.items()\n'
                 f"                              if isinstance(v, (int, float))}})\n")
    return "\n\n\n".join(parts)
