"""Shared chart and layout helpers for pages: page headers, one builder per kind of figure,
and :func:`show_chart` to draw any of them.

Keep page code thin: build figures here, not in pages. Simple curves (losses, metrics against
steps) are Vega-Lite charts (:func:`line_chart`): Streamlit's Vega-Lite bundle is a sixth of
Plotly's and a new tab draws such a chart ~1-2 s sooner (``bench/results/app.md``). Heatmaps and
interactive figures (hover ids, click-to-hide classes, added traces) stay Plotly.
"""

from __future__ import annotations

import hashlib
import io
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from PIL import Image

from core.blocks.images import to_uint8_image

MARGIN = {"l": 10, "r": 10, "t": 40, "b": 10}
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
           "#7f7f7f", "#bcbd22", "#17becf"]


def page_header(title: str, intro: str, equation: str | Sequence[str] | None = None,
                try_this: str | None = None, note: str | None = None) -> None:
    """Title, a short intro, the key equation(s) in LaTeX, and a "try this" line."""
    st.title(title)
    st.markdown(intro)
    if equation:
        for eq in [equation] if isinstance(equation, str) else equation:
            st.latex(eq)
    if try_this:
        st.info(f"**Try this:** {try_this}", icon=":material/science:")
    if note:
        st.caption(note)


_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def plain(text: object) -> str:
    """``text`` escaped so that Streamlit's Markdown shows it as typed: no links, images, HTML,
    emphasis or LaTeX. Use it for every text that comes from a link, an upload or a run
    (notices, error messages, captions, legends)."""
    return _MARKDOWN.sub(r"\\\1", str(text))


def data_note(note: str | None) -> None:
    """Show the data layer's one-line fallback notice (e.g. offline), if any."""
    if note:
        st.warning(note, icon=":material/cloud_off:")


@dataclass(frozen=True)
class VegaLite:
    """A Vega-Lite chart: its ``data`` (a long table) and its ``spec`` without the data.

    Built as plain dicts rather than through Altair: Altair validates every spec against the
    Vega-Lite JSON schema and deep-copies it on every change, ~0.1 s per line chart, paid on
    every poll of a training page (most of a busy page's server time). Draw it with
    :func:`show_chart`; :meth:`to_dict` is the spec.
    """

    data: pd.DataFrame
    spec: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return self.spec


def line_chart(history: pd.DataFrame, metrics: Sequence[str], title: str = "",
               x: str = "step", y_title: str = "", log_y: bool = False, height: int = 280,
               names: dict[str, str] | None = None, colors: dict[str, str] | None = None,
               emphasis: str | None = None, legend: str = "top") -> VegaLite:
    """Lines of ``metrics`` (columns of ``history``) against the column ``x``, as a Vega-Lite
    chart (draw it with :func:`show_chart`): one layer of lines, one of invisible points that
    carry the tooltips.

    Args:
        history: one row per snapshot; NaN cells are gaps a line skips, missing columns are
            left out.
        names: legend name per metric (default: the column name); colors: a colour per metric
            (default: :data:`PALETTE` in ``metrics`` order).
        log_y: a log y axis (non-positive values are left out).
        emphasis: a metric drawn thicker than the others (the current run in a comparison).
        legend: ``"top"`` or ``"bottom"`` (long labels).
        height: pixels, about as a Plotly figure of that height (its plot area is 80 px less).
    """
    names, colors = names or {}, colors or {}
    shown = [m for m in metrics if m in history.columns]
    frames = [pd.DataFrame({"x": history[x], "series": names.get(m, m), "value": history[m]})
              for m in shown]
    data = pd.concat(frames, ignore_index=True).dropna() if frames else pd.DataFrame(
        {"x": [], "series": [], "value": []})
    if log_y:
        data = data[data["value"] > 0]
    domain = [names.get(m, m) for m in shown]
    encoding = {
        "x": {"field": "x", "type": "quantitative", "title": x},
        "y": {"field": "value", "type": "quantitative", "title": y_title or None,
              "scale": {"type": "log" if log_y else "linear", "zero": False}},
        "color": {"field": "series", "type": "nominal", "sort": domain, "title": None,
                  "scale": {"domain": domain, "range": [colors.get(m, PALETTE[i % len(PALETTE)])
                                                        for i, m in enumerate(shown)]},
                  "legend": {"orient": legend, "labelLimit": 400}},
    }
    width = {"condition": {"test": {"field": "series", "equal": names.get(emphasis, emphasis)},
                           "value": 3.5}, "value": 1.5} if emphasis else {"value": 2}
    tooltip = [{"field": "series", "type": "nominal", "title": "line"},
               {"field": "x", "type": "quantitative", "title": x},
               {"field": "value", "type": "quantitative", "title": y_title or "value",
                "format": ".4~g"}]
    spec: dict[str, Any] = {
        "$schema": "https://vega.github.io/schema/vega-lite/v6.json",
        "height": max(80, height - 80),  # the plot area: title, legend and axis take ~80 px more
        "autosize": {"type": "fit-x", "contains": "padding"},
        "layer": [{"mark": {"type": "line"}, "encoding": {**encoding, "strokeWidth": width}},
                  {"mark": {"type": "point", "size": 40, "opacity": 0},
                   "encoding": {**encoding, "tooltip": tooltip}}],
    }
    if title:
        spec["title"] = title
    return VegaLite(data, spec)


