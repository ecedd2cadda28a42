"""/tensors: broadcasting, views and strides, the silent (N,) target bug, matmul throughput.
Every figure comes from a real torch operation (core/foundations/tensors.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from core.foundations import tensors as tn
from core.protocol import Demo
from core.registry import get_demo
from ui.charts import MARGIN, PALETTE, heatmap, line_chart, metric_row, page_header, plain, show_chart
from ui.form import select_slider
from ui.live import ConfigForm, RunView, first_paint_deferred, run_panel

PAGE, PAGE_X, PAGE_MM = "tensors", "tensors_explore", "tensors_matmul"
EXAMPLES = {"3,1 with 4": ("3, 1", "4"), "2,1,3 with 4,1": ("2, 1, 3", "4, 1"),
            "scalar with 2,3": ("", "2, 3"), "3 with 4 (error)": ("3", "4"),
            "5,1,4 with 3,1": ("5, 1, 4", "3, 1"), "2,3 with 3,2 (error)": ("2, 3", "3, 2")}

page_header(
    "Tensors",
    "A tensor is a block of memory (its *storage*) plus a recipe for reading it: a **shape** "
    "and, for each dimension, a **stride**, the number of storage elements to skip to move one "
    "step along it. Views such as `transpose` or slicing change only the recipe; broadcasting "
    "is a view whose stride is **0** along a stretched dimension, so one element is read again "
    "and again without any copy. Everything below runs the real torch operation.",
    [r"\text{address}(x[i_0, \dots, i_{k}]) = \text{storage\_offset} + \sum_{d} i_d\,"
     r"\text{stride}_d",
     r"\underbrace{\tfrac1N \textstyle\sum_i (\hat y_i - y_i)^2}_{\text{targets }(N,1)}"
     r"\quad\text{vs}\quad\underbrace{\tfrac1{N^2} \textstyle\sum_{i,j} (\hat y_i - y_j)^2}"
     r"_{\text{targets }(N,)\text{: broadcast to }(N,N)}"],
    try_this="in *The silent broadcasting bug* press **Train** and watch the weight of the "
    "(N,) run sink to 0 while the (N, 1) run finds the true w; then set **True weight w** to "
    "-3 and train again: the buggy run still learns w ≈ 0.",
)
deferred = first_paint_deferred()


# the explorers have settings (in the URL) but nothing to train: a demo that is never run
xform = ConfigForm(PAGE_X, Demo(name="tensors_explore", config_cls=tn.ExplorerConfig,
                                train=lambda cfg: iter(())))

# ---------------------------------------------------------------------------- broadcasting
st.header("Broadcasting")
st.markdown("Two shapes are lined up **from the right**. In each dimension the sizes must be "
            "equal, or one of them 1 (or missing): that one is stretched to the other's size "
            "by a stride-0 view. Otherwise torch raises an error.")


def _example() -> None:
    pick = st.session_state.get(f"{PAGE_X}.example")
    if pick in EXAMPLES:
        st.session_state[xform.key("a_shape")], st.session_state[xform.key("b_shape")] = \
            EXAMPLES[pick]


st.pills("Examples", list(EXAMPLES), key=f"{PAGE_X}.example", on_change=_example)
c1, c2, c3 = st.columns([2, 2, 3])
COMMON = ["3, 1", "4", "", "3", "1, 4", "2, 3", "4, 3", "2, 1, 3", "4, 1", "5, 1, 4", "3, 2"]


def _shape_box(name: str, label: str) -> str:
    """A shape picked from common ones or typed (a selectbox that accepts new options); its
    key is the form's, so the value is in the URL."""
    key = xform.key(name)
    if key not in st.session_state:
        st.session_state[key] = xform.current(name)
    options = COMMON + ([st.session_state[key]] if st.session_state[key] not in COMMON else [])
    value = st.selectbox(label, options, key=key, accept_new_options=True,
                         format_func=lambda v: v if v.strip() else "() (a 0-d tensor)",
                         help="pick a shape or type one: sizes separated by commas, e.g. 3, 1")
    return value if value is not None else ""


