"""Shared chart and layout helpers for pages (Plotly figures, image grids, page headers).

Keep page code thin: build figures here, not in pages.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

MARGIN = {"l": 10, "r": 10, "t": 40, "b": 10}
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf"]


def page_header(title: str, intro: str, equation: str | Sequence[str] | None = None,
                try_this: str | None = None, note: str | None = None) -> None:
    """Title, a short intro, the key equation(s) in LaTeX, and a "try this" line."""
    ensure_entry()
    st.title(title)
    st.markdown(intro)
    if equation:
        for eq in [equation] if isinstance(equation, str) else equation:
            st.latex(eq)
    if try_this:
        st.info(f"**Try this:** {try_this}", icon=":material/science:")
    if note:
        st.caption(note)


def ensure_entry() -> None:
    """Make a deep link on a fresh server go through ``app.py``.

    With a ``pages/`` folder next to the entry script, Streamlit's first script run on a fresh
    server uses legacy page discovery and runs a deep-linked page file directly, without
    ``app.py`` (no page config, no navigation). ``streamlit run app.py`` avoids that: its
    start-up hook (:func:`ui.serve.lifespan`) switches legacy mode off before the first visitor.
    On a server started otherwise this switches legacy mode off and reruns at once, before any
    widget exists, so ``app.py`` opens the page. AppTest (whose
    runtime is a mock) resets legacy mode before *every* run, where a rerun would swallow the
    clicked button; there the app's navigation is declared in place instead (page files are
    named after their URL path, so both agree on the page). Every page calls this first
    (``page_header`` does).
    """
    from streamlit.runtime import Runtime
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        if Runtime.exists() and type(Runtime.instance()) is Runtime:
            PagesManager.uses_pages_directory = False
            st.rerun()
        from ui.shell import build_navigation

        build_navigation()


def data_note(note: str | None) -> None:
    """Show the data layer's one-line fallback notice (e.g. offline), if any."""
    if note:
        st.warning(note, icon=":material/cloud_off:")


def line_chart(history: pd.DataFrame, metrics: Sequence[str], title: str = "",
               x: str = "step", y_title: str = "", log_y: bool = False, height: int = 280,
               names: dict[str, str] | None = None) -> go.Figure:
    """Lines of ``metrics`` (columns of ``history``) against ``x``; missing columns skipped."""
    fig = go.Figure()
    for i, m in enumerate(metrics):
        if m in history.columns:
            d = history[[x, m]].dropna()
            fig.add_scatter(x=d[x], y=d[m], mode="lines", name=(names or {}).get(m, m),
                            line={"color": PALETTE[i % len(PALETTE)]})
    fig.update_layout(title=title, height=height, margin=MARGIN, xaxis_title=x,
                      yaxis_title=y_title, legend={"orientation": "h", "y": 1.12, "x": 1,
                                                   "xanchor": "right"})
    if log_y:
        fig.update_yaxes(type="log")
    return fig


def heatmap(z: np.ndarray, title: str = "", x: Sequence | None = None, y: Sequence | None = None,
            colorscale: str = "RdBu", zmin: float | None = None, zmax: float | None = None,
            height: int = 320, x_title: str = "", y_title: str = "", text: Any = None,
            show_scale: bool = True) -> go.Figure:
    """A labelled heatmap (rows = y, columns = x)."""
    fig = go.Figure(go.Heatmap(z=z, x=x, y=y, colorscale=colorscale, zmin=zmin, zmax=zmax,
                               text=text, texttemplate="%{text}" if text is not None else None,
                               showscale=show_scale))
    fig.update_layout(title=title, height=height, margin=MARGIN, xaxis_title=x_title,
                      yaxis_title=y_title)
    return fig


def image_grid(images: np.ndarray | Sequence[np.ndarray], ncol: int = 8, pad: int = 2,
               scale: int = 1) -> np.ndarray:
    """Tile images (N, H, W) or (N, H, W, 3), uint8 or float in [0, 1], into one uint8 image."""
    imgs = np.asarray(images)
    if imgs.dtype != np.uint8:
        imgs = (np.clip(imgs, 0, 1) * 255).astype(np.uint8)
    n, h, w = imgs.shape[:3]
    c = imgs.shape[3] if imgs.ndim == 4 else None
    ncol = max(1, min(ncol, n))
    nrow = (n + ncol - 1) // ncol
    shape = (nrow * (h + pad) + pad, ncol * (w + pad) + pad) + ((c,) if c else ())
    grid = np.full(shape, 255, dtype=np.uint8)
    for i in range(n):
        r, q = divmod(i, ncol)
        grid[pad + r * (h + pad): pad + r * (h + pad) + h,
             pad + q * (w + pad): pad + q * (w + pad) + w] = imgs[i]
    if scale > 1:
        grid = grid.repeat(scale, 0).repeat(scale, 1)
    return grid


def show_image(img: np.ndarray, caption: str | None = None, width: int | str = "stretch") -> None:
    """``st.image`` for a uint8 array, upscaled with nearest neighbour so pixels stay crisp."""
    if img.shape[0] < 200:
        k = max(1, 300 // img.shape[0])
        img = img.repeat(k, 0).repeat(k, 1)
    st.image(img, caption=caption, width=width)


def metric_row(metrics: dict[str, float], labels: dict[str, str] | None = None,
               fmt: str = "{:.3f}", helps: dict[str, str] | None = None) -> None:
    """A row of ``st.metric`` tiles; ``helps`` adds a tooltip to the named tiles."""
    if not metrics:
        return
    cols = st.columns(len(metrics))
    for col, (k, v) in zip(cols, metrics.items()):
        col.metric((labels or {}).get(k, k), fmt.format(v) if isinstance(v, float) else v,
                   help=(helps or {}).get(k))
