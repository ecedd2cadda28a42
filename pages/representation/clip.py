"""/clip: a tiny CLIP trains live on coloured-shape scenes or on strips of real MNIST digits;
zero-shot accuracy on seen and unseen compositions, the similarity matrix, a 2-D map of the
shared space, and typed prompts."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch

from core.blocks.images import image_grid
from core.data.captions import COLORS
from core.data.digit_strips import spoken_strips
from core.data.scenes import COMBOS, composition_name, object_scenes
from core.registry import get_demo
from core.representation import clip
from ui.charts import (
    MARGIN,
    heatmap,
    line_chart,
    metric_row,
    page_header,
    plain,
    png_bytes,
    show_chart,
)
from ui.live import ConfigForm, RunView, run_panel

PAGE = "clip"
DEMO = get_demo("clip")
SYMBOLS = {"circle": "circle", "square": "square", "triangle": "triangle-up", "cross": "cross"}
DIGIT_COLORS = ["#ffffff", "#ffd92f", "#66c2a5", "#fc8d62", "#8da0cb", "#e78ac3", "#a6d854",
                "#e5c494", "#b3e2ff", "#ff9999"]
UNSEEN = ", ".join(composition_name(c) for c in clip.HELD_OUT)

page_header(
    "CLIP: images and words in one space",
    "Two encoders learn together from (image, caption) pairs: a small CNN reads the image, "
    "a small Transformer reads its caption, and each ends in a projection to a shared space "
    "where both are unit vectors. In every batch the loss asks each image to be most similar "
    "to *its own* caption among all the batch's captions, and each caption to its own image "
    "(Radford et al., 2021). Afterwards the model classifies images it was never trained to "
    "classify: write one description per class and pick the most similar (**zero-shot**). "
    f"**Data**: 32x32 scenes of one coloured shape, four compositions of which never appear in "
    f"training ({UNSEEN}); or strips of one to three real MNIST digits captioned in words "
    "(*three zero seven*), 100 three-digit sequences of which never appear in training. "
    "The learning rate warms up for 30 steps, then decays with a cosine (as in the paper).",
    [r"z^I_i = \frac{W_I f(x_i)}{\lVert W_I f(x_i)\rVert},\quad z^T_j = \frac{W_T g(t_j)}"
     r"{\lVert W_T g(t_j)\rVert},\quad \ell_{ij} = \frac{z^I_i \cdot z^T_j}{\tau}",
     r"\mathcal{L} = \frac{1}{2B}\sum_{i=1}^{B}\Big[-\log\frac{e^{\ell_{ii}}}{\sum_j e^{\ell_{ij}}}"
     r" - \log\frac{e^{\ell_{ii}}}{\sum_j e^{\ell_{ji}}}\Big]"],
    try_this="train with the defaults and watch **zero-shot, seen** pass 95% (around step "
    "140 of 200) while the unseen compositions lag; then set **Targets** to *soft* and watch "
    "the **collapse meter** (mean cosine between image embeddings), or drop **Batch size** to "
    "8. Switch **Data** to *digits*: the prompts *zero, one, ... nine* classify MNIST digits "
    "that no label ever named.",
)

form = ConfigForm(PAGE, DEMO)
with st.sidebar:
    st.header("Data")
    form.widget("data", kind="segmented")
    st.header("Loss")
    form.widget("loss", kind="segmented")
    form.widget("batch_size", kind="select_slider")
    form.widget("temperature")
    form.widget("learn_temperature")
    st.header("Encoders")
    form.widget("proj_dim", kind="select_slider")
    form.widget("width", kind="select_slider")
    form.widget("d_model", kind="select_slider")
    form.widget("n_layers")
    form.widget("n_heads", kind="select_slider")
    st.header("Training")
    form.widget("lr")
    form.widget("warmup", kind="number")
    form.widget("lr_schedule", kind="segmented")
    form.widget("steps", kind="select_slider",
                options=[20, 50, 100, 200, 300, 500, 1000, 2000, 5000])
    with st.expander("Seed and device"):
        form.widget("seed", kind="number")
        form.widget("device")
cfg = form.config()


@st.cache_data(show_spinner=False)
def preview(data: str) -> tuple[np.ndarray, list[str]]:
    if data == "digits":
        x, _, caps = spoken_strips(8, "train", seed=3)
        return image_grid(torch.from_numpy(x), ncol=4, pad=1, scale=3), caps
    x, _, caps = object_scenes(8, seed=3, combos=list(clip.SEEN))
    return image_grid(torch.from_numpy(x), ncol=8, pad=1, scale=3), [c[-1] for c in caps]


@st.cache_data(show_spinner=False)
def gallery_images(data: str) -> tuple[np.ndarray, list[str]]:
    """Fixed test images for typed prompts and their true content, one line each."""
    if data == "digits":
        x, caps = clip.digit_gallery()
        return x.numpy(), caps
    x, ids = clip.gallery()
    return x.numpy(), [composition_name(COMBOS[k]) + (" (unseen)" if COMBOS[k] in clip.HELD_OUT
                                                      else "") for k in ids]


def map_figure(art: dict) -> go.Figure:
    """Image embeddings (scenes in their own colour and shape, digits as their value) and the
    prompts (stars), PCA."""
    pts, labels, stars = art["map_images"], art["map_labels"], art["map_prompts"]
    digits = art.get("data") == "digits"
    fig = go.Figure()
    if digits:
        for k in range(10):
            sel = labels == k
            fig.add_scattergl(x=pts[sel, 0], y=pts[sel, 1], mode="text", name=str(k),
                              text=[str(k)] * int(sel.sum()),
                              textfont={"color": DIGIT_COLORS[k], "size": 13})
    else:
        for k, (color, shape) in enumerate(COMBOS):
            sel = labels == k
            rgb = "rgb({},{},{})".format(*(int(255 * v) for v in COLORS[color]))
            unseen = (color, shape) in clip.HELD_OUT
            fig.add_scattergl(x=pts[sel, 0], y=pts[sel, 1], mode="markers",
                              name=f"{color} {shape}" + (" (unseen)" if unseen else ""),
                              marker={"color": rgb, "symbol": SYMBOLS[shape], "size": 8,
                                      "line": {"color": "black",
                                               "width": 1.5 if unseen else 0.5}})
    names = list(clip.DIGIT_PROMPTS) if digits else [composition_name(c) for c in COMBOS]
    fig.add_scatter(x=stars[:, 0], y=stars[:, 1], mode="markers+text", name="prompts",
                    text=names, textposition="top center",
                    textfont={"size": 9, "color": "white" if digits else "black"},
                    marker={"symbol": "star", "size": 14, "color": "black"})
    what = "single test digits and the words zero ... nine" if digits else \
        "test images and the prompts"
    fig.update_layout(title=f"Shared space (PCA): {what} (stars)", height=480, margin=MARGIN,
                      plot_bgcolor="#555555", legend={"font": {"size": 9}})
    return fig


def similarity_figure(art: dict) -> go.Figure:
    sim = art["similarity"]
    fig = heatmap(sim, "Cosine similarity: 16 test images (rows) x their captions (columns)",
                  x=[f"{i + 1}" for i in range(16)],
                  y=[f"{i + 1}: {c}" for i, c in enumerate(art["sim_captions"])],
                  zmin=-1, zmax=1, height=460, x_title="caption #", y_title="image")
    fig.update_yaxes(autorange="reversed", tickfont={"size": 9})
    return fig


# what the metrics mean on each data set: tile label, tooltip, curve name
LABELS = {
    "scenes": {"zero_shot_seen": ("Zero-shot, seen", "chance 5%: 20 prompts", "seen compositions"),
               "zero_shot_heldout": ("Unseen (all 20 prompts)", "chance 5%",
                                     "unseen, among all 20 prompts"),
               "zero_shot_heldout_only": ("Unseen (4 unseen prompts)", "chance 25%: only the "
                                          "four unseen descriptions are candidates",
                                          "unseen, among the 4 unseen")},
    "digits": {"zero_shot_seen": ("Strips read, seen", "3-digit test strips of new MNIST "
                                  "digits read exactly among all 1,000 spoken 3-digit "
                                  "captions (chance 0.1%)", "strips, seen sequences"),
               "zero_shot_heldout": ("Unseen sequences (all 1,000)", "chance 0.1%",
                                     "strips, unseen sequences among all 1,000"),
               "zero_shot_heldout_only": ("Unseen (100 unseen)", "chance 1%: only the 100 "
                                          "unseen sequences are candidates",
                                          "strips, unseen among the 100 unseen"),
               "zero_shot_digit": ("Single digits", "one test digit among the words zero ... "
                                   "nine (chance 10%): MNIST classified with no label",
                                   "single digits among zero ... nine")},
}
COLLAPSE_HELP = ("mean cosine between different images' embeddings: near 0 = spread out, 1 = "
                 "everything at one point (collapse)")
LESSON = {
    "scenes": "What generalises: colour and shape are each learned from the seen compositions, "
              "so an unseen pair usually lands near the right prompt when only unseen prompts "
              "compete; among all 20 prompts a seen composition that shares one attribute often "
              "wins. Zero-shot here recombines words it knows; a word it never read (purple) "
              "means nothing to it.",
    "digits": "What generalises: each digit word is learned at each position, so sequences "
              "never seen in training are read about as well as seen ones, and single digits "
              "are classified from the words zero ... nine though no label ever named them. "
              "Reading a whole strip needs all three digits right, so it lags the single "
              "digits.",
}


def render(view: RunView) -> None:
    if view.latest is None:
        img, caps = preview(cfg.data)
        st.image(png_bytes(img, 1), caption=plain("Training images; their captions: " + "; ".join(caps[:4])
                                    + " …"))
        if cfg.data == "digits":
            st.markdown("Strips of **1 to 3** real MNIST digits; **100** three-digit sequences "
                        "never appear in training, and test strips use MNIST digits never "
                        "trained on. Zero-shot prompts are the 1,000 spoken 3-digit captions "
                        "and *zero* ... *nine* for single digits.")
        else:
            st.markdown(f"**{len(clip.SEEN)}** compositions are trained on; the held-out ones "
                        f"(**{UNSEEN}**) appear only at test time. Zero-shot prompts are "
                        "*a red circle*, *a blue square*, … (chance: 1 in 20).")
        return
    m, art = view.latest.metrics, view.latest.artifacts
    if "zero_shot_seen" not in m:
        st.info("Drawing the training data…", icon=":material/hourglass_top:")
        return
    data = art.get("data", "scenes")
    labels = LABELS[data]
    tiles = {labels[k][0]: f"{m[k]:.0%}" for k in labels if k in m}
    metric_row({**tiles, "Collapse meter": f"{m['mean_cos']:.2f}",
                "Temperature": f"{m['temperature']:.3f}"},
               helps={"Collapse meter": COLLAPSE_HELP, **{v[0]: v[1] for v in labels.values()}})
    left, right = st.columns(2)
    show_chart(line_chart(view.history, list(labels), "Zero-shot accuracy",
                          y_title="accuracy", height=260,
                          names={k: v[2] for k, v in labels.items()}),
               key=f"{PAGE}.zs", where=left)
    show_chart(line_chart(view.history, ["loss"], "Symmetric InfoNCE loss", y_title="nats",
                          height=260), key=f"{PAGE}.loss", where=right)
    show_chart(line_chart(view.history, ["mean_cos", "mean_cos_text"],
                          "Collapse meter: mean pairwise cosine", height=220,
                          names={"mean_cos": "images", "mean_cos_text": "captions"}),
               key=f"{PAGE}.collapse", where=right)
    with left:
        order = "row by row" if data == "digits" else "left to right"
        st.caption(f"The 16 test images of the similarity matrix, {order} = rows 1-16:")
        st.image(png_bytes(art["sim_images"], 1), width="stretch")
    a, b = st.columns(2)
    show_chart(similarity_figure(art), key=f"{PAGE}.sim", where=a)
    show_chart(map_figure(art), key=f"{PAGE}.map", where=b)
    if view.latest.final:
        st.caption(LESSON[data])


view = run_panel(PAGE, DEMO, cfg, render, compare=("zero_shot_seen", "zero_shot_heldout",
                                                   "mean_cos", "loss"),
                 defer_first_paint=False)

# typed prompts: read by the run's model, with its data set's vocabulary
PROMPT_DEFAULTS = {"scenes": ("a red circle, a blue square, a green triangle, a yellow cross, "
                              "a white circle", "a big blue triangle"),
                   "digits": (", ".join(clip.DIGIT_PROMPTS), "three zero seven")}
st.subheader("Type your own prompts")
model = view.model
data = getattr(model, "data", cfg.data)
suffix = "" if data == "scenes" else f".{data}"
c1, c2 = st.columns(2)
classes_text = c1.text_input("Class descriptions (comma separated)", PROMPT_DEFAULTS[data][0],
                             key=f"{PAGE}.classes{suffix}", max_chars=400)
query = c2.text_input("A query to find images", PROMPT_DEFAULTS[data][1],
                      key=f"{PAGE}.query{suffix}", max_chars=100)
if model is None:
    st.info("Train a model first (or wait for its first copy): the prompts are read by the "
            "model of this page's run.", icon=":material/info:")
else:
    images, truth = gallery_images(data)
    x = torch.from_numpy(images)
    try:
        classes = clip.parse_prompts(classes_text, vocab=model.vocab)
    except ValueError as e:
        st.error(plain(f"Those descriptions can't be used: {e}."), icon=":material/error:")
        classes = None
    if classes:
        # one gallery scene per composition, or the ten single digits
        one = np.arange(10) if data == "digits" else np.arange(0, len(images), 2)
        probs = clip.zero_shot_probs(model, x[one], classes)
        fig = heatmap(probs, f"Zero-shot probabilities (model at step {view.model_step})",
                      x=classes, y=[truth[i] for i in one], colorscale="Blues", zmin=0,
                      zmax=1, height=560 if data == "scenes" else 380,
                      x_title="your descriptions", y_title="test image (its true content)",
                      text=np.round(probs, 2))
        fig.update_yaxes(autorange="reversed")
        show_chart(fig, key=f"{PAGE}.typed")
    try:
        (q,) = clip.parse_prompts(query, max_prompts=1, vocab=model.vocab)
    except ValueError as e:
        st.error(plain(f"That query can't be used: {e}."), icon=":material/error:")
        q = None
    if q:
        idx, cos = clip.retrieve(model, x, q, k=8)
        st.caption(plain(f"The 8 test images most similar to “{q}” (cosine under each):"))
        cols = st.columns(8)
        for col, i, c in zip(cols, idx, cos):
            col.image(png_bytes(image_grid(x[i:i + 1], ncol=1, pad=0), 3), caption=f"{c:.2f}")
