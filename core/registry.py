"""Finds every demo in the ``core`` package.

A topic module (``core/gan.py``, ``core/gnn.py``, ...) exposes its demos as a module-level list::

    DEMOS = [Demo("gan", GanConfig, train_gan, title="DCGAN", description="...")]

:func:`all_demos` imports every module of the package that defines ``DEMOS``; nothing needs to be
listed by hand.
"""

from __future__ import annotations

import importlib
import pkgutil

import core
from core.live import Demo

_SKIP = {"live", "registry", "__main__", "cli"}


def all_demos() -> dict[str, Demo]:
    """``{name: Demo}`` for every demo in ``core``, sorted by name."""
    found: dict[str, Demo] = {}
    for mod in pkgutil.iter_modules(core.__path__):
        if mod.name in _SKIP or mod.name.startswith("_") or mod.ispkg:
            continue
        module = importlib.import_module(f"core.{mod.name}")
        for demo in getattr(module, "DEMOS", []):
            found[demo.name] = demo
    return dict(sorted(found.items()))


def get_demo(name: str) -> Demo:
    """The demo called ``name``.

    Raises:
        KeyError: with the list of known demos when there is none of that name.
    """
    # Fast path: demos usually live in a module named like them (gan2d in core.gan, ...), so
    # try that module before importing every topic (torch_geometric, gymnasium, ...).
    for mod_name in dict.fromkeys([name, name.rstrip("0123456789").split("_")[0], name.split("_")[0]]):
        try:
            module = importlib.import_module(f"core.{mod_name}")
        except ImportError:
            continue
        for demo in getattr(module, "DEMOS", []):
            if demo.name == name:
                return demo
    demos = all_demos()
    if name not in demos:
        raise KeyError(f"unknown demo {name!r}; known demos: {', '.join(demos)}")
    return demos[name]