with c1:
    a_text = _shape_box("a_shape", "Shape of a")
with c2:
    b_text = _shape_box("b_shape", "Shape of b")
with c3:
    op = xform.widget("op", kind="segmented")


def _shape(text: str, which: str) -> tuple[int, ...] | None:
    try:
        return tn.parse_shape(text)
    except ValueError as e:
        st.error(plain(f"Shape of {which}: {e}."), icon=":material/error:")
        return None


def _grid_trace(t, mask: np.ndarray | None, fig: go.Figure, col: int, name: str) -> None:
    """One 2-D panel: values as text, originals dark and stride-0 copies light."""
    v = t.detach().numpy()
    while v.ndim > 2:
        v = v[0]
        mask = mask[0] if mask is not None else None
    v2 = v.reshape(1, -1) if v.ndim == 1 else (v.reshape(1, 1) if v.ndim == 0 else v)
    m2 = (np.ones_like(v2, bool) if mask is None else mask.reshape(v2.shape))
    fig.add_heatmap(z=np.where(m2, 1.0, 0.35), zmin=0, zmax=1, showscale=False,
                    colorscale=[[0, "#f7f7f7"], [1, PALETTE[0] if col != 3 else PALETTE[2]]],
                    text=np.vectorize(lambda x: f"{x:g}")(v2), texttemplate="%{text}",
                    xgap=2, ygap=2, hovertemplate=f"{name}[%{{y}}, %{{x}}] = %{{text}}"
                    "<extra></extra>", row=1, col=col)


def broadcast_figure(r: tn.Broadcast) -> go.Figure:
    shape = tuple(r.result.shape)
    titles = [f"a.expand{shape}<br>stride {r.a_view.stride()}",
              f"b.broadcast_to{shape}<br>stride {r.b_view.stride()}", f"a {r.op} b"]
    fig = make_subplots(rows=1, cols=3, subplot_titles=titles, horizontal_spacing=0.05)
    _grid_trace(r.a_view, tn.copies_mask(r.a_shape, shape), fig, 1, "a")
    _grid_trace(r.b_view, tn.copies_mask(r.b_shape, shape), fig, 2, "b")
    _grid_trace(r.result.float(), None, fig, 3, "out")
    fig.update_yaxes(autorange="reversed", showticklabels=False)
    fig.update_xaxes(showticklabels=False)
    fig.update_layout(height=150 + 28 * min(shape[-2] if len(shape) > 1 else 1, 12),
                      margin={**MARGIN, "t": 60})
    return fig


sa, sb = _shape(a_text, "a"), _shape(b_text, "b")
if sa is not None and sb is not None:
    r = tn.broadcast(sa, sb, op)
    rows = pd.DataFrame([{"dim": x["dim"], "a": "–" if x["a"] is None else x["a"],
                          "b": "–" if x["b"] is None else x["b"],
                          "result": "✗" if x["result"] is None else x["result"], "rule": x["rule"]}
                         for x in r.rows])
    left, right = st.columns([2, 3])
    with left:
        st.markdown(f"`a = torch.arange({int(np.prod(sa))}).reshape{sa}`, "
                    f"`b = 10 * torch.arange({int(np.prod(sb))}).reshape{sb}`")
        if rows.empty:
            st.caption("Both are 0-d tensors (scalars): nothing to align.")
        else:
            st.table(rows.astype(str), hide_index=True)
    with right:
        if r.error:
            st.error(f"`a {op} b` fails. torch says:", icon=":material/error:")
            st.code(r.error, language=None)
        else:
            st.markdown(f"`(a {op} b).shape = {tuple(r.result.shape)}`. Dark cells are the "
                        "elements each tensor really stores; light cells are the same elements "
                        "read again through a stride-0 dimension (no copy is made)."
                        + (" Tensors with more than 2 dimensions show their first 2-D slice."
                           if r.result.dim() > 2 else ""))
            if deferred:
                st.caption(":material/hourglass_top: Drawing…")
            else:
                show_chart(broadcast_figure(r), key=f"{PAGE_X}.bcast")

