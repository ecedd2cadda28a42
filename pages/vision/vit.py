"""/vit: a small Vision Transformer against a CNN of the same size, on the same batches; its
attention, rollout and position embeddings, live; an inductive-bias probe."""

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from core.data import load_images
from core.registry import get_demo
from core.vision import vit as V
from ui.charts import MARGIN, PALETTE, data_note, line_chart, page_header, png_bytes, show_chart
from ui.form import DATASET, select_slider
from ui.live import ConfigForm, RunView, run_panel

PAGE, DEMO = "vit", get_demo("vit")

page_header(
    "ViT vs CNN",
    "A Vision Transformer cuts the image into patches, turns each into a vector and lets every "
    "patch attend to every other: no built-in notion of *nearby* or *shifted*. A CNN has both "
    "built in (local kernels, weight sharing, pooling). Here a small ViT and a CNN with about "
    "the same number of parameters train side by side on the same batches: watch who wins with "
    "little data, what the attention looks at, and what the position embeddings learn.",
    [r"z_0 = [x_{\text{cls}};\, x_p^1 E;\, \dots;\, x_p^N E] + E_{\text{pos}},\qquad "
     r"N = \frac{HW}{P^2}",
     r"\operatorname{Attention}(Q, K, V) = \operatorname{softmax}\!\left("
     r"\frac{QK^\top}{\sqrt{d_{\text{head}}}}\right) V,\qquad "
     r"\text{rollout} = \prod_{l} \left(\tfrac12 \bar A_l + \tfrac12 I\right)"],
    try_this="drag **Training data used** down to 0.1 and train: the CNN's lead grows. Then "
    "set **Position embedding** to *none* with **Pooling** *mean*: the ViT's accuracy on "
    "patch-shuffled images equals its clean accuracy (it cannot see the order).",
)

form = ConfigForm(PAGE, DEMO)
with st.sidebar:
    form.section("Data", ["dataset", "data_fraction"], dataset=DATASET)
    form.section("ViT", ["patch_size", "n_layers", "n_heads", "d_model", "pool",
                         "pos_embedding", "tokenizer", "locality", "dropout"],
                 tokenizer={"kind": "selectbox", "format_func": {
                     "patch": "linear patches", "shifted_patch": "shifted patches (SPT)",
                     "conv_stem": "conv stem"}.get})
    form.section("Training (both models)", ["lr", "batch_size", "steps"],
                 steps=select_slider(50, 200, 500, 1000, 1500, 3000, 5000))
    form.run_options()
cfg = form.config()


@st.cache_data(max_entries=16, show_spinner=False)
def model_sizes(c: V.VitConfig, shape: tuple, n_classes: int) -> dict[str, int]:
    vit, conv = V.build_models(c, shape, n_classes)
    return {"vit": V.n_params(vit), "cnn": V.n_params(conv)}


def patch_image(img: np.ndarray, patch: int, scale: int = 8) -> np.ndarray:
    """An image (C, H, W) in [0, 1] upscaled, padded to whole patches, with a red patch grid:
    uint8 (H', W', 3)."""
    c, h, w = img.shape
    ph, pw = -h % patch, -w % patch
    img = np.pad(img, ((0, 0), (0, ph), (0, pw)))
    rgb = np.repeat(img, 3, 0) if c == 1 else img
    big = (rgb.transpose(1, 2, 0).repeat(scale, 0).repeat(scale, 1) * 255).astype(np.uint8)
    step = patch * scale
    big[::step, :] = (220, 40, 40)
    big[:, ::step] = (220, 40, 40)
    return big


def maps_figure(att: np.ndarray, title: str) -> go.Figure:
    """(L, H, g, g) attention maps as a grid: rows = layers, columns = heads."""
    L, H = att.shape[:2]
    fig = make_subplots(rows=L, cols=H, horizontal_spacing=0.02, vertical_spacing=0.03,
                        column_titles=[f"head {h + 1}" for h in range(H)],
                        row_titles=[f"layer {i + 1}" for i in range(L)])
    for i in range(L):
        for h in range(H):
            fig.add_heatmap(z=att[i, h][::-1], colorscale="Viridis", showscale=False,
                            row=i + 1, col=h + 1, hovertemplate="%{z:.3f}<extra></extra>")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(title=title, height=min(110 * L + 60, 700), margin=MARGIN)
    return fig


