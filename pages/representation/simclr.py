"""/simclr: SimCLR learns features without labels; watch a t-SNE of them form, then test them
with a handful of labels."""

import io
import json

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from core.blocks.images import image_grid
from core.blocks.projection import umap_available
from core.protocol import config_to_dict
from core.registry import get_demo
from core.representation import simclr as S
from ui.charts import (
    MARGIN,
    PALETTE,
    class_scatter,
    data_note,
    line_chart,
    page_header,
    png_bytes,
    show_chart,
)
from ui.form import DATASET, select_slider
from ui.live import ConfigForm, RunView, run_panel

PAGE = "simclr"
DEMO = get_demo("simclr")
METHOD_NAMES = {"probe": "(a) linear probe on SimCLR features",
                "scratch": "(b) same CNN trained from scratch",
                "pixels": "(c) logistic regression on raw pixels",
                "finetune": "(d) fine-tuned SimCLR encoder"}
SHORT_NAMES = {"probe": "Linear probe", "scratch": "From scratch", "pixels": "Raw pixels",
               "finetune": "Fine-tuned"}

page_header(
    "SimCLR: learning features without labels",
    "SimCLR never sees a label. It shows the network two random **views** of every image "
    "(cropped, rotated, blurred...) and trains it so that the two views of the same image get "
    "similar vectors and views of different images get dissimilar ones. What counts as "
    "\"the same\" is decided by the augmentations: whatever they change, the features learn to "
    "ignore. Below, a t-SNE map of held-out images (coloured by the labels SimCLR never saw) "
    "shows classes emerging. At the end, a **linear probe** (logistic regression on the frozen "
    "features) with only a few labels per class measures how good the features are: if a "
    "straight line separates the classes in feature space, the network has learned what matters.",
    [r"\ell_{i,j} = -\log \frac{\exp(\operatorname{sim}(z_i, z_j)/\tau)}"
     r"{\sum_{k=1}^{2N} \mathbb{1}_{[k \neq i]} \exp(\operatorname{sim}(z_i, z_k)/\tau)},\qquad "
     r"\operatorname{sim}(u, v) = \frac{u^\top v}{\lVert u\rVert \lVert v\rVert},\qquad "
     r"z = g(f(\tilde x))",
     r"\mathcal{L}_{\text{NT-Xent}} = \frac{1}{2N}\sum_{k=1}^{N} "
     r"\left[\ell_{2k-1,2k} + \ell_{2k,2k-1}\right]"],
    try_this="train once with the defaults, then switch off **Random resized crop** and train "
    "again: the clusters in the t-SNE map blur and the live probe accuracy drops (open "
    "*Compare runs* and pick `live_probe_k10`). Then try **Temperature τ** 1.0 and watch the "
    "positive/negative similarity histograms overlap.",
    note="Chen, Kornblith, Norouzi & Hinton, A Simple Framework for Contrastive Learning of "
    "Visual Representations, ICML 2020. Augmentations: kornia; t-SNE: openTSNE.",
)

form = ConfigForm(PAGE, DEMO)
toggled: dict[str, bool] = {}


def toggle(name: str) -> bool:
    """A switch for a bool field. (Work-around: ConfigForm's keyed toggles whose default is True
    render switched off in a real browser, although AppTest sees them on.)"""
    spec = form.specs[name]
    toggled[name] = st.toggle(spec.label or name, value=bool(form.current(name)),
                              key=f"{PAGE}.switch.{name}", help=spec.help or None)
    return toggled[name]


with st.sidebar:
    st.header("Data")
    ds = form.widget("dataset", **DATASET)
    st.header("Augmentations")
    if toggle("crop"):
        form.widget("crop_scale")
    if toggle("affine"):
        form.widget("rotation")
    toggle("blur")
    if ds == "cifar10":
        if toggle("color_jitter"):
            form.widget("jitter_strength")
        toggle("flip")
    form.section("Model and loss", ["encoder", "channels", "proj_dim", "temperature"], encoder={
        "format_func": {"cnn": "small CNN", "resnet": "ResNet"}.get})
    form.section("Training", ["batch_size", "lr", "epochs", "max_seconds"],
                 epochs=select_slider(1, 2, 5, 10, 20, 30, 50, 100, 200),
                 max_seconds={"kind": "select_slider",
                              "options": [0.0, 30.0, 60.0, 120.0, 300.0, 600.0],
                              "format_func": lambda v: "no limit" if v == 0 else f"{v:.0f} s"})
    form.section("Live view", ["embedding"], embedding={"format_func": {
        "tsne": "t-SNE", "pca": "PCA", "umap": "UMAP", "off": "off"}.get})
    if form.current("embedding") == "umap" and not umap_available():
        st.caption("UMAP is not installed here; the map falls back to t-SNE.")
    form.widget("map_points")
    st.header("Evaluation")
    toggle("evaluate")
    toggle("finetune")
    form.widgets(["eval_steps", "label_draws"],
                 eval_steps=select_slider(50, 100, 200, 300, 500, 1000))
    form.run_options()

