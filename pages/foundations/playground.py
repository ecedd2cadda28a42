"""/playground: an MLP learns 2-D data; the boundary, every neuron and the loss update live."""

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from core.foundations import playground as pg
from core.protocol import config_to_dict
from core.registry import get_demo
from ui.charts import MARGIN, PALETTE, line_chart, page_header, png_bytes, show_chart
from ui.form import select_slider
from ui.live import ConfigForm, RunView, run_panel

PAGE = "playground"
BLUE_ORANGE = [[0.0, PALETTE[0]], [0.5, "#f7f7f7"], [1.0, PALETTE[1]]]
DEMO = get_demo("playground")

page_header(
    "MLP playground",
    "A small multilayer perceptron learns to separate 2-D points. The background shows what the "
    "network predicts everywhere in the plane; the small squares show what each hidden neuron "
    "responds to. Features are the inputs the network sees: with x₁² and x₂² a circle becomes "
    "a straight line for the first layer.",
    r"h^{(l)} = \sigma\!\left(W^{(l)} h^{(l-1)} + b^{(l)}\right),\qquad "
    r"\mathcal{L} = -\frac{1}{B}\sum_{i=1}^{B} \log \operatorname{softmax}(W^{(L)} h_i^{(L-1)})_{y_i}"
    r" + \lambda\,\Omega(W)",
    try_this="pick **spiral**, keep only x₁ and x₂, and train with hidden **4,2**; then set "
    "hidden to **8,8,8** (or add sin x₁, sin x₂) and compare the test-loss curves in "
    "*Compare runs*.",
)

form = ConfigForm(PAGE, DEMO)
with st.sidebar:
    st.header("Data")
    ds = form.widget("dataset", kind="selectbox")
    if ds in ("gaussians", "spiral"):
        form.widget("n_classes", label="Classes")
    csv_text = form.current("csv")
    if ds == "custom":
        up = st.file_uploader("Your points: CSV of x1,x2,label (label 0-5)", type=["csv", "txt"],
                              key=f"{PAGE}.upload")
        if up is not None and up.size > pg.MAX_CSV_BYTES:  # checked before reading it
            csv_text = ""
            st.error(f"That file has {up.size / 1e6:.1f} MB; upload a CSV of at most "
                     f"{pg.MAX_CSV_BYTES // 1_000_000} MB (a few thousand x1,x2,label rows).")
        elif up is not None:
            try:
                csv_text = up.getvalue().decode("utf-8", errors="strict")
            except UnicodeDecodeError:
                csv_text = ""
                st.error("That file is not UTF-8 text; upload a CSV of x1,x2,label rows.")
        st.download_button("Example CSV", data="x1,x2,label\n-3,-3,0\n-2,-4,0\n3,3,1\n4,2,1\n"
                           "-3,3,2\n-4,4,2\n", file_name="points.csv", key=f"{PAGE}.example")
    else:
        form.widget("n_points")
    form.widgets(["noise", "train_ratio"])
    st.header("Features")
    chosen = st.pills("Inputs", [pg.FEATURE_LABELS[f] for f in pg.FEATURES],
                      selection_mode="multi", key=f"{PAGE}.features_pills",
                      default=[pg.FEATURE_LABELS[f] for f in pg.FEATURES if form.current(f)])
    feats = {f: pg.FEATURE_LABELS[f] in (chosen or []) for f in pg.FEATURES}
    st.header("Network")
    try:
        cur = pg.parse_hidden(form.current("hidden"))
    except ValueError:  # an invalid link value: its notice is shown above
        cur = pg.parse_hidden(pg.PlaygroundConfig().hidden)
    n_layers = st.slider("Hidden layers", 1, 6, len(cur), key=f"{PAGE}.n_layers")
    cols = st.columns(3)
    sizes = []
    for i in range(n_layers):
        default = cur[i] if i < len(cur) else 4
        sizes.append(cols[i % 3].number_input(f"Layer {i + 1}", 1, 8, default,
                                              key=f"{PAGE}.layer{i}"))
    form.widgets(["activation", "dropout", "batch_norm"], activation={"kind": "selectbox"})
    form.section("Training", ["optimizer", "lr", "batch_size", "regularization", "reg_rate",
                              "steps"],
                 steps=select_slider(100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000))
    form.run_options()

problem = None
if not any(feats.values()):
    problem = "Select at least one input feature."
if ds == "custom":
    try:
        pg.parse_points_csv(csv_text)
    except ValueError as e:
        problem = f"Your CSV can't be used: {e}."
if problem:
    st.error(problem, icon=":material/error:")
    cfg = form.config()  # fall back to valid values; the URL keeps the last valid settings