def overlay(img: np.ndarray, heat: np.ndarray, scale: int = 8) -> np.ndarray:
    """The image (C, H, W) tinted by a patch-level map (g, g) upsampled to its size: uint8."""
    base = patch_image(img, img.shape[1] // heat.shape[0] or 1, scale=scale).astype(np.float32)
    h = heat / max(float(heat.max()), 1e-12)
    up = np.kron(h, np.ones((base.shape[0] // h.shape[0], base.shape[1] // h.shape[1])))
    up = np.pad(up, ((0, base.shape[0] - up.shape[0]), (0, base.shape[1] - up.shape[1])))
    tint = np.stack([up * 255, up * 160, 0 * up], -1)
    return (0.45 * base + 0.55 * tint).clip(0, 255).astype(np.uint8)


def similarity_figure(sim: np.ndarray) -> go.Figure:
    """(g, g, g, g) cosine similarities as a g x g grid of g x g tiles."""
    g = sim.shape[0]
    tiles = np.full((g * (g + 1), g * (g + 1)), np.nan)
    for r in range(g):
        for c in range(g):
            tiles[r * (g + 1):r * (g + 1) + g, c * (g + 1):c * (g + 1) + g] = sim[r, c]
    fig = go.Figure(go.Heatmap(z=tiles[::-1], colorscale="RdBu", zmid=0, zmin=-1, zmax=1,
                               colorbar={"title": "cos"}, hoverongaps=False))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor="x")
    fig.update_layout(title="Position-embedding similarity (tile = one patch vs all)",
                      height=360, margin=MARGIN)
    return fig


def probe_figure(m: dict) -> go.Figure:
    kinds = [("test_acc", "test_acc_cnn", "clean"),
             ("shift_acc_vit", "shift_acc_cnn", f"shifted ≤{V.SHIFT_PX} px"),
             ("shuffle_acc_vit", "shuffle_acc_cnn", "patches shuffled")]
    fig = go.Figure()
    for i, name in enumerate(("ViT", "CNN")):
        fig.add_bar(x=[k[2] for k in kinds], y=[m.get(k[i], np.nan) for k in kinds], name=name,
                    marker_color=PALETTE[i], text=[f"{m.get(k[i], np.nan):.0%}" for k in kinds])
    fig.update_layout(title="Inductive-bias probe: held-out accuracy", barmode="group",
                      height=300, margin=MARGIN, yaxis={"range": [0, 1]},
                      legend={"orientation": "h", "y": -0.2})
    return fig


def preview(c: V.VitConfig) -> None:
    tr, te = load_images(c.dataset, "train"), load_images(c.dataset, "test")
    data_note(tr.note)
    sizes = model_sizes(c, tuple(tr.x.shape[1:]), len(tr.classes))
    left, right = st.columns([1, 2])
    left.image(png_bytes(patch_image(te.x[0].numpy(), c.patch_size), 1), caption=(
        f"Test image 0 cut into {c.patch_size}x{c.patch_size} patches (each becomes one token)"))
    n_train = max(c.batch_size, round(len(tr) * c.data_fraction))
    g = -(-tr.x.shape[-1] // c.patch_size)
    right.dataframe(pd.DataFrame({
        "model": ["ViT", "CNN (matched)"],
        "parameters": [f"{sizes['vit']:,}", f"{sizes['cnn']:,}"],
        "what it sees": [f"{g * g} patch tokens{' + [CLS]' if c.pool == 'cls' else ''}, "
                         f"{c.n_layers} blocks of {c.n_heads} heads",
                         "3x3 convolutions c, 2c, 4c, 4c with pooling"]}),
        hide_index=True)
    right.markdown(f"Both train on the same **{n_train:,}** images, batch for batch, and are "
                   f"tested on {len(te):,} held-out ones. Press **Train**.")


def render(view: RunView) -> None:
    c = view.config
    if view.latest is None:
        preview(c)
        return
    art, m = view.latest.artifacts, view.latest.metrics
    data_note(art.get("note"))
    cols = st.columns(4)
    if "test_acc" in m:
        cols[0].metric("ViT test accuracy", f"{m['test_acc']:.1%}")
        cols[1].metric("CNN test accuracy", f"{m['test_acc_cnn']:.1%}")
    cols[2].metric("Parameters ViT / CNN", f"{art['params']['vit'] / 1e3:.0f}k / "
                   f"{art['params']['cnn'] / 1e3:.0f}k")
    cols[3].metric("Train seconds ViT / CNN", f"{m['time_vit']:.0f} / {m['time_cnn']:.0f}")
    left, right = st.columns(2)
    show_chart(line_chart(view.history, ["test_acc", "test_acc_cnn"], "Held-out accuracy",
                          y_title="accuracy", names={"test_acc": "ViT", "test_acc_cnn": "CNN"}),
               key=f"{PAGE}.acc", where=left)
    show_chart(line_chart(view.history, ["loss_vit", "loss_cnn"], "Training loss",
                          y_title="cross-entropy", log_y=True,
                          names={"loss_vit": "ViT", "loss_cnn": "CNN"}),
               key=f"{PAGE}.loss", where=right)
    if "shift_acc_vit" in m:
        show_chart(probe_figure(m), key=f"{PAGE}.probe", where=left)
    with right:
        a, b = st.columns(2)
        a.image(png_bytes(patch_image(art["image"], c.patch_size, 6), 1), caption="test image 0, in patches")
        b.image(png_bytes(overlay(art["image"], art["rollout"], 6), 1), caption=(
            "attention rollout from [CLS]" if c.pool == "cls" else
            "attention rollout (mean over tokens)"))
    who = "[CLS]" if c.pool == "cls" else "the patches (mean over queries)"
    show_chart(maps_figure(art["attention"], f"Attention from {who} to each patch, test image 0"),
               key=f"{PAGE}.attention")
    left, right = st.columns(2)
    if art.get("pos_similarity") is not None:
        show_chart(similarity_figure(art["pos_similarity"]), key=f"{PAGE}.pos", where=left)
    else:
        left.info("No position embedding: the ViT sees a *set* of patches, not an arrangement.")
    if art.get("filters") is not None:
        with right:
            f = art["filters"]
            tiles = [np.kron(x, np.ones((8, 8))) for x in f]
            st.image([png_bytes(t, 1) for t in tiles], width=56,
                     caption=[f"PC {i + 1}" for i in range(len(tiles))])
            st.caption("Principal components of the patch-embedding filters (ViT paper, "
                       "Fig. 7 left): what a patch is projected onto.")
    st.caption("With a learned embedding each patch grows most similar to its neighbours "
               "and to its row and column: the ViT *learns* the 2-D layout a CNN has built in. "
               "The probe shows the price: a CNN is nearly unaffected by small shifts; shuffled "
               "patches hurt both, unless the ViT has no position embedding.")


run_panel(PAGE, DEMO, cfg, render, compare=("test_acc", "test_acc_cnn", "loss_vit", "loss_cnn"),
          defer_first_paint=False)
