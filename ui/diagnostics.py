"""The diagnostics panel of every run whose trainer opted in (``core.diagnostics.watch``):
per-layer gradient norms and update-to-weight ratios over time, activation statistics and
weight histograms. :func:`ui.live.run_panel` draws it under the page's charts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from core.diagnostics import HIST_KEY, PREFIX
from ui.charts import VegaLite, line_chart, plain, show_chart

RULE_OF_THUMB = 1e-3  # a healthy update-to-weight ratio per step (Karpathy, CS231n notes)


def _columns(history: pd.DataFrame, kind: str) -> dict[str, str]:
    """``{column: layer}`` of one kind of diagnostic (``grad_norm``, ``update_ratio``...)."""
    head = f"{PREFIX}{kind}/"
    return {c: c[len(head):] for c in history.columns if c.startswith(head)}


def has_diagnostics(history: pd.DataFrame) -> bool:
    return any(str(c).startswith(PREFIX) for c in history.columns)


def _ratio_chart(history: pd.DataFrame, cols: dict[str, str]) -> VegaLite:
    """The ratios per layer and the rule of thumb as a grey line."""
    rule = "rule of thumb (1e-3)"
    data = history.assign(**{rule: RULE_OF_THUMB})
    return line_chart(data, [*cols, rule], "Update / weight ratio per step", log_y=True,
                      names={**cols, rule: rule}, colors={rule: "#999999"},
                      y_title="‖ΔW‖ / ‖W‖", legend="bottom")


def _activation_table(history: pd.DataFrame) -> pd.DataFrame:
    last = history.iloc[-1]
    rows = {}
    for kind, label in (("act_mean", "mean"), ("act_std", "std"), ("dead", "dead share"),
                        ("saturated", "saturated share")):
        for col, layer in _columns(history, kind).items():
            if pd.notna(last[col]):
                rows.setdefault(layer, {})[label] = float(last[col])
    return pd.DataFrame.from_dict(rows, orient="index")


def _histograms(hist: dict) -> VegaLite:
    """One small bar chart per layer (at most 8), four to a row, each with its own axes."""
    frames = []
    for layer, (counts, edges) in list(hist.items())[:8]:
        edges = np.asarray(edges, dtype=float)
        frames.append(pd.DataFrame({"layer": layer, "left": edges[:-1], "right": edges[1:],
                                    "count": np.asarray(counts)}))
    data = pd.concat(frames, ignore_index=True)
    bars = {"mark": {"type": "bar"}, "height": 110, "encoding": {
        "x": {"field": "left", "type": "quantitative", "title": "weight"},
        "x2": {"field": "right"},
        "y": {"field": "count", "type": "quantitative", "title": None},
        "tooltip": [{"field": "layer", "type": "nominal"},
                    {"field": "count", "type": "quantitative"}]}}
    return VegaLite(data, {"$schema": "https://vega.github.io/schema/vega-lite/v6.json",
                           "facet": {"field": "layer", "type": "nominal", "title": None},
                           "columns": 4, "spec": bars,
                           "resolve": {"scale": {"x": "independent", "y": "independent"}}})


def diagnostics_panel(history: pd.DataFrame, artifacts: dict, key: str) -> None:
    """An expander with the run's diagnostics; nothing when the run has none.

    The expander keeps its state (``st.session_state[f"{key}.diagnostics"]``) and its charts
    are built only while it is open: the live view redraws every second for every watching
    session, and a closed panel's charts and table cost the server as much as open ones."""
    if history.empty or not has_diagnostics(history):
        return
    panel = st.expander("Diagnostics: gradients, updates and activations per layer",
                        icon=":material/monitor_heart:", key=f"{key}.diagnostics",
                        on_change="rerun")
    if not panel.open:
        panel.caption("Open to draw the charts.")
        return
    with panel:
        st.caption("Measured on the first training step after each snapshot. An update/weight "
                   f"ratio far below the dashed line at {RULE_OF_THUMB:g} learns slowly, far "
                   "above it is unstable; a dead share near 1 means a layer stopped learning.")
        grads, ratios = _columns(history, "grad_norm"), _columns(history, "update_ratio")
        c1, c2 = st.columns(2)
        if grads:
            show_chart(line_chart(history, list(grads), "Gradient norm", log_y=True, names=grads,
                                  y_title="‖∇W‖", legend="bottom"), key=f"{key}.diag_grad",
                       where=c1)
        if ratios:
            show_chart(_ratio_chart(history, ratios), key=f"{key}.diag_ratio", where=c2)
        table = _activation_table(history)
        if not table.empty:
            st.markdown("**Activations on the latest measured training batch**")
            st.dataframe(table.style.format("{:.3g}"), key=f"{key}.diag_acts")
        hist = artifacts.get(HIST_KEY) if artifacts else None
        if hist:
            st.markdown("**Weights now** (histogram per layer)")
            chart = _histograms(hist)  # a facet: its own width, not the container's
            st.vega_lite_chart(chart.data, chart.spec, key=f"{key}.diag_hist")
        elif hist is not None:
            st.caption(plain("No weights to show."))
