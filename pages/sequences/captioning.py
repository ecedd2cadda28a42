"""/captioning: a vanilla RNN, an LSTM and a Transformer decoder caption the same images, live."""

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.data.captions import COLOURS, SHAPES, SIZES, render_scene
from core.registry import get_demo
from core.sequences import captioning as cap
from ui.charts import MARGIN, PALETTE, data_note, line_chart, page_header
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
form.show_notices()
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
    form.widget("hidden")
    form.widget("layers")
    form.widget("heads")
    st.header("Training")
    form.widget("lr")
    form.widget("batch_size")
    form.widget("clip", kind="select_slider", options=[0.0, 0.1, 0.5, 1.0, 5.0, 100.0],
                label="Gradient clipping")
    form.widget("steps", kind="select_slider",
                options=[50, 100, 200, 400, 800, 1500, 3000, 6000, 10000])
    st.header("Decoding")
    method = form.widget("decoding")
    if method == "beam":
        form.widget("beam_size")
    form.widget("eval_size", kind="select_slider", options=[50, 100, 200, 500])
    with st.expander("Seed and device"):
        form.widget("seed", kind="number")
        form.widget("device")

if form.current("hidden") % form.current("heads"):
    st.error(f"The width {form.current('hidden')} must be divisible by the number of heads "
             f"{form.current('heads')}; using the defaults for both.")
    cfg = form.config(hidden=128, heads=4)
else:
    cfg = form.config()


@st.cache_data(show_spinner="Making the images and captions…", max_entries=4)
def preview(dataset: str, n_train: int, style: str) -> tuple[np.ndarray, list[str], str | None]:
    tr, te = cap.get_data(dataset, n_train, style)
    return tr.images[:8].numpy(), tr.captions[:8], tr.note


def to_rgb(img: np.ndarray, scale: int = 4) -> np.ndarray:
    """(C, H, W) float in [0, 1] -> (H*scale, W*scale, 3) uint8, nearest-neighbour upscaled."""
    x = np.transpose(img, (1, 2, 0))
    x = np.repeat(x, 3, 2) if x.shape[2] == 1 else x
    x = (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)
    return x.repeat(scale, 0).repeat(scale, 1)


def image_cards(images: np.ndarray, lines: list[str], ncol: int) -> None:
    cols = st.columns(ncol)
    for i, img in enumerate(images):
        with cols[i % ncol]:
            st.image(to_rgb(img, 4 if img.shape[1] == img.shape[2] else 2), width="stretch")
            st.markdown(lines[i])


def grad_figure(grads: dict[str, np.ndarray]) -> go.Figure:
    fig = go.Figure()
    for k, g in grads.items():
        n = len(g) - 1
        fig.add_scatter(x=np.arange(n, -1, -1), y=np.maximum(g, 1e-12), mode="lines+markers",
                        name=cap.DECODER_NAMES[k], line={"color": COLOR[k]})
    fig.update_layout(title="Gradient of the last word's loss, reaching back through time",
                      height=320, margin=MARGIN, xaxis_title="steps back from the last word "
                      "(rightmost = the image-initialised state s₀)",
                      yaxis_title="‖∂ℓ_last / ∂s_t‖ (log)",
                      legend={"orientation": "h", "y": 1.12, "x": 1, "xanchor": "right"})
    fig.update_yaxes(type="log", exponentformat="power")
    return fig


def decoder_chart(history: pd.DataFrame, metric: str, title: str, y_title: str,
                  log_y: bool = False) -> go.Figure:
    keys = [f"{metric}_{k}" for k in cap.DECODERS]
    fig = line_chart(history, keys, title, y_title=y_title, log_y=log_y,
                     names={f"{metric}_{k}": cap.DECODER_NAMES[k] for k in cap.DECODERS})
    for tr in fig.data:
        k = next(k for k in cap.DECODERS if cap.DECODER_NAMES[k] == tr.name)
        tr.line.color = COLOR[k]
    return fig