# ------------------------------------------------------------------------ views and strides
st.header("Views and strides")
st.markdown("`x = torch.arange(rows·cols).reshape(rows, cols)`. Each operation below returns a "
            "tensor; those marked *shares storage* are views of the same memory (writing "
            "through one changes the other), the others copied. `x.t().view(-1)` fails: no "
            "single stride walks a transposed tensor in order, so `reshape` copies instead.")
v1, v2, v3, v4 = st.columns([1, 1, 2, 1])
with v1:
    n_rows = xform.widget("rows")
with v2:
    n_cols = xform.widget("cols")
x, infos = tn.view_table(n_rows, n_cols)
codes = {i.key: i.code for i in infos}
with v3:
    view_key = xform.widget("view", kind="selectbox", format_func=codes.get)
with v4:
    element = xform.widget("element", kind="number", label="Element (flat index)")
xcfg = xform.config()
table = pd.DataFrame([{"code": i.code, "shape": str(i.shape) if not i.error else "error",
                       "stride()": str(i.stride) if not i.error else "",
                       "storage_offset()": i.offset if not i.error else None,
                       "contiguous": i.contiguous if not i.error else None,
                       "shares storage with x": i.shares if not i.error else None,
                       "torch error": i.error} for i in infos])
st.dataframe(table, hide_index=True, key=f"{PAGE_X}.views", height=35 * (len(table) + 1) + 3,
             column_config={"torch error": st.column_config.TextColumn(width="large")})
chosen = next(i for i in infos if i.key == view_key)


def trace_figure(t, index: tuple[int, ...], offset: int, storage: np.ndarray) -> go.Figure:
    fig = make_subplots(rows=2, cols=1, row_heights=[0.25, 0.75], vertical_spacing=0.18,
                        subplot_titles=[f"storage ({len(storage)} elements); offset {offset} "
                                        "highlighted", f"{chosen.code}: shape {tuple(t.shape)}"])
    hot = np.zeros(len(storage))
    hot[offset] = 1
    fig.add_heatmap(z=hot[None], text=storage[None].astype(str), texttemplate="%{text}",
                    colorscale=[[0, "#f7f7f7"], [1, PALETTE[3]]], showscale=False, xgap=2,
                    hovertemplate="storage[%{x}] = %{text}<extra></extra>", row=1, col=1)
    v = t.numpy()
    v2 = v.reshape(-1, v.shape[-1]) if v.ndim > 1 else v.reshape(1, -1)
    flat = np.zeros(v2.size)
    flat[int(np.ravel_multi_index(index, t.shape)) if t.dim() else 0] = 1
    fig.add_heatmap(z=flat.reshape(v2.shape), text=v2.astype(str), texttemplate="%{text}",
                    colorscale=[[0, "#f7f7f7"], [1, PALETTE[3]]], showscale=False, xgap=2,
                    ygap=2, hovertemplate="%{text}<extra></extra>", row=2, col=1)
    fig.update_yaxes(autorange="reversed", showticklabels=False)
    fig.update_xaxes(showticklabels=False)
    fig.update_layout(height=170 + 34 * v2.shape[0], margin={**MARGIN, "t": 50})
    return fig


if chosen.error:
    st.warning(f"`{chosen.code}` has no elements to trace: torch raised an error.")
    st.code(chosen.error, language=None)
