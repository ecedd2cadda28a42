"""/captioning: a vanilla RNN, an LSTM and a Transformer decoder caption the same images, live."""

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
import torch

from core.blocks.images import image_grid
from core.data.captions import COLORS, RELATIONS, SHAPES, SIZES
from core.registry import get_demo
from core.sequences import captioning as cap
from ui.charts import (
    MARGIN,
    PALETTE,
    VegaLite,
    data_note,
    line_chart,
    page_header,
    png_bytes,
    show_chart,
)
from ui.form import select_slider
from ui.live import ConfigForm, RunView, run_panel

PAGE = "captioning"
DEMO = get_demo("captioning")
COLOR = {"rnn": PALETTE[3], "lstm": PALETTE[0], "transformer": PALETTE[2]}

page_header(
    "Image captioning: RNN vs LSTM vs Transformer",
    "A small CNN turns each image into a grid of region features. Three decoders, each with its "
    "own copy of that encoder, learn to write the caption word by word on the **same batches "
    "for the same number of steps**. The vanilla RNN and the LSTM see the image only once, as "
    "their starting state, and must carry it through the whole sentence; the Transformer looks "
    "back at the image regions for every word (cross-attention). All three are trained with "
    "**teacher forcing**: while training, the decoder reads the *true* previous words and "
    "learns to predict the next one.",
    [r"\mathcal{L}_{\text{teacher forcing}} = -\frac{1}{n+1}\sum_{t=1}^{n+1}"
     r"\log p_\theta\!\left(w_t \mid w_0{=}\langle\mathrm{bos}\rangle, w_1, \dots, w_{t-1},"
     r"\ \text{image}\right)",
     r"\text{RNN: } h_t = \tanh(W_x x_t + W_h h_{t-1} + b),\qquad "
     r"h_0 = \tanh(W_{\text{init}}\,\mathrm{vec}(V))"],
    try_this="keep **Decoders = all** and press Train: watch the red RNN curve stall near "
    "loss 0.9 while the LSTM and the Transformer keep falling. Then open *Gradient through "
    "time*: the RNN's gradient from the last word is a million times smaller by the time it "
    "reaches the image. Switch **Caption style** to *short* and the gap narrows.",
)

with st.expander("Teacher forcing, the LSTM gates and attention, in equations",
                 icon=":material/functions:"):
    st.markdown("**Teacher forcing.** During training the input at step *t* is the true word "
                "w₍t−1₎, not the model's own guess, so every position gets a useful target "
                "from the first step on. At test time there is no true caption: the decoder "
                "feeds back its own words (greedy: the most likely word; beam search: the "
                "*k* most likely partial captions).")
    st.latex(r"\hat w_t = \arg\max_w p_\theta(w \mid \hat w_{<t}, \text{image})"
             r"\quad\text{(greedy decoding)}")
    st.markdown("**LSTM gates.** The input, forget and output gates are sigmoids in (0, 1); "
                "the cell state *c* is updated *additively*, so when the forget gate is near 1 "
                "the gradient flows back through c almost unchanged. The vanilla RNN multiplies "
                "by W_h and tanh′ at every step instead, and its gradient shrinks geometrically.")
    st.latex(r"\begin{aligned} i_t &= \sigma(W_{xi}x_t + W_{hi}h_{t-1} + b_i) &"
             r" f_t &= \sigma(W_{xf}x_t + W_{hf}h_{t-1} + b_f) \\"
             r" o_t &= \sigma(W_{xo}x_t + W_{ho}h_{t-1} + b_o) &"
             r" g_t &= \tanh(W_{xg}x_t + W_{hg}h_{t-1} + b_g) \\"
             r" c_t &= f_t \odot c_{t-1} + i_t \odot g_t & h_t &= o_t \odot \tanh(c_t)"
             r"\end{aligned}")
    st.latex(r"\frac{\partial h_t}{\partial h_{t-1}} = \operatorname{diag}(1 - h_t^2)\,W_h"
             r"\ \ \text{(RNN)}\qquad \frac{\partial c_t}{\partial c_{t-1}} = "
             r"\operatorname{diag}(f_t)\ \ \text{(LSTM, direct path)}")
    st.markdown("**Cross-attention.** Each word's query Q attends over the image regions' keys "
                "K and values V; the weights (one per region, summing to 1) are the heatmaps "
                "below.")
    st.latex(r"\mathrm{Attention}(Q, K, V) = \operatorname{softmax}\!\left("
             r"\frac{QK^\top}{\sqrt{d}}\right)V")
    st.markdown("**BLEU-4** (Papineni et al., 2002): the geometric mean of the clipped 1- to "
                "4-gram precisions over all held-out captions, times a brevity penalty. "
                "**Exact match** is the share of captions that are right word for word.")
    st.latex(r"\mathrm{BLEU\text{-}4} = \min\!\left(1, e^{1 - r/c}\right)\,"
             r"\exp\!\Big(\tfrac14\sum_{n=1}^{4}\log p_n\Big)")

