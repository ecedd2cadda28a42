"""Start the app with heavy modules imported up front.

``streamlit run app.py`` (and ``make run``, i.e. ``python -m ui.serve [streamlit args]``) start the
server through :func:`lifespan`, so that the first visitor does not wait for torch and
torchvision to import (a page shows within a second), and so that Streamlit never enters its
legacy ``pages/`` discovery mode (see :func:`ui.charts.ensure_entry`).
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

APP = Path(__file__).resolve().parents[1] / "app.py"


def prepare() -> None:
    """Import the heavy modules, pay the first optimizer step and the bundled digits, turn
    Streamlit's legacy ``pages/`` discovery off (``app.py`` declares the navigation) and its
    post-run garbage collection off."""
    import plotly.graph_objects  # noqa: F401  (warm imports)
    import torch  # noqa: F401
    import torchvision.utils  # noqa: F401
    from streamlit import config
    from streamlit.runtime.pages_manager import PagesManager

    import core.protocol  # noqa: F401
    import ui.live

    ui.live.warm_up()
    PagesManager.uses_pages_directory = False
    # Streamlit's gc.collect(2) after every (fragment) run holds the GIL ~0.5 s with torch
    # loaded and starves the training threads; .streamlit/config.toml switches it off, and this
    # keeps it off when the server starts from another directory (unless set explicitly)
    if config.get_where_defined("runner.postScriptGC") == config.ConfigOption.DEFAULT_DEFINITION:
        config.set_option("runner.postScriptGC", False)


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


@asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    """``st.App`` lifespan hook: :func:`prepare` before the server accepts its first visitor,
    then :func:`warm_pages` in a background thread (a failure there only costs that page's first
    visitor the wait)."""
    prepare()
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
