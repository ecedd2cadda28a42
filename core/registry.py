"""Finds every demo in the topic packages of ``core``.

Topics live in one package per catalogue section (:data:`SECTIONS`): ``core/<section>/<topic>.py``
(or, in a ``<topic>/`` package, the module of each trainer) exposes its demos as a module-level
list::

    DEMOS = [Demo("gan", GanConfig, train_gan, title="DCGAN", description="...")]

:func:`get_demo` finds a demo's module by reading the topics' source (the ``Demo("name", ...)``
literals) and imports that module only, so the CLI does not pay for every topic's libraries;
:func:`all_demos` imports them all. Nothing is listed by hand.
"""

from __future__ import annotations

import ast
import functools
import importlib
import pkgutil
from pathlib import Path

from core.protocol import Demo
from core.pyast import parse

CORE = Path(__file__).resolve().parent
# the topic packages, in catalogue order (ui.pages.SECTION_DIRS names the same folders)
SECTIONS = ("foundations", "vision", "generative", "sequences", "representation", "graphs", "rl")


def topic_modules() -> list[str]:
    """Dotted names of every topic module (``core.generative.gan``, ...) and of the modules of
    every topic package (``core.graphs.gnn.node_classification``: a demo is declared beside its
    trainer), in section order."""
    names = []
    for section in SECTIONS:
        folder = CORE / section
        if not folder.is_dir():
            continue
        for mod in pkgutil.iter_modules([str(folder)]):
            if mod.name.startswith("_"):
                continue
            names.append(f"core.{section}.{mod.name}")
            if mod.ispkg:
                names += [f"core.{section}.{mod.name}.{sub.name}"
                          for sub in pkgutil.iter_modules([str(folder / mod.name)])
                          if not sub.name.startswith("_")]
    return names


def _source(module: str) -> Path:
    path = CORE.parent / Path(*module.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


@functools.cache
def demo_index() -> dict[str, str]:
    """``{demo name: module}`` read from the topics' source, without importing them."""
    index: dict[str, str] = {}
    for module in topic_modules():
        tree = parse(_source(module).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Demo"
                    and node.args and isinstance(node.args[0], ast.Constant)):
                index[str(node.args[0].value)] = module
    return index


def all_demos() -> dict[str, Demo]:
    """``{name: Demo}`` for every demo in ``core``, sorted by name."""
    found: dict[str, Demo] = {}
    for module in topic_modules():
        for demo in getattr(importlib.import_module(module), "DEMOS", []):
            found[demo.name] = demo
    return dict(sorted(found.items()))


def get_demo(name: str) -> Demo:
    """The demo called ``name``.

    Raises:
        KeyError: with the list of known demos when there is none of that name.
    """
    module = demo_index().get(name)
    if module is not None:
        for demo in getattr(importlib.import_module(module), "DEMOS", []):
            if demo.name == name:
                return demo
    raise KeyError(f"unknown demo {name!r}; known demos: {', '.join(sorted(demo_index()))}")