form = ConfigForm(PAGE, DEMO)
with st.sidebar:
    st.header("Data")
    ds = form.widget("dataset", kind="selectbox", format_func=lambda d: {
        "shapes": "shapes (generated scenes)", "digits": "digit strips (MNIST)",
        "flickr8k": "Flickr8k (local files)", "coco": "COCO captions (local files)"}[d])
    if ds in ("shapes", "flickr8k", "coco"):
        form.widget("style", label="Caption style")
    form.widget("n_train", kind="select_slider", options=[500, 1000, 2000, 4000, 8000, 16000])
    st.header("Decoders")
    form.widget("decoders", kind="selectbox", format_func=lambda d: {
        "all": "all three side by side", "rnn+lstm": "vanilla RNN + LSTM",
        "rnn": "vanilla RNN", "lstm": "LSTM", "transformer": "Transformer"}[d])
    form.widgets(["hidden", "n_layers", "n_heads"])
    form.section("Training", ["lr", "batch_size", "max_grad_norm", "steps"],
                 max_grad_norm=select_slider(0.0, 0.1, 0.5, 1.0, 5.0, 100.0),
                 steps=select_slider(50, 100, 200, 400, 800, 1500, 3000, 6000, 10000))
    st.header("Decoding")
    method = form.widget("decoding")
    if method == "beam":
        form.widget("beam_size")
    form.widget("eval_size", **select_slider(50, 100, 200, 500))
    form.run_options()

if form.current("hidden") % form.current("n_heads"):
    st.error(f"The width {form.current('hidden')} must be divisible by the number of heads "
             f"{form.current('n_heads')}; using the defaults for both.")
    cfg = form.config(hidden=128, n_heads=4)
else:
    cfg = form.config()


@st.cache_data(show_spinner="Making the images and captions…", max_entries=4)
def preview(dataset: str, n_train: int, style: str) -> tuple[np.ndarray, list[str], str | None]:
    tr, te = cap.get_data(dataset, n_train, style)
    return tr.images[:8].numpy(), tr.captions[:8], tr.note


def upscaled(img: np.ndarray, scale: int = 4) -> bytes:
    """(C, H, W) float in [0, 1] -> PNG, nearest-neighbour upscaled (encoded once per content)."""
    return png_bytes(image_grid(torch.from_numpy(img)[None], ncol=1, pad=0), scale)


def image_cards(images: np.ndarray, lines: list[str], ncol: int) -> None:
    cols = st.columns(ncol)
    for i, img in enumerate(images):
        with cols[i % ncol]:
            st.image(upscaled(img, 4 if img.shape[1] == img.shape[2] else 2), width="stretch")
            st.markdown(lines[i])


