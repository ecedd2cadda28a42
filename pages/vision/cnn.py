"""/cnn: a CNN and an MLP of equal size train side by side; shape table, filters, feature maps
(film strip), confusion matrix, per-class P/R/F1, confident mistakes, Grad-CAM, a formula view
of one unit and your own digit, all on the model that is training now."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
import torch

from core.blocks.images import image_grid, to_uint8_image
from core.data.uploads import UploadError, load_upload
from core.registry import get_demo
from core.vision import cnn
from ui.charts import (
    MARGIN,
    data_note,
    heatmap,
    line_chart,
    page_header,
    plain,
    png_bytes,
    show_chart,
)
from ui.form import DATASET
from ui.live import ConfigForm, RunView, run_panel
from ui.uploads import ask_for_upload, image_zip_uploader

PAGE, DEMO = "cnn", get_demo("cnn")
ARCH = ("n_layers", "channels", "kernel_size", "padding", "stride", "pooling", "batch_norm")

page_header(
    "Convolutional networks",
    "A convolutional network slides small learned kernels over the image: every unit of a "
    "feature map computes the same weighted sum over its own window, so a pattern is found "
    "wherever it appears. Next to it trains a plain MLP with about the **same number of "
    "parameters** on the very same mini-batches. On *translated digits* (MNIST digits pasted "
    "at random places on a 40x40 canvas) the difference is large: the MLP has to learn every "
    "digit at every position again.",
    [r"n_{\text{out}} = \frac{n_{\text{in}} + 2p - k}{s} + 1,\qquad "
     r"r_{\text{out}} = r_{\text{in}} + (k-1)\,j_{\text{in}},\quad j_{\text{out}} = s\,j_{\text{in}}",
     r"a_{c,i,j} = f\Big(b_c + \sum_{c'}\sum_{u,v=0}^{k-1} w_{c,c',u,v}\;"
     r"x_{c',\,si+u-p,\,sj+v-p}\Big)"],
    try_this="train with the defaults and watch *test accuracy*: the CNN pulls away from the "
    "equal-size MLP within the first epoch. Then set **Pooling** to *none* and **Stride** to 3, "
    "or **Kernel size** to 9 with 4 **Conv blocks**, and read the shape table before you train. "
    "On *MNIST*, set **Random shifts** to 2: held-out accuracy passes 98% within about 30 s.",
)

form = ConfigForm(PAGE, DEMO)
with st.sidebar:
    form.section("Data", ["dataset"], dataset=DATASET)
    upload_id = ""
    if form.current("dataset") == "upload":
        upload_id, _ = image_zip_uploader(PAGE, size=cnn.UPLOAD_SIZE, channels=3)
        st.caption(f"{cnn.TEST_SHARE:.0%} of each class is held out for testing. A few dozen "
                   "images train in seconds: raise **Epochs** to 20 or more.")
    form.widgets(["n_train", "augment"])
    form.section("Network", ["n_layers", "channels", "kernel_size", "padding", "stride",
                             "pooling", "activation", "batch_norm", "dropout"],
                 pooling={"kind": "segmented"}, activation={"kind": "selectbox"})
    form.section("Training", ["optimizer", "lr", "batch_size", "epochs", "baseline"],
                 optimizer={"kind": "segmented"})
    form.run_options()


@st.cache_data(show_spinner=False, max_entries=8)
def preview(dataset: str) -> tuple[np.ndarray, tuple[int, int, int], str | None]:
    return cnn.data_preview(dataset)


@st.cache_data(show_spinner=False, max_entries=8)
def upload_preview(upload_id: str) -> tuple[np.ndarray, int]:
    """A grid of the first uploaded images and the number of classes."""
    data = load_upload(upload_id)
    return image_grid(data.x[:16], ncol=8, pad=2), len(data.classes)


n_classes = 100 if form.current("dataset") == "cifar100" else 10
if form.current("dataset") == "upload":
    samples, in_shape, note = None, cnn.IN_SHAPES["upload"], None
    if upload_id:
        try:
            samples, n_classes = upload_preview(upload_id)
        except UploadError as e:
            st.error(plain(e))
else:
    samples, in_shape, note = preview(form.current("dataset"))
wanted = SimpleNamespace(**{n: form.current(n) for n in ARCH})
plan = cnn.layer_plan(wanted, in_shape, n_classes)
cfg = form.config(upload=upload_id)


def shape_table(rows: list[cnn.LayerRow]) -> None:
    """The per-layer table, flagged rows coloured, then their messages in plain sentences."""
    df = pd.DataFrame({"layer": [r.layer for r in rows],
                       "output C×H×W": ["×".join(map(str, r.shape)) for r in rows],
                       "(n + 2p − k)/s + 1": [r.formula for r in rows],
                       "parameters": [r.params for r in rows],
                       "receptive field": [f"{r.receptive_field}×{r.receptive_field}"
                                           for r in rows]})
    colour = {"error": "background-color: #f8d0d0", "warning": "background-color: #fde8c0",
              "": ""}
    levels = [r.level for r in rows]
    st.dataframe(df.style.apply(lambda row: [colour[levels[row.name]]] * len(row), axis=1),
                 hide_index=True, key=f"{PAGE}.shape_table")
    st.caption(f"CNN: **{cnn.plan_params(rows):,}** parameters. The receptive field is the "
               "input window one unit of that layer sees.")
    for level, message in cnn.plan_problems(rows):
        (st.error if level == "error" else st.warning)(plain(message))


with st.expander("Shape table: what each layer makes of the image", expanded=True,
                 icon=":material/table_chart:"):
    shape_table(plan)


def probe_image(art: dict, p: int) -> np.ndarray:
    """Test image ``p`` as an (H, W) or (H, W, 3) float array in [0, 1]."""
    a = art["probes"][p].astype(np.float32)
    return a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0)


def curves(view: RunView) -> None:
    h, art = view.history, view.latest.artifacts
    tiles = st.columns(4)
    for tile, key, label in ((tiles[0], "test_acc", "CNN"), (tiles[1], "mlp_test_acc", "MLP")):
        if key in h.columns and h[key].notna().any():
            tile.metric(f"{label} test accuracy", f"{h[key].dropna().iloc[-1]:.1%}",
                        help="on held-out images the network never trains on")
    tiles[2].metric("CNN parameters", f"{art['params']:,}")
    tiles[3].metric("MLP parameters", f"{art['mlp_params']:,}",
                    help=f"one hidden layer of {art['mlp_hidden']} units")
    names = {"loss": "CNN train", "mlp_loss": "MLP train", "test_loss": "CNN test",
             "mlp_test_loss": "MLP test", "test_acc": "CNN test", "mlp_test_acc": "MLP test",
             "train_acc": "CNN train", "mlp_train_acc": "MLP train"}
    left, right = st.columns(2)
    show_chart(line_chart(h, ["loss", "mlp_loss", "test_loss", "mlp_test_loss"], "Loss",
                          x="epoch", y_title="cross-entropy (nats)", names=names), where=left,
               key=f"{PAGE}.loss")
    show_chart(line_chart(h, ["test_acc", "mlp_test_acc", "train_acc", "mlp_train_acc"],
                          "Accuracy", x="epoch", y_title="accuracy", names=names), where=right,
               key=f"{PAGE}.acc")


def probe_picker(art: dict) -> int:
    labels = [art["classes"][int(c)] for c in art["probe_labels"]]
    choice = st.segmented_control("Test image", list(range(len(labels))), default=0,
                                  format_func=lambda i: labels[i], key=f"{PAGE}.probe")
    return int(choice or 0)


def maps_tab(art: dict, p: int) -> None:
    film = art["film"]
    probe = probe_image(art, p)
    c1, c2 = st.columns([1, 3])
    c1.image(png_bytes(to_uint8_image(probe), 4), caption="input")
    c2.image(png_bytes(art["filters"], 8), caption="first-layer filters now (grey = 0, white "
             "positive, black negative)")
    for i, grid in enumerate(art["maps"][p]):
        st.image(png_bytes(grid, 3 if grid.shape[0] < 60 else 2),
                 caption=f"block {i + 1}: feature maps after the activation (first "
                 f"{cnn.MAX_MAPS} channels; bright = strong)")
    st.markdown("**Film strip** (one frame per epoch)")
    layer = st.segmented_control("Layer", ["filters"] + [f"block {i + 1}" for i in
                                                         range(len(art["maps"][p]))],
                                 default="filters", key=f"{PAGE}.film_layer") or "filters"
    frames = [f["filters"] if layer == "filters" else f["maps"][p][int(layer.split()[1]) - 1]
              for f in film]
    cols = st.columns(min(len(frames), 6))
    for j, (f, img) in enumerate(zip(film, frames)):
        cols[j % len(cols)].image(png_bytes(img, 8), caption=f"epoch {f['epoch']}")
    st.caption("Each frame is the same test image's maps (or the filters) after that epoch: "
               "the filters start as noise and turn into stroke and edge detectors.")


def errors_tab(art: dict) -> None:
    if "report" not in art:
        st.caption("The first evaluation comes after the first training steps.")
        return
    rep, classes = art["report"], art["classes"]
    left, right = st.columns([3, 2])
    conf = rep["confusion"]
    names = [str(c) for c in classes]
    fig = heatmap(conf, "Confusion matrix (held-out)", x=names, y=names, colorscale="Blues",
                  x_title="predicted", y_title="true", text=conf if len(names) <= 20 else None,
                  height=420, show_scale=False)
    fig.update_yaxes(autorange="reversed")
    show_chart(fig, key=f"{PAGE}.confusion", where=left)
    right.dataframe(pd.DataFrame({"class": names, "precision": rep["precision"],
                                  "recall": rep["recall"], "F1": rep["f1"],
                                  "support": rep["support"]}).style.format(
        {"precision": "{:.2f}", "recall": "{:.2f}", "F1": "{:.2f}"}),
        hide_index=True, key=f"{PAGE}.prf", height=420)
    st.markdown("**Most confidently wrong** held-out images (top-3 probabilities)")
    wrong = art["wrong"]
    if not wrong:
        st.caption("No held-out image is misclassified.")
    cols = st.columns(4)
    for i, w in enumerate(wrong):
        top = ", ".join(f"{classes[c]} {p:.0%}" for c, p in w["top3"])
        cols[i % 4].image(png_bytes(w["image"], 3), caption=f"true {classes[w['label']]} · {top}")


def gradcam_tab(art: dict, p: int) -> None:
    if "attributions" not in art:
        st.caption("Grad-CAM appears after the first training steps.")
        return
    att = art["attributions"]
    probe = to_uint8_image(probe_image(art, p))
    pred = art["classes"][int(att["pred"][p])]
    cols = st.columns(3)
    cols[0].image(png_bytes(probe, 6), caption="input")
    cols[1].image(png_bytes(cnn.heat_overlay(probe, att["gradcam"][p]), 6),
                  caption=f"Grad-CAM (last conv layer) for '{pred}'")
    cols[2].image(png_bytes(cnn.heat_overlay(probe, att["saliency"][p]), 6),
                  caption=f"saliency |∂ logit / ∂ pixel| for '{pred}'")
    st.caption("Grad-CAM weighs the last conv layer's maps by their average gradient for the "
               "predicted class (Selvaraju et al. 2017); it updates as the model learns.")


def value_map(a: np.ndarray, title: str, pixels: bool = False) -> go.Figure:
    """A k x k grid of numbers: pixels black-to-white from 0, weights blue-white-red around 0."""
    m = float(np.abs(a).max()) or 1.0
    text = np.vectorize(lambda v: f"{v:.2f}")(a) if a.shape[0] <= 7 else None
    fig = heatmap(a, title, colorscale=[[0, "black"], [1, "white"]] if pixels else "RdBu_r",
                  zmin=0 if pixels else -m, zmax=m, height=260, show_scale=False, text=text)
    fig.update_yaxes(autorange="reversed", showticklabels=False)
    fig.update_xaxes(showticklabels=False)
    fig.update_layout(margin={**MARGIN, "t": 30})
    return fig


def formula_tab(view: RunView, art: dict, p: int) -> None:
    model = view.model
    if model is None:
        st.caption("The formula view uses a copy of the model taken every few seconds; it "
                   "appears shortly.")
        return
    x = torch.from_numpy(art["probes"][p].astype(np.float32))
    cols = st.columns(4)
    n = len(model.blocks)
    layer = cols[0].selectbox("Conv layer", range(n), key=f"{PAGE}.f_layer.{n}",
                              format_func=lambda i: f"conv {i + 1}")
    n_ch = model.blocks[layer].conv.out_channels
    ch = cols[1].number_input("Output channel", 0, n_ch - 1, 0, key=f"{PAGE}.f_ch.{layer}.{n_ch}")
    first = cnn.unit_formula(model, x, layer, int(ch), 0, 0)
    (h, w), (r0, c0) = first["out_size"], first["strongest"]
    row = cols[2].number_input("Row", 0, h - 1, r0, key=f"{PAGE}.f_row.{layer}.{h}")
    col = cols[3].number_input("Column", 0, w - 1, c0, key=f"{PAGE}.f_col.{layer}.{w}")
    f = cnn.unit_formula(model, x, layer, int(ch), int(row), int(col))
    c_in = f["window"].shape[0]
    cin = st.slider("Input channel shown", 0, c_in - 1, 0,
                    key=f"{PAGE}.f_cin.{layer}.{c_in}") if c_in > 1 else 0
    a, b, c = st.columns(3)
    show_chart(value_map(f["window"][cin], f"input window (rows {f['in_rows']}…, cols "
                         f"{f['in_cols']}…)", pixels=True), where=a, key=f"{PAGE}.f_window")
    show_chart(value_map(f["kernel"][cin], "kernel w"), where=b, key=f"{PAGE}.f_kernel")
    show_chart(value_map(f["products"][cin], "w ⊙ window"), where=c, key=f"{PAGE}.f_prod")
    s = float(f["products"].sum())
    lines = [rf"z = \sum_{{c'}}\sum_{{u,v}} w \odot x + b = {s:.4f} {f['bias']:+.4f} = "
             rf"{f['z']:.4f}"]
    zz = f["z"]
    if f["bn"] is not None:
        lines.append(rf"\hat z = \gamma\,\frac{{z-\mu}}{{\sqrt{{\sigma^2+\epsilon}}}} + \beta "
                     rf"= {f['bn']:.4f}")
        zz = f["bn"]
    lines.append(rf"a = \mathrm{{{f['activation']}}}({zz:.4f}) = {f['a']:.4f}")
    for line in lines:
        st.latex(line)
    st.caption(f"The sum runs over all {c_in} input channel(s) (one is drawn). PyTorch's own "
               f"forward pass gives {f['check']:.4f} for this unit (model copy of step "
               f"{view.model_step}). Padding cells are zeros. The strongest unit of this channel is at "
               f"row {r0}, column {c0}.")


def your_image(model, classes: list[str], x) -> None:
    probs = cnn.predict(model, x)
    top = np.argsort(-probs)[:5]
    left, right = st.columns([1, 2])
    left.image(png_bytes(to_uint8_image(x[0]), 5), caption="as the network sees it")
    fig = go.Figure(go.Bar(x=[classes[i] for i in top], y=probs[top]))
    fig.update_layout(title="Top-5 probabilities", height=260, margin=MARGIN,
                      yaxis={"range": [0, 1]})
    show_chart(fig, key=f"{PAGE}.own_probs", where=right)
    for i, grid in enumerate(cnn.feature_map_grids(model, x)[0]):
        st.image(png_bytes(grid, 3 if grid.shape[0] < 60 else 2), caption=f"block {i + 1} feature maps")


def canvas_png() -> bytes | None:
    """PNG bytes of the drawing pad (streamlit-drawable-canvas) once something is drawn;
    ``None`` before that, or when the component does not work in this server."""
    try:
        from streamlit_drawable_canvas import st_canvas

        res = st_canvas(stroke_width=18, stroke_color="#000000", background_color="#ffffff",
                        height=200, width=200, drawing_mode="freedraw", return_image_data=True,
                        key=f"{PAGE}.canvas")
        if res is None or not (res.json_data or {}).get("objects"):
            return None
        return res.image_bytes
    except Exception:  # the component is not usable in this Streamlit version / server
        st.caption("The drawing pad is not available on this server; upload a picture "
                   "instead.")
        return None


def own_digit_tab(view: RunView, art: dict) -> None:
    """Upload (or draw) a digit: the newest model copy's probabilities and feature maps, which
    change as the model keeps learning."""
    if view.model is None:
        st.caption("The model copy used here is taken every few seconds; it appears shortly.")
        return
    shape = tuple(art["probes"].shape[1:])
    up = st.file_uploader("A PNG or JPEG of one digit (dark on light or light on dark)",
                          type=["png", "jpg", "jpeg"], key=f"{PAGE}.upload")
    if shape[0] == 1:
        st.caption("…or draw one:")
    drawn, x = canvas_png() if shape[0] == 1 else None, None
    try:
        if up is not None:
            if up.size > cnn.MAX_UPLOAD_BYTES:  # before reading it
                raise ValueError(f"The file has {up.size / 1e6:.1f} MB; upload an image "
                                 f"of at most {cnn.MAX_UPLOAD_BYTES // 1_000_000} MB.")
            x = cnn.read_upload(up.getvalue(), shape)
        elif drawn is not None:
            x = cnn.read_upload(drawn, shape)
    except ValueError as e:
        st.error(plain(e))
    if x is not None:
        your_image(view.model, art["classes"], x)


def render(view: RunView) -> None:
    if view.latest is None:
        if samples is None:
            ask_for_upload(cnn.UPLOAD_SIZE)
        else:
            st.image(png_bytes(samples, 2), caption="Held-out images the network will be tested on "
                     "(press Train)" if form.current("dataset") != "upload" else
                     "Your images, as the network will see them (press Train)")
        return
    art = view.latest.artifacts
    data_note(art.get("note"))
    curves(view)
    if "maps" not in art:
        return
    p = probe_picker(art)
    tabs = st.tabs(["Filters & feature maps", "Mistakes & P/R/F1", "Grad-CAM",
                    "Formula view", "Your digit"])
    with tabs[0]:
        maps_tab(art, p)
    with tabs[1]:
        errors_tab(art)
    with tabs[2]:
        gradcam_tab(art, p)
    with tabs[3]:
        formula_tab(view, art, p)
    with tabs[4]:
        own_digit_tab(view, art)


data_note(note)
run_panel(PAGE, DEMO, cfg, render, compare=("test_acc", "mlp_test_acc", "loss"),
          defer_first_paint=False)