else:
    t = chosen.tensor
    numel = max(t.numel(), 1)
    flat = min(int(element), numel - 1)
    if flat != element:
        st.caption(f"`{chosen.code}` has {numel} elements: tracing the last one, {flat}.")
    index = tuple(int(i) for i in np.unravel_index(flat, t.shape)) if t.dim() else ()
    tr = tn.trace_element(t, index)
    st.markdown(f"`{chosen.code}{list(index)}` is storage element **{tr['formula']}** "
                f"(storage offset + index · stride), which holds **{tr['value']}**; "
                f"`{chosen.code}{list(index)}` reads {tr['direct']}. "
                + ("It is the same memory as `x`." if chosen.shares else
                   "This tensor has its own storage (a copy)."))
    if deferred:
        st.caption(":material/hourglass_top: Drawing…")
    else:
        show_chart(trace_figure(t, index, tr["offset"], tn.storage_of(t).numpy()),
                   key=f"{PAGE_X}.trace")

# ------------------------------------------------------------------ the broadcasting bug
st.header("The silent broadcasting bug")
st.markdown("The same 1-feature linear regression `y = w·x + b + noise` is trained twice from "
            "the same initial weights with `F.mse_loss(model(x), target)`. Only the target's "
            "shape differs: **(N, 1)** in the left run, **(N,)** in the right one. The model's "
            "output has shape (N, 1), so in the second run `output - target` silently "
            "broadcasts to an **(N, N)** matrix: the loss averages every prediction against "
            "*every* target, and its minimum is a flat line at the mean of y "
            "(PyTorch issue 16045 and its many successors). Torch only warns.")
form = ConfigForm(PAGE, get_demo("broadcast_bug"))
b1, b2, b3 = st.columns(3)
with b1:
    form.widgets(["true_w", "true_b"])
with b2:
    form.widgets(["noise", "n_points"])
with b3:
    form.widgets(["lr", "steps"], steps=select_slider(50, 100, 200, 300, 500, 1000, 2000))
form.run_options()
cfg = form.config()


def fit_figure(x: np.ndarray, y: np.ndarray, m: dict | None, c: tn.BroadcastBugConfig) -> go.Figure:
    fig = go.Figure()
    fig.add_scatter(x=x, y=y, mode="markers", name="data", marker={"color": "#888", "size": 6})
    xs = np.array([-2.0, 2.0])
    fig.add_scatter(x=xs, y=c.true_w * xs + c.true_b, mode="lines", name="true line",
                    line={"color": "black", "dash": "dot"})
    if m is not None:
        fig.add_scatter(x=xs, y=m["w_right"] * xs + m["b_right"], mode="lines",
                        name="targets (N, 1)", line={"color": PALETTE[2], "width": 3})
        fig.add_scatter(x=xs, y=m["w_wrong"] * xs + m["b_wrong"], mode="lines",
                        name="targets (N,)", line={"color": PALETTE[3], "width": 3})
    fig.update_layout(title="Data and the two fitted lines" if m else "Data (press Train)",
                      height=360, margin=MARGIN, xaxis_title="x", yaxis_title="y",
                      legend={"orientation": "h", "y": -0.2})
    return fig