def grad_figure(grads: dict[str, np.ndarray]) -> go.Figure:
    fig = go.Figure()
    for k, g in grads.items():
        n = len(g) - 1
        fig.add_scatter(x=np.arange(n, -1, -1), y=np.maximum(g, 1e-12), mode="lines+markers",
                        name=cap.DECODER_NAMES[k], line={"color": COLOR[k]})
    fig.update_layout(title="Gradient of the last word's loss, reaching back through time",
                      height=320, margin=MARGIN, xaxis_title="steps back from the last word "
                      "(rightmost = the image-initialized state s₀)",
                      yaxis_title="‖∂ℓ_last / ∂s_t‖ (log)",
                      legend={"orientation": "h", "y": 1.12, "x": 1, "xanchor": "right"})
    fig.update_yaxes(type="log", exponentformat="power")
    return fig


def decoder_chart(history: pd.DataFrame, metric: str, title: str, y_title: str,
                  log_y: bool = False) -> VegaLite:
    keys = [f"{metric}_{k}" for k in cap.DECODERS]
    fig = line_chart(history, keys, title, y_title=y_title, log_y=log_y,
                     names={f"{metric}_{k}": cap.DECODER_NAMES[k] for k in cap.DECODERS},
                     colors={f"{metric}_{k}": COLOR[k] for k in cap.DECODERS})
    return fig


def scene_panel(view: RunView) -> None:
    """Compose a two-object scene and read what every trained decoder says about it."""
    c = view.config
    if c.dataset != "shapes" or view.latest.model is None:
        st.caption("Finish a run on the **shapes** data first; then compose a scene here.")
        return
    cols = st.columns(7)
    pick = []
    for j, side in enumerate(("first", "second")):
        size = cols[3 * j].selectbox(f"{side} size", list(SIZES), key=f"{PAGE}.u{j}s")
        color = cols[3 * j + 1].selectbox("color", list(COLORS), index=j, key=f"{PAGE}.u{j}c")
        shape = cols[3 * j + 2].selectbox("shape", SHAPES, index=j, key=f"{PAGE}.u{j}h")
        pick.append((size, color, shape))
    relation = cols[6].radio("relation", RELATIONS, key=f"{PAGE}.urel")
    res = cap.caption_scene(view.latest.model, c, view.latest.artifacts["vocab"], pick[0],
                            pick[1], relation)
    left, right = st.columns([1, 3])
    left.image(upscaled(res.image, 6), width="stretch")
    out = [f"**true caption:** {res.truth}"]
    for k, hyp in res.captions.items():
        mark = ":green[**✓**]" if hyp == res.truth else ":red[**✗**]"
        out.append(f"{mark} **{cap.DECODER_NAMES[k]}:** {hyp}")
    right.markdown("  \n".join(out))
    st.caption("Objects drawn at fixed positions (the training scenes place them at random "
               "within their half), so this also tests how well the captioners generalise.")


def render_preview(c: cap.CaptioningConfig) -> None:
    try:
        imgs, caps_, note = preview(c.dataset, c.n_train, c.style)
    except (ValueError, OSError) as e:  # a data set that cannot be read or made
        st.error(f"The images could not be made: {e}", icon=":material/error:")
        return
    data_note(note)
    st.subheader("Training images and their captions")
    image_cards(imgs, [f"*{t}*" for t in caps_], 4 if imgs.shape[2] == imgs.shape[3] else 2)
    st.caption("Press **Train** to train the decoders side by side. The held-out images are a "
               "fixed set of 500 other images (for digit strips: strips of digits the training "
               "set never contains).")


