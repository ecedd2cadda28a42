"""Take a run home: the **Download run** button (the bundle of :mod:`core.bundle`, the same
files as ``python -m core train --out``) and **Show code** (the trainer's real source from
:mod:`core.showcode`). :func:`ui.live.run_panel` draws both on every page."""

from __future__ import annotations

import functools
from typing import Any

import streamlit as st

from core.bundle import bundle_files, zip_bundle
from core.engine import Run
from core.protocol import Demo


@functools.lru_cache(maxsize=64)
def _script(demo: Demo, config: Any) -> str | None:
    from core.showcode import trainer_script

    try:
        return trainer_script(demo, config)
    except (TypeError, OSError):  # no readable source (an installed, compiled build)
        return None


def run_zip(run: Run) -> bytes:
    """The bundle of ``run`` as it is now (the newest snapshot, its model copy), zipped."""
    history, latest = run.view()
    files = bundle_files(run.demo.name, run.config, history, latest, run.model)
    return zip_bundle(files, folder=f"liveprop_{run.demo.name}")


def download_button(page: str, run: Run | None, where: Any) -> None:
    """**Download run** in ``where`` (a column): disabled until there is a run; the zip is built
    when the button is pressed, from the run as it is then."""
    ready = run is not None
    where.download_button(
        "Download run", data=(lambda: run_zip(run)) if ready else b"",
        file_name=f"liveprop_{run.demo.name}_step{run.step}.zip" if ready else "run.zip",
        mime="application/zip", key=f"{page}.download", on_click="ignore", disabled=not ready,
        icon=":material/download:", width="stretch",
        help="config.json, metrics (CSV and JSONL), the weights (safetensors and .pt), the "
             "figures as PNG and README.txt with the command that trains the same run again")


def show_code(page: str, demo: Demo, config: Any) -> None:
    """**Show code**: the model and training loop this run executes, as a script that trains
    this very config (collapsed by default)."""
    with st.expander("Show code: the model and training loop of this run",
                     icon=":material/code:"):
        script = _script(demo, config)
        if script is None:
            st.caption("The source of this trainer is not available in this installation.")
            return
        from core.bundle import reproduce_command

        st.caption("The trainer's own source, read from its module in `core/`, and the lines "
                   "that train these settings. Run it from a clone of Liveprop, or run the same "
                   "thing headless:")
        st.code(reproduce_command(demo.name, config), language="bash")
        st.code(script, language="python", line_numbers=True)
