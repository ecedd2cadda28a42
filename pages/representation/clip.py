"""/clip: a tiny CLIP trains live; zero-shot accuracy on seen and unseen compositions, the
similarity matrix, a 2-D map of the shared space, and typed prompts."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch

from core.blocks.images import image_grid
from core.data.scenes import COMBOS, composition_name, object_scenes
from core.registry import get_demo
from core.representation import clip
from ui.charts import MARGIN, heatmap, line_chart, metric_row, page_header, plain, show_chart
from ui.live import ConfigForm, RunView, run_panel

PAGE = "clip"
DEMO = get_demo("clip")
SYMBOLS = {"circle": "circle", "square": "square", "triangle": "triangle-up", "cross": "cross"}
UNSEEN = ", ".join(composition_name(c) for c in clip.HELD_OUT)

page_header(
    "CLIP: images and words in one space",
    "Two encoders learn together from (image, caption) pairs: a small CNN reads a 32x32 scene, "
    "a small Transformer reads its caption, and each ends in a projection to a shared space "
    "where both are unit vectors. In every batch the loss asks each image to be most similar "
    "to *its own* caption among all the batch's captions, and each caption to its own image "
    "(Radford et al., 2021). Afterwards the model classifies images it was never trained to "
    "classify: write one description per class and pick the most similar (**zero-shot**). "
    f"Four colour x shape compositions never appear in training ({UNSEEN}).",
    [r"z^I_i = \frac{W_I f(x_i)}{\lVert W_I f(x_i)\rVert},\quad z^T_j = \frac{W_T g(t_j)}"
     r"{\lVert W_T g(t_j)\rVert},\quad \ell_{ij} = \frac{z^I_i \cdot z^T_j}{\tau}",
     r"\mathcal{L} = \frac{1}{2B}\sum_{i=1}^{B}\Big[-\log\frac{e^{\ell_{ii}}}{\sum_j e^{\ell_{ij}}}"
     r" - \log\frac{e^{\ell_{ii}}}{\sum_j e^{\ell_{ji}}}\Big]"],
    try_this="train with the defaults and watch **zero-shot (seen)** climb while the unseen "
    "compositions lag; then set **Targets** to *soft* and watch the **collapse meter** (mean "
    "cosine between image embeddings), or drop **Batch size** to 8 and compare runs.",
)

form = ConfigForm(PAGE, DEMO)
form.show_notices()
with st.sidebar:
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
    form.widget("steps", kind="select_slider",
                options=[20, 50, 100, 200, 300, 500, 1000, 2000, 5000])
    with st.expander("Seed and device"):
        form.widget("seed", kind="number")
        form.widget("device")
cfg = form.config()


@st.cache_data(show_spinner=False)
def preview() -> tuple[np.ndarray, list[str]]:
    x, _, caps = object_scenes(8, seed=3, combos=list(clip.SEEN))
    return image_grid(torch.from_numpy(x), ncol=8, pad=1, scale=3), [c[-1] for c in caps]


@st.cache_data(show_spinner=False)
def gallery_images() -> tuple[np.ndarray, np.ndarray]:
    x, ids = clip.gallery()
    return x.numpy(), ids


def map_figure(art: dict) -> go.Figure:
    """Image embeddings (in their own colour and shape) and the prompts (stars), PCA."""
    pts, labels, stars = art["map_images"], art["map_labels"], art["map_prompts"]
    fig = go.Figure()
    for k, (color, shape) in enumerate(COMBOS):
        sel = labels == k
        rgb = "rgb({},{},{})".format(*(int(255 * v) for v in clip.COLORS[color]))
        unseen = (color, shape) in clip.HELD_OUT
        fig.add_scattergl(x=pts[sel, 0], y=pts[sel, 1], mode="markers",
                          name=f"{color} {shape}" + (" (unseen)" if unseen else ""),
                          marker={"color": rgb, "symbol": SYMBOLS[shape], "size": 8,
                                  "line": {"color": "black", "width": 1.5 if unseen else 0.5}})
    fig.add_scatter(x=stars[:, 0], y=stars[:, 1], mode="markers+text", name="prompts",
                    text=[composition_name(c) for c in COMBOS], textposition="top center",
                    textfont={"size": 9}, marker={"symbol": "star", "size": 14,
                                                  "color": "black"})
    fig.update_layout(title="Shared space (PCA): test images and the prompts (stars)",
                      height=480, margin=MARGIN, plot_bgcolor="#555555",
                      legend={"font": {"size": 9}})
    return fig


def similarity_figure(art: dict) -> go.Figure:
    sim = art["similarity"]
    fig = heatmap(sim, "Cosine similarity: 16 test images (rows) x their captions (columns)",
                  x=[f"{i + 1}" for i in range(16)],
                  y=[f"{i + 1}: {c}" for i, c in enumerate(art["sim_captions"])],
                  zmin=-1, zmax=1, height=460, x_title="caption #", y_title="image")
    fig.update_yaxes(autorange="reversed", tickfont={"size": 9})
    return fig


def render(view: RunView) -> None:
    if view.latest is None:
        img, caps = preview()
        st.image(img, caption="Training scenes; their captions: " + "; ".join(caps[:4]) + " …")
        st.markdown(f"**{len(clip.SEEN)}** compositions are trained on; the held-out ones "
                    f"(**{UNSEEN}**) appear only at test time. Zero-shot prompts are "
                    "*a red circle*, *a blue square*, … (chance: 1 in 20).")
        return
    m, art = view.latest.metrics, view.latest.artifacts
    if "zero_shot_seen" not in m:
        st.info("Drawing the scenes…", icon=":material/hourglass_top:")
        return
    metric_row({"Zero-shot, seen": f"{m['zero_shot_seen']:.0%}",
                "Unseen (all 20 prompts)": f"{m['zero_shot_heldout']:.0%}",
                "Unseen (4 unseen prompts)": f"{m['zero_shot_heldout_only']:.0%}",
                "Collapse meter": f"{m['mean_cos']:.2f}",
                "Temperature": f"{m['temperature']:.3f}"},
               helps={"Collapse meter": "mean cosine between different images' embeddings: "
                      "near 0 = spread out, 1 = everything at one point (collapse)",
                      "Unseen (all 20 prompts)": "chance 5%", "Unseen (4 unseen prompts)":
                      "chance 25%: only the four unseen descriptions are candidates"})
    left, right = st.columns(2)
    show_chart(line_chart(view.history, ["zero_shot_seen", "zero_shot_heldout",
                                         "zero_shot_heldout_only"], "Zero-shot accuracy",
                          y_title="accuracy", height=260,
                          names={"zero_shot_seen": "seen compositions",
                                 "zero_shot_heldout": "unseen, among all 20 prompts",
                                 "zero_shot_heldout_only": "unseen, among the 4 unseen"}),
               key=f"{PAGE}.zs", where=left)
    show_chart(line_chart(view.history, ["loss"], "Symmetric InfoNCE loss", y_title="nats",
                          height=260), key=f"{PAGE}.loss", where=right)
    show_chart(line_chart(view.history, ["mean_cos", "mean_cos_text"],
                          "Collapse meter: mean pairwise cosine", height=220,
                          names={"mean_cos": "images", "mean_cos_text": "captions"}),
               key=f"{PAGE}.collapse", where=right)
    with left:
        st.caption("The 16 test scenes of the similarity matrix, left to right = rows 1-16:")
        st.image(art["sim_images"], width="stretch")
    a, b = st.columns(2)
    show_chart(similarity_figure(art), key=f"{PAGE}.sim", where=a)
    show_chart(map_figure(art), key=f"{PAGE}.map", where=b)
    if view.latest.final:
        st.caption("What generalises: colour and shape are each learned from the seen "
                   "compositions, so an unseen pair usually lands near the right prompt when "
                   "only unseen prompts compete; among all 20 prompts a seen composition that "
                   "shares one attribute often wins. Zero-shot here recombines words it knows; "
                   "a word it never read (purple) means nothing to it.")


view = run_panel(PAGE, DEMO, cfg, render, compare=("zero_shot_seen", "zero_shot_heldout",
                                                   "mean_cos", "loss"),
                 defer_first_paint=False)

st.subheader("Type your own prompts")
model = view.model
c1, c2 = st.columns(2)
classes_text = c1.text_input("Class descriptions (comma separated)",
                             "a red circle, a blue square, a green triangle, a yellow cross, "
                             "a white circle", key=f"{PAGE}.classes", max_chars=400)
query = c2.text_input("A query to find images", "a big blue triangle", key=f"{PAGE}.query",
                      max_chars=100)
if model is None:
    st.info("Train a model first (or wait for its first copy): the prompts are read by the "
            "model of this page's run.", icon=":material/info:")
else:
    images, ids = gallery_images()
    x = torch.from_numpy(images)
    try:
        classes = clip.parse_prompts(classes_text)
    except ValueError as e:
        st.error(plain(f"Those descriptions can't be used: {e}."), icon=":material/error:")
        classes = None
    if classes:
        one = np.arange(0, len(images), 2)  # one gallery scene per composition
        probs = clip.zero_shot_probs(model, x[one], classes)
        rows = [composition_name(COMBOS[k]) + (" (unseen)" if COMBOS[k] in clip.HELD_OUT
                                                else "") for k in ids[one]]
        fig = heatmap(probs, f"Zero-shot probabilities (model at step {view.model_step})",
                      x=classes, y=rows, colorscale="Blues", zmin=0, zmax=1, height=560,
                      x_title="your descriptions", y_title="test image (its true content)",
                      text=np.round(probs, 2))
        fig.update_yaxes(autorange="reversed")
        show_chart(fig, key=f"{PAGE}.typed")
    try:
        (q,) = clip.parse_prompts(query, max_prompts=1)
    except ValueError as e:
        st.error(plain(f"That query can't be used: {e}."), icon=":material/error:")
        q = None
    if q:
        idx, cos = clip.retrieve(model, x, q, k=8)
        st.caption(plain(f"The 8 test scenes most similar to “{q}” (cosine under each):"))
        cols = st.columns(8)
        for col, i, c in zip(cols, idx, cos):
            col.image(image_grid(x[i:i + 1], ncol=1, pad=0, scale=3), caption=f"{c:.2f}")
