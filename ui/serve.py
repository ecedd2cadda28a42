"""Start the app with heavy modules imported up front.

``streamlit run app.py`` (and ``make run``, i.e. ``python -m ui.serve [streamlit args]``) start the
server through :func:`lifespan`, so that the first visitor does not wait for torch and
torchvision to import (a page shows within a second), and so that the server's first script run
goes through ``app.py``'s navigation (see :func:`prepare`).
"""

from __future__ import annotations

import contextlib
import gc
import sys
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from core.openmp import apply_openmp_env

APP = Path(__file__).resolve().parents[1] / "app.py"
# Before torch loads (app.py imports this module first): the server's own OpenMP threads (page
# previews, LIVEPROP_BACKEND=thread runs) spin only briefly before they sleep, not on the cores
# the worker processes train on; the workers get the same settings.
apply_openmp_env()


def check_environment() -> None:
    """Stop the server at start-up, with one line naming the variable, when an environment
    setting is unusable (``LIVEPROP_WORKERS``), instead of breaking every page later.

    Raises:
        SystemExit: with that line.
    """
    from core.engine import Limits, make_executor

    try:
        Limits.from_env()
        make_executor()
    except ValueError as e:
        raise SystemExit(f"Liveprop cannot start: {e}") from None


def prepare() -> None:
    """Set the server up before its first visitor.

    * Imports torch, torchvision and plotly, and pays the first optimizer step and the bundled
      digits (:func:`ui.live.warm_up`).
    * Shortens the GIL switch interval: training threads spend most of their time in torch ops
      that release the GIL and must win it back after every op, while page renders are pure
      Python; with the default 5 ms a few busy sessions starve training (a GIL convoy).
    * Freezes the objects of those imports (``gc.freeze``): with torch loaded, each full
      collection walked them all (~0.35 s holding the GIL); with 30 sessions opening a page and
      training, collections over 20 ms added up to 15.5 s, 3.8 s after freezing.
    * Keeps Streamlit's post-run garbage collection and its "magic" off (see
      ``.streamlit/config.toml``): magic parses every page with ``ast`` in the session's thread,
      and CPython 3.11's AST objects are not thread-safe (python/cpython gh-106905: "AST
      constructor recursion depth mismatch" with concurrent sessions); without magic a page is
      compiled from its source, once, under Streamlit's script-cache lock.
    * Turns Streamlit's legacy ``pages/`` discovery off (see below).
    """
    import plotly.graph_objects  # noqa: F401  (warm imports)
    import torch  # noqa: F401
    import torchvision.utils  # noqa: F401
    from streamlit import config
    from streamlit.runtime.pages_manager import PagesManager

    import core.protocol  # noqa: F401
    import ui.live

    ui.live.warm_up()
    sys.setswitchinterval(0.0005)
    gc.collect()
    gc.freeze()  # the imports above stay out of every later collection (see the docstring)
    # Streamlit's gc.collect(2) after every (fragment) run holds the GIL ~0.5 s with torch
    # loaded and starves the training threads; .streamlit/config.toml switches it off, and this
    # keeps it off when the server starts from another directory (unless set explicitly)
    for option in ("runner.postScriptGC", "runner.magicEnabled"):
        if config.get_where_defined(option) == config.ConfigOption.DEFAULT_DEFINITION:
            config.set_option(option, False)
    # The one use of a Streamlit internal, and why: with a ``pages/`` folder next to app.py,
    # Streamlit runs a fresh server's first script run in legacy multipage mode (a navigation
    # of ``pages/*.py``, which finds no page in our section folders), so a deep link shows
    # "Page not found" before app.py's own st.navigation takes over. st.navigation clears this
    # flag itself on its first call; clearing it up front makes the first run behave the same.
    # There is no public setting for it. tests/test_browser.py
    # (test_first_deep_link_on_a_fresh_server) proves it is still needed.
    PagesManager.uses_pages_directory = False


def warm_pages() -> None:
    """Pay single pages' one-off costs (about 1 s each) before their first visitor: the PyG and
    networkx imports and the default graph of ``/gnn``, the rendered caption scenes of
    ``/captioning``. Both land in in-process caches that every session shares."""
    import networkx  # noqa: F401
    import torch_geometric.utils  # noqa: F401

    from core.graphs import gnn
    from core.sequences import captioning

    gnn.make_graph(gnn.GnnConfig())
    c = captioning.CaptioningConfig()
    captioning.get_data(c.dataset, c.n_train, c.style)
    gc.freeze()  # these pages' imports and cached data stay out of later collections


@asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    """``st.App`` lifespan hook: :func:`prepare` before the server accepts its first visitor,
    then :func:`warm_pages` in a background thread (a failure there only costs that page's first
    visitor the wait).

    The fork server that starts every run's worker process (``core.executors.warm_up``: a process
    of its own that imports torch and the topic modules) is started first, from another thread,
    so that its imports overlap this process's, and the server accepts visitors once it is up
    (at most 120 s later): a fresh server's first Train then starts like any other.
    """
    from core.executors import warm_up

    workers = threading.Thread(target=_quietly, args=(warm_up,), name="liveprop-warm-workers",
                               daemon=True)
    workers.start()
    prepare()
    workers.join(timeout=120)
    threading.Thread(target=_quietly, args=(warm_pages,), name="liveprop-warm-pages",
                     daemon=True).start()
    yield


def _quietly(fn: Callable[[], None]) -> None:
    # warming is an optimisation: the page itself reports any real error to its visitor
    with contextlib.suppress(Exception):
        fn()


def main() -> None:
    """``streamlit run app.py`` with the given arguments (``app.py`` starts via :func:`lifespan`)."""
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(APP), *sys.argv[1:]]
    cli.main()


if __name__ == "__main__":
    main()