def bar_chart(categories: Sequence[str], values: Sequence[float], title: str = "", *,
              x_title: str = "", y_title: str = "", rule: tuple[float, str] | None = None,
              height: int = 260, color: str = PALETTE[0]) -> VegaLite:
    """Vertical bars, one per category in the given order, as a Vega-Lite chart (a plain
    dict: building it costs well under a millisecond, a Plotly bar chart with a reference line
    ~30 ms of the server's time on every redraw).

    ``rule``: ``(y, label)`` draws a dotted horizontal reference line labelled at its right end
    (e.g. ``(10, "uniform (10%)")``); ``height`` about as a Plotly figure of that height.
    """
    cats = [str(c) for c in categories]
    data = pd.DataFrame({"category": cats, "value": np.asarray(values, dtype=float)})
    layers: list[dict[str, Any]] = [{
        "mark": {"type": "bar", "color": color},
        "encoding": {
            "x": {"field": "category", "type": "nominal", "sort": cats, "title": x_title,
                  "axis": {"labelAngle": 0}},
            "y": {"field": "value", "type": "quantitative", "title": y_title or None},
            "tooltip": [{"field": "category", "type": "nominal", "title": x_title or "category"},
                        {"field": "value", "type": "quantitative", "title": y_title or "value",
                         "format": ".3~g"}]}}]
    if rule is not None:
        y, label = rule
        layers += [{"mark": {"type": "rule", "strokeDash": [4, 4], "color": "#555"},
                    "encoding": {"y": {"datum": y}}},
                   {"mark": {"type": "text", "align": "right", "baseline": "bottom", "dy": -2,
                             "color": "#555"},
                    "encoding": {"y": {"datum": y}, "x": {"value": "width"},
                                 "text": {"value": label}}}]
    spec: dict[str, Any] = {
        "$schema": "https://vega.github.io/schema/vega-lite/v6.json",
        "height": max(80, height - 80),
        "autosize": {"type": "fit-x", "contains": "padding"},
        "layer": layers,
    }
    if title:
        spec["title"] = title
    return VegaLite(data, spec)


def show_chart(fig: go.Figure | VegaLite, key: str | None = None,
               where: Any = None) -> None:
    """Draw a figure from this module, Plotly or Vega-Lite, at the width of its container.

    ``where`` is a container to draw in (a column from ``st.columns``, an expander...; default:
    where the page is): ``show_chart(line_chart(h, ["loss"], "Loss"), key="dqn.loss", where=c1)``.
    """
    target = where if where is not None else st
    if isinstance(fig, go.Figure):
        target.plotly_chart(fig, key=key)
    else:
        target.vega_lite_chart(fig.data, fig.spec, key=key, width="stretch")


def class_scatter(xy: np.ndarray, labels: np.ndarray, class_names: Sequence[str], title: str = "",
                  highlight: np.ndarray | None = None, height: int = 420, *,
                  x_title: str = "component 1", y_title: str = "component 2",
                  highlight_name: str = "labelled", index: np.ndarray | None = None,
                  index_label: str = "point", legend_title: str | None = None,
                  size: int = 5, opacity: float = 0.8) -> go.Figure:
    """A 2-D scatter of points coloured by class (t-SNE/PCA maps, latent codes, node embeddings).

    Args:
        xy: (N, 2) coordinates.
        labels: (N,) integer class of each point, in ``[0, len(class_names))``.
        class_names: legend name of each class; class ``c`` gets ``PALETTE[c % 10]``.
        highlight: optional (N,) bool mask; those points are drawn on top as large outlined
            stars in their class colour, in one legend entry ``highlight_name`` (e.g. the
            labelled nodes of a semi-supervised graph).
        index: optional (N,) ids shown on hover as ``"{index_label} #id"``.

    Returns:
        a Plotly figure (WebGL traces, one per class, so a click on the legend hides a class);
        callers may add traces (e.g. prior samples) before drawing it.

    Raises:
        ValueError: on mismatched shapes or a label outside ``class_names``.
    """
    xy, labels = np.asarray(xy, dtype=float), np.asarray(labels).astype(int)
    n = len(xy)
    if xy.ndim != 2 or xy.shape[1] != 2 or labels.shape != (n,):
        raise ValueError(f"class_scatter needs xy (N, 2) and labels (N,); got {xy.shape} and "
                         f"{labels.shape}")
    if n and (labels.min() < 0 or labels.max() >= len(class_names)):
        raise ValueError(f"labels must lie in [0, {len(class_names)}); got {labels.min()}.."
                         f"{labels.max()}")
    mask = np.zeros(n, bool) if highlight is None else np.asarray(highlight, bool)
    if mask.shape != (n,):
        raise ValueError(f"highlight must be a bool mask of shape ({n},); got {mask.shape}")
    fig = go.Figure()
    for c, name in enumerate(class_names):
        sel = (labels == c) & ~mask
        hover = {} if index is None else {
            "customdata": np.asarray(index)[sel],
            "hovertemplate": f"{index_label} #%{{customdata}}<extra>{name}</extra>"}
        fig.add_scattergl(x=xy[sel, 0], y=xy[sel, 1], mode="markers", name=str(name),
                          marker={"size": size, "opacity": opacity,
                                  "color": PALETTE[c % len(PALETTE)]}, **hover)
    if mask.any():
        fig.add_scattergl(x=xy[mask, 0], y=xy[mask, 1], mode="markers", name=highlight_name,
                          marker={"color": [PALETTE[c % len(PALETTE)] for c in labels[mask]],
                                  "size": 12, "symbol": "star",
                                  "line": {"color": "black", "width": 1}})
    fig.update_layout(title=title, height=height, margin=MARGIN, xaxis_title=x_title,
                      yaxis_title=y_title, legend={"title": legend_title} if legend_title else {})
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