cfg = form.config(**toggled)


@st.cache_data(show_spinner=False, max_entries=4)
def held_out(dataset: str) -> tuple[np.ndarray, np.ndarray, list[str], str | None]:
    """Held-out images (N, H, W[, 3]) uint8, labels, class names and the data note."""
    _, test = S.load_data(S.SimCLRConfig(dataset=dataset))
    x = (test.x.clamp(0, 1) * 255 + 0.5).byte().permute(0, 2, 3, 1).numpy()
    return (x[..., 0] if x.shape[-1] == 1 else x), test.y.numpy(), list(test.classes), test.note


@st.cache_data(show_spinner=False, max_entries=8)
def view_grid(cfg_dict: dict, seed: int) -> np.ndarray:
    c = S.SimCLRConfig(**cfg_dict)
    train, _ = S.load_data(c)
    idx = np.random.default_rng(seed).permutation(len(train.x))[:6]
    return S.pairs_grid(S.augment_pairs(c, train.x[idx], seed=seed))


images, labels, classes, note = held_out(cfg.dataset)
data_note(note)

with st.expander("Augmentation viewer: two random views of the same image", expanded=True,
                 icon=":material/auto_awesome_motion:"):
    a, b = st.columns([3, 2])
    with a:
        seed = st.session_state.get(f"{PAGE}.view_seed", 0)
        grid = view_grid(config_to_dict(cfg), seed)
        st.image(png_bytes(grid, 2), caption="Each row: original · view 1 · view 2",
                 width=360)
    with b:
        st.markdown("SimCLR's only supervision is: *view 1 and view 2 of a row are the same "
                    "thing; every other row is something else*. Switch augmentations off in the "
                    "sidebar and the views become identical: the task gets trivial and the "
                    "features stop ignoring position, size and stroke width.")
        if st.button("New views", key=f"{PAGE}.new_views", icon=":material/shuffle:"):
            st.session_state[f"{PAGE}.view_seed"] = seed + 1
            st.rerun()


def similarity_figure(pos: np.ndarray, neg: np.ndarray, step: int) -> go.Figure:
    fig = go.Figure()
    bins = {"start": -1.0, "end": 1.0, "size": 0.04}
    fig.add_histogram(x=neg, name="negative pairs (different images)", xbins=bins,
                      histnorm="probability density", marker_color=PALETTE[3], opacity=0.6)
    fig.add_histogram(x=pos, name="positive pairs (two views of one image)", xbins=bins,
                      histnorm="probability density", marker_color=PALETTE[2], opacity=0.6)
    fig.update_layout(barmode="overlay", height=300, margin=MARGIN,
                      title=f"Cosine similarity of z in the batch (step {step})",
                      xaxis_title="cos(z_i, z_j)", yaxis_title="density",
                      legend={"orientation": "h", "y": -0.3})
    fig.update_xaxes(range=[-1, 1])
    return fig


def map_figure(art: dict, method: str) -> go.Figure:
    axis = {"tsne": "t-SNE", "pca": "PC", "umap": "UMAP"}.get(method, "")
    title = (f"{'t-SNE' if method in ('tsne', 'umap') else 'PCA'} of held-out features h at step "
             f"{art.get('map_step', 0)} (colours: labels SimCLR never saw)")
    return class_scatter(art["map"], art["map_labels"], art["classes"], title, height=480,
                         x_title=f"{axis} 1", y_title=f"{axis} 2", index=art["map_index"],
                         index_label="held-out image", legend_title="hidden label")


def accuracy_figure(ev: dict, k_sel: int) -> go.Figure:
    fig = go.Figure()
    for i, (m, per) in enumerate(ev.items()):
        ks = sorted(per)
        fig.add_scatter(x=ks, y=[per[k] * 100 for k in ks], mode="lines+markers",
                        name=METHOD_NAMES[m], line={"color": PALETTE[i], "width": 3 if
                                                    m == "probe" else 2})
    fig.add_vline(x=k_sel, line_dash="dot", line_color="grey")
    fig.update_layout(title="Held-out accuracy vs labelled images per class", height=380,
                      margin=MARGIN, xaxis_title="labels per class (k)",
                      yaxis_title="test accuracy (%)", legend={"orientation": "h", "y": -0.25})
    fig.update_xaxes(type="log", tickvals=list(S.K_SHOTS))
    return fig


def neighbours_panel(features: np.ndarray) -> None:
    st.subheader("Nearest neighbours in feature space")
    n = len(features)
    a, b = st.columns([1, 3])
    with a:
        q = st.number_input("Held-out image #", 0, n - 1, 0, key=f"{PAGE}.nn_query",
                            help="hover over a point in the map to see its number")
        k = st.slider("Neighbours", 4, 16, 8, key=f"{PAGE}.nn_k")
        st.image(png_bytes(np.asarray(images[q]), 4),
                 caption=f"query: {classes[labels[q]]}", width=112)
    with b:
        idx = S.nearest_neighbours(features.astype(np.float32), int(q), int(k))
        grid = image_grid(images[idx], ncol=8, pad=2)
        st.image(png_bytes(grid, 3), caption="most similar held-out images (cosine of h), best first: " +
                 ", ".join(classes[labels[i]] for i in idx))
        same = float(np.mean(labels[idx] == labels[q]))
        st.caption(f"{same:.0%} of the neighbours share the query's hidden label.")