def render(view: RunView) -> None:
    c = view.config
    if view.latest is None:
        try:
            imgs, caps_, note = preview(c.dataset, c.n_train, c.style)
        except Exception as e:  # never a traceback for a data problem
            st.error(f"The images could not be made: {type(e).__name__}: {e}")
            return
        data_note(note)
        st.subheader("Training images and their captions")
        image_cards(imgs, [f"*{t}*" for t in caps_], 4 if imgs.shape[2] == imgs.shape[3] else 2)
        st.caption("Press **Train** to train the decoders side by side. The held-out images "
                   "are a fixed set of 500 other images (for digit strips: strips of digits "
                   "the training set never contains).")
        return
    art, m = view.latest.artifacts, view.latest.metrics
    data_note(art.get("note"))
    decs = [k for k in cap.DECODERS if f"loss_{k}" in m]
    st.markdown(f"**Held-out scores** (first {min(c.eval_size, 500)} held-out images, "
                f"{'beam search, k=' + str(c.beam_size) if c.decoding == 'beam' else 'greedy'}"
                f" decoding, scored at step {art.get('eval_step', '–')})")
    def last(key: str) -> float | None:
        if key not in view.history.columns:
            return None
        col = view.history[key].dropna()
        return float(col.iloc[-1]) if len(col) else None

    cols = st.columns(len(decs))
    for col, k in zip(cols, decs):
        bleu, em = last(f"bleu4_{k}"), last(f"exact_match_{k}")
        col.metric(f"{cap.DECODER_NAMES[k]} BLEU-4", "…" if bleu is None else f"{bleu:.3f}")
        col.caption(("" if em is None else f"exact match {em:.1%} · ")
                    + f"{art['params'][k]:,} parameters")
    a, b = st.columns(2)
    with a:
        st.plotly_chart(decoder_chart(view.history, "loss", "Training loss (teacher forcing)",
                                      "cross-entropy (nats/word)", log_y=True),
                        key=f"{PAGE}.loss")
    with b:
        st.plotly_chart(decoder_chart(view.history, "bleu4", "Held-out BLEU-4", "BLEU-4"),
                        key=f"{PAGE}.bleu")

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

    if "attention" in art:
        st.subheader("Where the Transformer looks for every word it writes")
        att = art["attention"]
        n_layers = att["attn"].shape[1]
        s1, s2 = st.columns(2)
        ex = s1.selectbox("Held-out image", list(range(len(att["words"]))),
                          format_func=lambda i: f"#{i + 1}: {' '.join(att['words'][i][:-1])}",
                          key=f"{PAGE}.att_example")
        layer = s2.segmented_control("Layer", list(range(1, n_layers + 1)), default=n_layers,
                                     key=f"{PAGE}.att_layer") or n_layers
        words = att["words"][ex]
        img = samples[ex]
        wide = img.shape[2] > 2 * img.shape[1]
        ncol = 3 if wide else 6
        cols = st.columns(ncol)
        for t, w in enumerate(words):
            over = cap.attention_overlay(img, att["attn"][ex, layer - 1, t])
            over = over.repeat(4, 0).repeat(4, 1)
            cols[t % ncol].image(over, caption=w, width="stretch")
        st.caption("Cross-attention weights of the chosen layer, averaged over heads, for each "
                   "generated word: bright regions are attended, dark ones ignored; the cyan "
                   "frame marks the most attended region. A trained model looks at the first "
                   "object while naming it, then at the second.")
    if art.get("grad_time"):
        st.plotly_chart(grad_figure(art["grad_time"]), key=f"{PAGE}.grad")
        st.caption("With teacher forcing, ℓ_last is the loss of the caption's last word and "
                   "s_t the decoder's state after t words (s₀ is set by the image; for the "
                   "LSTM s = (h, c)). The steeper the fall towards the right, the less the "
                   "last word can teach the start of the sentence and the image encoder.")


run_panel(PAGE, DEMO, cfg, render,
          compare=("loss", "bleu4", "exact_match", "bleu4_rnn", "bleu4_lstm",
                   "bleu4_transformer"),
          defer_first_paint=False)  # its preview is images only

with st.expander("Caption your own scene with the trained decoders",
                 icon=":material/draw:"):
    runs_model = None
    try:
        from ui.live import session_runs

        runs = session_runs().runs(PAGE)
        if runs and runs[-1].latest is not None and runs[-1].latest.model is not None:
            runs_model = runs[-1]
    except Exception:
        runs_model = None
    if runs_model is None or runs_model.config.dataset != "shapes":
        st.caption("Finish a run on the **shapes** data first; then compose a scene here.")
    else:
        cols = st.columns(7)
        pick = []
        for j, side in enumerate(("first", "second")):
            size = cols[3 * j].selectbox(f"{side} size", list(SIZES), key=f"{PAGE}.u{j}s")
            colour = cols[3 * j + 1].selectbox("colour", list(COLOURS), index=j,
                                               key=f"{PAGE}.u{j}c")
            shape = cols[3 * j + 2].selectbox("shape", SHAPES, index=j, key=f"{PAGE}.u{j}h")
            pick.append((size, colour, shape))
        rel = cols[6].radio("relation", ["left of", "above"], key=f"{PAGE}.urel")
        r0, r1 = SIZES[pick[0][0]], SIZES[pick[1][0]]
        a0, a1 = (8.0, 16.0), (24.0, 16.0)
        if rel == "above":
            a0, a1 = (16.0, 8.0), (16.0, 24.0)
        scene = render_scene([(*pick[0], *a0), (*pick[1], *a1)])
        models = runs_model.latest.model
        import torch

        from core.data.captions import Vocab

        vocab = Vocab([w for w in runs_model.latest.artifacts["vocab"] if not w.startswith("<")])
        left, right = st.columns([1, 3])
        left.image(to_rgb(scene, 6), width="stretch")
        truth = f"a {pick[0][0]} {pick[0][1]} {pick[0][2]} {rel} a {pick[1][0]} {pick[1][1]} " \
                f"{pick[1][2]}" if runs_model.config.style == "long" else \
                f"{pick[0][1]} {pick[0][2]} {rel} {pick[1][1]} {pick[1][2]}"
        out = [f"**true caption:** {truth}"]
        x = torch.from_numpy(scene)[None]
        for k, model in models.items():
            toks = cap.decode(model, x, 14, runs_model.config.decoding,
                              runs_model.config.beam_size)
            hyp = vocab.decode(toks[0])
            mark = ":green[**✓**]" if hyp == truth else ":red[**✗**]"
            out.append(f"{mark} **{cap.DECODER_NAMES[k]}:** {hyp}")
        right.markdown("  \n".join(out))
        st.caption("Objects drawn at fixed positions (the training scenes place them at random "
                   "within their half), so this also tests how well the captioners generalise.")