MAX_IMAGE_WIDTH = 1460  # Streamlit's widest image (px); wider ones it resizes, bilinear (blurry)
PNG_CACHE_BYTES = 32 * 2**20


class _PngCache:
    """Encoded images by content hash, least recently used first out, bounded in bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes, self.bytes = max_bytes, 0
        self.items: OrderedDict[bytes, bytes] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: bytes) -> bytes | None:
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        return None

    def put(self, key: bytes, data: bytes) -> None:
        with self.lock:
            if key not in self.items:
                self.items[key] = data
                self.bytes += len(data)
            while self.bytes > self.max_bytes and len(self.items) > 1:
                self.bytes -= len(self.items.popitem(last=False)[1])


_PNGS = _PngCache(PNG_CACHE_BYTES)


def png_bytes(img: np.ndarray, scale: int | None = None) -> bytes:
    """``img`` (``(H, W)`` or ``(H, W, 3)``, uint8 or float in [0, 1]) as PNG bytes, upscaled by
    ``scale`` with nearest neighbour (1 = its own pixels); by default (``None``) to ~300 px high
    when under 200 px, so pixels stay crisp. Never upscaled wider than :data:`MAX_IMAGE_WIDTH`.

    Encoded once per content for the whole server (an LRU of :data:`PNG_CACHE_BYTES` keyed by
    the pixels' hash and the scale): a training page polls every second while most of its
    pictures change every few seconds, and ``st.image`` encodes an array again on every call (on
    ``/gan`` with one session watching a run, a quarter of the server's CPU). Pages pass
    ``png_bytes(...)`` to ``st.image`` (or use :func:`show_image`) instead of an array.

    Raises ``ValueError`` for an image that is not 2-D or 3-D, or a ``scale`` below 1."""
    if img.dtype != np.uint8:
        img = to_uint8_image(img)
    img = np.ascontiguousarray(img)
    if img.ndim not in (2, 3) or (scale is not None and scale < 1):
        raise ValueError(f"png_bytes takes an (H, W) or (H, W, C) image and a scale >= 1, "
                         f"not shape {img.shape} and scale {scale}")
    hasher = hashlib.blake2b(repr((img.shape, scale)).encode(), digest_size=16)
    hasher.update(img.tobytes())
    key = hasher.digest()
    data = _PNGS.get(key)
    if data is None:
        h, w = img.shape[:2]
        k = scale if scale is not None else (max(1, 300 // h) if h < 200 else 1)
        k = max(1, min(k, MAX_IMAGE_WIDTH // max(w, 1)))
        if k > 1:
            img = img.repeat(k, 0).repeat(k, 1)
        buf = io.BytesIO()
        Image.fromarray(img[:, :, 0] if img.ndim == 3 and img.shape[2] == 1 else img).save(
            buf, format="PNG", compress_level=1)
        data = buf.getvalue()
        _PNGS.put(key, data)
    return data


def show_image(img: np.ndarray, caption: str | None = None, width: int | str = "stretch") -> None:
    """``st.image`` for an array, upscaled with nearest neighbour so pixels stay crisp
    (:func:`png_bytes`: encoded once per content)."""
    st.image(png_bytes(img), caption=caption, width=width, output_format="PNG")


def metric_row(metrics: dict[str, float], labels: dict[str, str] | None = None,
               fmt: str = "{:.3f}", helps: dict[str, str] | None = None) -> None:
    """A row of ``st.metric`` tiles; ``helps`` adds a tooltip to the named tiles."""
    if not metrics:
        return
    cols = st.columns(len(metrics))
    for col, (k, v) in zip(cols, metrics.items()):
        col.metric((labels or {}).get(k, k), fmt.format(v) if isinstance(v, float) else v,
                   help=(helps or {}).get(k))