def render_bug(view: RunView) -> None:
    c = view.config
    if view.latest is None:
        x, y = tn.regression_data(c)
        show_chart(fit_figure(x[:, 0].numpy(), y.numpy(), None, c), key=f"{PAGE}.preview")
        return
    art, m = view.latest.artifacts, view.latest.metrics
    metric_row({"w, targets (N, 1)": m["w_right"], "w, targets (N,)": m["w_wrong"],
                "true w": c.true_w, "b, targets (N, 1)": m["b_right"],
                "b, targets (N,)": m["b_wrong"]})
    left, right = st.columns(2)
    show_chart(fit_figure(art["x"], art["y"], m, c), key=f"{PAGE}.fit", where=left)
    h = view.history.assign(true_w=c.true_w)
    show_chart(line_chart(h, ["w_right", "w_wrong", "true_w"], "Learned weight w", y_title="w",
                          names={"w_right": "targets (N, 1)", "w_wrong": "targets (N,)",
                                 "true_w": "true w"},
                          colors={"w_right": PALETTE[2], "w_wrong": PALETTE[3],
                                  "true_w": "#000000"}, height=360), key=f"{PAGE}.w", where=right)
    n = art["diff_matrix"].shape[0]
    left, right = st.columns([3, 1])
    z = art["diff_matrix"]
    lim = float(np.abs(z).max()) or 1.0
    show_chart(heatmap(z, f"(N,) run: prediction − target, an ({n}, {n}) matrix (first {n} "
                       "points)", colorscale="RdBu", zmin=-lim, zmax=lim, height=380,
                       x_title="target j", y_title="prediction i"), key=f"{PAGE}.diff", where=left)
    show_chart(heatmap(art["diff_right"], f"(N, 1) run: ({n}, 1)", colorscale="RdBu", zmin=-lim,
                       zmax=lim, height=380, show_scale=False), key=f"{PAGE}.diffr", where=right)
    st.caption("Only the diagonal of the left matrix pairs a prediction with its own target; "
               "the loss averages all N² cells, so it is minimised by predicting the mean of y "
               "everywhere. Torch's warning, easy to miss in a notebook: " + plain(art["warning"]))


run_panel(PAGE, get_demo("broadcast_bug"), cfg, render_bug,
          compare=("mse_wrong", "loss_right", "w_wrong", "w_right"))

# ------------------------------------------------------------------------------ matmul
st.header("Matrix-multiply throughput")
st.markdown("`A @ B` for two n × n matrices costs 2n³ floating-point operations. Small matrices "
            "are dominated by overhead; large ones approach what the hardware can do. Measured "
            "live on this server (which other visitors may be using at the same time: a busy "
            "server gives this run fewer cores).")
mform = ConfigForm(PAGE_MM, get_demo("matmul"), url_prefix="mm.")
m1, m2, m3, m4 = st.columns(4)
with m1:
    mform.widget("max_size", kind="select_slider")
with m2:
    mform.widget("dtype", kind="selectbox")
with m3:
    mform.widget("seconds")
with m4:
    mform.widget("device", kind="selectbox")
mcfg = mform.config()


def render_matmul(view: RunView) -> None:
    if view.latest is None:
        info = tn.machine()
        st.caption(f"This server: {plain(info['cpu'] or 'unknown CPU')}, {info['cores']} cores "
                   f"({info['usable_cores']} usable); GPU: {plain(info['gpu'] or 'none')}. Press "
                   "**Measure**.")
        return
    info = view.latest.artifacts["machine"]
    metrics = [m for m in ("gflops_cpu", "gflops_cuda") if m in view.history.columns]
    show_chart(line_chart(view.history, metrics, "Throughput", x="n", y_title="GFLOP/s",
                          log_y=True, names={"gflops_cpu": "CPU", "gflops_cuda": "CUDA"}),
               key=f"{PAGE_MM}.chart")
    peak = (f"; its fp32 peak is {info['gpu_peak']:.0f} TFLOP/s by the data sheet "
            f"({1000 * info['gpu_peak']:.0f} GFLOP/s, without tensor cores)"
            if info.get("gpu_peak") else "")
    best = {m: float(view.history[m].max()) for m in metrics}
    st.caption(f"CPU: {plain(info['cpu'] or 'unknown')}, {info['cores']} cores, "
               f"{info['usable_cores']} usable, torch used {info['threads']} threads. GPU: "
               f"{plain(info['gpu'] or 'none on this server')}{peak}. Best measured: "
               + ", ".join(f"{k[7:].upper()} {v:.1f} GFLOP/s" for k, v in best.items())
               + ". A CPU's peak depends on its clock and vector units, which software cannot "
               "read reliably, so none is shown.")


run_panel(PAGE_MM, get_demo("matmul"), mcfg, render_matmul, compare=("gflops_cpu",
                                                                     "gflops_cuda"),
          train_label="Measure")