def model_download(snap) -> None:
    import torch

    buf = io.BytesIO()
    torch.save({k: v for k, v in snap.model.state_dict().items()}, buf)
    c1, c2 = st.columns(2)
    c1.download_button("Download encoder weights (state_dict)", buf.getvalue(),
                       file_name="simclr_encoder.pt", key=f"{PAGE}.dl_model",
                       icon=":material/download:")
    c2.download_button("Download its config (JSON)",
                       json.dumps(snap.artifacts.get("config", {}), indent=1),
                       file_name="simclr_config.json", key=f"{PAGE}.dl_cfg")
    st.caption("The trained encoder and projection head stay in this server's run cache with "
               "their config, so other pages can reuse them. Load the file with "
               "`torch.load(path, weights_only=True)`.")


def metric_tiles(m: dict) -> None:
    cols = st.columns(4)
    cols[0].metric("NT-Xent loss", f"{m['nt_xent']:.3f}",
                   help="log(2N-1) is the loss of random features")
    cols[1].metric("Contrastive accuracy", f"{m['contrast_acc']:.0%}",
                   help="views whose most similar other view is their partner")
    lp = m.get("live_probe_k10", float("nan"))
    cols[2].metric("Live probe, 10 labels/class", "…" if lp != lp else f"{lp:.1%}",
                   help="logistic regression on frozen features of 10 labelled images per "
                   "class, tested on the mapped held-out images")
    cols[3].metric("Epoch", f"{m.get('epoch', 0):.1f}")


def live_charts(view: RunView) -> None:
    snap, art = view.latest, view.latest.artifacts
    left, right = st.columns(2)
    show_chart(line_chart(view.history, ["nt_xent"], "NT-Xent loss", y_title="nats",
                          height=260), key=f"{PAGE}.loss", where=left)
    show_chart(line_chart(view.history, ["live_probe_k10", "contrast_acc"],
                          "Accuracies during pretraining", y_title="fraction", height=260,
                          names={"live_probe_k10": "linear probe (10/class)",
                                 "contrast_acc": "contrastive accuracy"}),
               key=f"{PAGE}.acc", where=left)
    with right:
        if "pos_hist" in art:
            st.plotly_chart(similarity_figure(art["pos_hist"], art["neg_hist"], snap.step),
                            key=f"{PAGE}.sim")
        st.caption("Training pushes the green (positive) mass to 1 and keeps the red "
                   "(negative) mass spread out near 0: the temperature τ sets how hard the "
                   "closest negatives are pushed away.")
    if "map" in art:
        st.plotly_chart(map_figure(art, view.config.embedding), key=f"{PAGE}.map")
    elif view.config.embedding == "off":
        st.caption("The feature map is off (sidebar: Live view).")


def few_label_section(ev: dict, draws: int) -> None:
    st.subheader("Few labels: how good are the features?")
    k_sel = st.select_slider("Labels per class", list(S.K_SHOTS), value=10, key=f"{PAGE}.k_sel")
    tiles = st.columns(len(ev))
    for t, (meth, per) in zip(tiles, ev.items()):
        t.metric(f"{SHORT_NAMES[meth]}, k={k_sel}", f"{per[k_sel]:.1%}")
    st.plotly_chart(accuracy_figure(ev, k_sel), key=f"{PAGE}.fewlabel")
    st.caption(f"Accuracy on {len(labels):,} held-out images; the k labelled images per class "
               f"are drawn from the training images (mean of {draws} draw(s)). The linear probe "
               "only fits a linear classifier on top of frozen features.")


def render(view: RunView) -> None:
    snap = view.latest
    if snap is None:
        st.info("Press **Train** to start SimCLR. The loss, the similarity histograms and the "
                "map of held-out features will update live.", icon=":material/play_arrow:")
        st.image(png_bytes(image_grid(images[:32], ncol=16, pad=1), 2),
                 caption="Held-out images (their labels are used only for colouring and for "
                 "the few-label evaluation)")
        return
    art = snap.artifacts
    if art.get("note") and art.get("note") != note:
        st.caption(art["note"])
    phase = art.get("phase", "")
    if phase.startswith("evaluating"):
        st.info(f"Pretraining finished; now {phase}…", icon=":material/hourglass_top:")
    metric_tiles(snap.metrics)
    live_charts(view)
    if "eval" in art:
        few_label_section(art["eval"], view.config.label_draws)
    if "features" in art:
        neighbours_panel(art["features"])
    if snap.final and snap.model is not None:
        model_download(snap)


run_panel(PAGE, DEMO, cfg, render, compare=("nt_xent", "live_probe_k10", "contrast_acc",
                                             "pos_sim", "neg_sim"),
          defer_first_paint=False)  # its preview is images only