def scores_panel(view: RunView, decs: list[str]) -> None:
    c, art = view.config, view.latest.artifacts
    st.markdown(f"**Held-out scores** (first {min(c.eval_size, 500)} held-out images, "
                f"{'beam search, k=' + str(c.beam_size) if c.decoding == 'beam' else 'greedy'}"
                f" decoding, scored at step {art.get('eval_step', '–')})")

    def last(key: str) -> float | None:
        if key not in view.history.columns:
            return None
        col = view.history[key].dropna()
        return float(col.iloc[-1]) if len(col) else None

    for col, k in zip(st.columns(len(decs)), decs):
        bleu, em = last(f"bleu4_{k}"), last(f"exact_match_{k}")
        col.metric(f"{cap.DECODER_NAMES[k]} BLEU-4", "…" if bleu is None else f"{bleu:.3f}")
        col.caption(("" if em is None else f"exact match {em:.1%} · ")
                    + f"{art['params'][k]:,} parameters")
    a, b = st.columns(2)
    with a:
        show_chart(decoder_chart(view.history, "loss", "Training loss (teacher forcing)",
                                      "cross-entropy (nats/word)", log_y=True),
                        key=f"{PAGE}.loss")
    with b:
        show_chart(decoder_chart(view.history, "bleu4", "Held-out BLEU-4", "BLEU-4"),
                        key=f"{PAGE}.bleu")


def samples_panel(art: dict, decs: list[str]) -> None:
    st.subheader("Held-out images: reference and generated captions")
    caps_by = art.get("captions", {})
    lines = []
    for i, ref in enumerate(art["references"]):
        rows = [f"**reference:** {ref}"]
        for k in decs:
            hyp = caps_by.get(k, [""] * len(art["references"]))[i]
            mark = ":green[**✓**]" if hyp == ref else ":red[**✗**]"
            rows.append(f"{mark} **{cap.DECODER_NAMES[k]}:** {hyp or '∅'}")
        lines.append("  \n".join(rows))
    samples = art["samples"]
    image_cards(samples, lines, 3 if samples.shape[2] == samples.shape[3] else 2)


def attention_panel(art: dict) -> None:
    st.subheader("Where the Transformer looks for every word it writes")
    att = art["attention"]
    n_layers = att["attn"].shape[1]
    s1, s2 = st.columns(2)
    ex = s1.selectbox("Held-out image", list(range(len(att["words"]))),
                      format_func=lambda i: f"#{i + 1}: {' '.join(att['words'][i][:-1])}",
                      key=f"{PAGE}.att_example")
    layer = s2.segmented_control("Layer", list(range(1, n_layers + 1)), default=n_layers,
                                 key=f"{PAGE}.att_layer") or n_layers
    img = art["samples"][ex]
    ncol = 3 if img.shape[2] > 2 * img.shape[1] else 6
    cols = st.columns(ncol)
    for t, w in enumerate(att["words"][ex]):
        over = cap.attention_overlay(img, att["attn"][ex, layer - 1, t])
        cols[t % ncol].image(png_bytes(over, 4), caption=w, width="stretch")
    st.caption("Cross-attention weights of the chosen layer, averaged over heads, for each "
               "generated word: bright regions are attended, dark ones ignored; the cyan "
               "frame marks the most attended region. A trained model looks at the first "
               "object while naming it, then at the second.")


def render(view: RunView) -> None:
    if view.latest is None:
        render_preview(view.config)
        return
    art, m = view.latest.artifacts, view.latest.metrics
    data_note(art.get("note"))
    decs = [k for k in cap.DECODERS if f"loss_{k}" in m]
    scores_panel(view, decs)
    samples_panel(art, decs)
    if "attention" in art:
        attention_panel(art)
    if art.get("grad_time"):
        st.plotly_chart(grad_figure(art["grad_time"]), key=f"{PAGE}.grad")
        st.caption("With teacher forcing, ℓ_last is the loss of the caption's last word and "
                   "s_t the decoder's state after t words (s₀ is set by the image; for the "
                   "LSTM s = (h, c)). The steeper the fall towards the right, the less the "
                   "last word can teach the start of the sentence and the image encoder.")
    with st.expander("Caption your own scene with the trained decoders", icon=":material/draw:"):
        scene_panel(view)


run_panel(PAGE, DEMO, cfg, render,
          compare=("loss", "bleu4", "exact_match", "bleu4_rnn", "bleu4_lstm",
                   "bleu4_transformer"),
          defer_first_paint=False)  # its preview is images only