else:
    cfg = form.config(hidden=",".join(str(s) for s in sizes), csv=csv_text, **feats)


def boundary_figure(out: np.ndarray | None, conf: np.ndarray | None, data, k: int,
                    regression: bool, title: str) -> go.Figure:
    Xtr, ytr, Xte, yte = data
    xs = np.linspace(-pg.EXTENT, pg.EXTENT, pg.GRID)
    fig = go.Figure()
    if out is not None:
        if regression or k == 2:
            # class 0 is blue and class 1 orange, in the points and in the background alike
            fig.add_heatmap(z=out, x=xs, y=xs[::-1], colorscale=BLUE_ORANGE,
                            zmin=None if regression else 0, zmax=None if regression else 1,
                            opacity=0.8, showscale=True,
                            colorbar={"title": "output" if regression else "P(class 1)",
                                      "len": 0.8})
        else:
            scale = [[i / (k - 1), PALETTE[i]] for i in range(k)]
            fig.add_heatmap(z=out, x=xs, y=xs[::-1], colorscale=scale, zmin=0, zmax=k - 1,
                            opacity=0.45, showscale=False)
    for X, y, name, sym in ((Xtr, ytr, "train", "circle"), (Xte, yte, "test", "circle-open")):
        if regression:
            fig.add_scatter(x=X[:, 0], y=X[:, 1], mode="markers", name=name,
                            marker={"color": y, "colorscale": BLUE_ORANGE, "symbol": sym, "size": 7,
                                    "line": {"width": 1, "color": "black"}})
        else:
            colors = [PALETTE[int(c) % len(PALETTE)] for c in y]
            fig.add_scatter(x=X[:, 0], y=X[:, 1], mode="markers", name=name,
                            marker={"color": colors, "symbol": sym, "size": 7,
                                    "line": {"width": 1, "color": "white" if sym == "circle"
                                             else None}})
    fig.update_layout(title=title, height=460, margin=MARGIN, xaxis_title="x₁",
                      yaxis_title="x₂", legend={"orientation": "h", "y": -0.12})
    fig.update_xaxes(range=[-pg.EXTENT, pg.EXTENT])
    fig.update_yaxes(range=[-pg.EXTENT, pg.EXTENT], scaleanchor="x")
    return fig


def render(view: RunView) -> None:
    c = view.config
    data = view.latest.artifacts["data"] if view.latest else pg.make_data(c)
    k = pg.n_outputs(c, data[1])
    left, right = st.columns([3, 2])
    with left:
        art = view.latest.artifacts if view.latest else {}
        title = "Data (press Train)" if not view.latest else (
            f"Output after step {view.latest.step}")
        show_chart(boundary_figure(art.get("output"), art.get("confidence"), data, k,
                                   c.regression, title), key=f"{PAGE}.boundary")
    with right:
        if view.latest is not None:
            m = view.latest.metrics
            a, b = st.columns(2)
            a.metric("Test loss", f"{m['test_loss']:.3f}")
            if "test_acc" in m:
                b.metric("Test accuracy", f"{m['test_acc']:.1%}")
            else:
                b.metric("Train loss", f"{m['train_loss']:.3f}")
            show_chart(line_chart(view.history, ["train_loss", "test_loss"], "Loss",
                                  y_title="loss", height=260), key=f"{PAGE}.loss")
            grid = pg.neuron_image(art["neurons"], c.layers)
            st.image(png_bytes(grid, 1),
                     caption="What each hidden neuron responds to over the same plane: one "
                     "column per layer, blue negative, white zero, "
                     "orange positive, each square on its own scale.", output_format="PNG",
                     width=grid.shape[1])  # its own pixels: crisp, not stretched to the column
        else:
            st.markdown(f"**{len(data[0])}** training and **{len(data[2])}** test points, "
                        f"{'regression' if c.regression else f'{k} classes'}. "
                        "Filled markers are training points, open ones test points.")


run_panel(PAGE, DEMO, cfg, render, compare=("test_loss", "train_loss", "test_acc"),
          code=False)  # the playground's own standalone script is below

with st.expander("Show code: this run as plain PyTorch", icon=":material/code:"):
    code = pg.to_python(cfg)
    st.download_button("Download playground_run.py", code, file_name="playground_run.py",
                       key=f"{PAGE}.dl_code")
    st.code(code, language="python")
    st.caption("Running this file reproduces the run: same data, same initial weights, same "
               "mini-batches. Settings: " + ", ".join(f"{k}={v}" for k, v in
                                                     config_to_dict(cfg).items() if k != "csv"))
