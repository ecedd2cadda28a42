"""/seq2seq: an LSTM encoder-decoder learns two-digit arithmetic from text or digit images."""

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.registry import get_demo
from core.sequences import seq2seq as s2s
from ui.charts import heatmap, line_chart, page_header, show_chart, show_image
from ui.form import select_slider
from ui.live import ConfigForm, RunView, run_panel

PAGE = "seq2seq"
DEMO = get_demo("seq2seq")
MODALITY_LABELS = {"text2text": "text → text", "image2text": "digit images → text",
                   "text2image": "text → digit images"}
GATE_NAMES = ("input gate i", "forget gate f", "candidate |g|", "output gate o")

page_header(
    "Seq2seq arithmetic",
    "An **encoder** LSTM reads a question such as `45+23` one symbol at a time and squeezes it "
    "into its final state (h, c); a **decoder** LSTM starts from that state and writes the "
    "answer one symbol at a time: sign, hundreds, tens, ones. The question can be text or a "
    "row of real handwritten MNIST digits; the answer can be text or drawn as digit images. "
    "A fixed 10% of all questions is never shown during training, so the *unseen* score "
    "measures whether the network learned arithmetic or memorised a table.",
    [r"i_t=\sigma(W_i x_t+U_i h_{t-1}+b_i),\quad f_t=\sigma(W_f x_t+U_f h_{t-1}+b_f),\quad "
     r"o_t=\sigma(W_o x_t+U_o h_{t-1}+b_o)",
     r"g_t=\tanh(W_g x_t+U_g h_{t-1}+b_g),\qquad c_t=f_t\odot c_{t-1}+i_t\odot g_t,\qquad "
     r"h_t=o_t\odot\tanh(c_t)",
     r"\text{teacher forcing: }\mathcal{L}=-\sum_{t=1}^{4}\log p_\theta\!\left(y_t\mid "
     r"y_{<t}^{\,\text{true}},\,x\right),\qquad\text{test: }\hat y_t=\arg\max_y p_\theta\!"
     r"\left(y\mid \hat y_{<t},\,x\right)"],
    try_this="train with the defaults, then set **Questions used** to 0.1 and train again: "
    "watch the gap open between *seen* and *unseen* exact match (and compare both runs in "
    "*Compare runs*). Then try **Teacher forcing** 0: the decoder must learn from its own "
    "mistakes and the loss falls more slowly.",
    note="The forget gate f decides how much of the old cell c to keep, the input gate i how "
    "much of the new candidate g to write, the output gate o how much of the cell to show as h. "
    "Teacher forcing feeds the decoder the *true* previous answer symbol during training; at "
    "test time it must use its own guesses.",
)

form = ConfigForm(PAGE, DEMO)
with st.sidebar:
    form.section("Task", ["modality", "ops", "train_fraction", "reverse_input"], modality={
        "kind": "radio", "format_func": lambda m: MODALITY_LABELS.get(m, m)}, ops={
        "format_func": {"+-": "+ and −", "+": "+ only", "-": "− only"}.get})
    form.section("Network", ["n_layers", "hidden", "embed_dim"])
    form.section("Training", ["teacher_forcing", "lr", "batch_size", "steps"],
                 steps=select_slider(200, 500, 1000, 2000, 3000, 4000, 6000, 10000, 20000))
    form.run_options()
cfg = form.config()


def examples_table(examples: list[dict], show_ok: bool) -> pd.DataFrame:
    rows = []
    for e in examples:
        row = {"question": e["question"], "true answer": e.get("correct", e.get("answer"))}
        if show_ok:
            row["model's answer"] = e["answer"]
            row["right?"] = "✓" if e["ok"] else "✗"
        rows.append(row)
    return pd.DataFrame(rows)


def show_example_images(examples: list[dict], title: str) -> None:
    """One row per example: question (images or text) = answer (images or text)."""
    img_key = "question_image" if "question_image" in examples[0] else "answer_image"
    if img_key not in examples[0]:
        return
    st.markdown(title)
    cols = st.columns(3)
    for k, e in enumerate(examples[:6]):
        if img_key == "question_image":
            cap = f"{e['question']} → model says {e['answer']}" if "ok" in e else (
                f"{e['question']} = {e['answer']}")
        else:
            cap = f"{e['question']} = {e.get('correct', e['answer'])}" + (
                f" · read as {e['answer']}" if "ok" in e else "")
        with cols[k % 3]:
            show_image(e[img_key], caption=cap, width="stretch")


def error_heatmap(err: np.ndarray) -> go.Figure:
    text = np.where(np.isnan(err), "", np.vectorize(lambda v: f"{v:.0%}")(np.nan_to_num(err)))
    fig = heatmap(err, "Error rate on unseen questions, by answer position and true symbol",
                  x=list(s2s.SYMBOLS), y=list(s2s.POSITIONS), colorscale="Reds", zmin=0, zmax=1,
                  x_title="true symbol", y_title="answer position", text=text, height=300)
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(type="category")
    return fig


def gate_figure(gates: np.ndarray, steps: list[str], layer: int) -> go.Figure:
    g = gates[:, layer]  # (T, 4, hidden)
    z = np.stack([g[:, 0].mean(-1), g[:, 1].mean(-1), np.abs(g[:, 2]).mean(-1),
                  g[:, 3].mean(-1)])
    fig = heatmap(z, f"Mean gate values in layer {layer + 1} at each time step",
                  x=steps, y=list(GATE_NAMES), colorscale="Viridis", zmin=0, zmax=1,
                  x_title="time step (encoder reads → decoder writes)", y_title="",
                  text=[[f"{v:.2f}" for v in row] for row in z], height=280)
    fig.update_xaxes(type="category")
    fig.update_yaxes(autorange="reversed")
    fig.add_vline(x=4.5, line_color="white", line_width=3)
    return fig


def current_model(view: RunView):
    """The newest frozen model of the current run (snapshots carry one every few seconds)."""
    return view.model


def ask_panel(view: RunView) -> None:
    st.subheader("Ask your own question")
    text = st.text_input("A question with two numbers from 0 to 99, e.g. 45+23 or 7-12",
                         value="45+23", key=f"{PAGE}.question", max_chars=40)
    model = current_model(view)
    if model is None:
        st.caption("Press **Train**: the model answers here as soon as it has trained a little.")
        return
    c = view.config
    try:
        res = s2s.ask(model, c, text)
    except ValueError as e:
        st.error(f"I can't read that: {e}.", icon=":material/error:")
        return
    status = {"unseen": "held out: the model never saw this question",
              "seen": "in the training questions",
              "unused": "not trained on (its operator was not selected, or it was left out by "
                        "*Questions used*)"}[res["status"]]
    verdict = "right" if res["ok"] else f"wrong; the answer is {res['correct']}"
    msg = f"**{res['question']} = {res['answer']}** ({verdict}) · this question is {status}."
    (st.success if res["ok"] else st.warning)(msg)
    cols = st.columns(2)
    if "question_image" in res:
        with cols[0]:
            show_image(res["question_image"], caption="the question as the encoder saw it")
    if "answer_image" in res:
        with cols[1]:
            show_image(res["answer_image"], caption="the answer the decoder drew (sign, "
                       "hundreds, tens, ones)")
    layer = 0
    if c.n_layers > 1:
        layer = st.segmented_control("Layer", list(range(c.n_layers)), default=c.n_layers - 1,
                                     format_func=lambda v: f"layer {v + 1}",
                                     key=f"{PAGE}.gate_layer")
        layer = c.n_layers - 1 if layer is None else layer
    st.plotly_chart(gate_figure(res["gates"], res["steps"], layer), key=f"{PAGE}.gates")
    st.caption("Each cell is a gate's value averaged over the hidden units (0 = closed, "
               "1 = open) while the encoder reads each symbol and the decoder writes each "
               "answer symbol. Watch the forget gate: where it drops, the cell throws old "
               "content away.")


def render(view: RunView) -> None:
    c = view.config
    train_q, held_q = s2s.split_questions(c)
    if view.latest is None:
        st.markdown(f"**{len(train_q):,}** training questions and **{len(held_q):,}** held-out "
                    f"(unseen) questions · modality **{MODALITY_LABELS[c.modality]}**. "
                    "Some training questions:")
        examples_block(s2s.preview(c, n=6, seed=c.seed), c.modality, trained=False)
        ask_panel(view)
        return
    m = view.latest.metrics
    hist = view.history
    last = hist.dropna(subset=["exact_match"]).iloc[-1] if "exact_match" in hist else m
    a, b, cc, d = st.columns(4)
    a.metric("Exact match, unseen", f"{last['exact_match']:.1%}")
    b.metric("Exact match, seen", f"{last['exact_match_seen']:.1%}")
    cc.metric("Symbols right, unseen", f"{last['symbol_acc']:.1%}")
    if "loss" in m:
        d.metric("Training loss", f"{m['loss']:.3f}")
    left, right = st.columns(2)
    with left:
        names = {"exact_match": "unseen questions", "exact_match_seen": "seen questions",
                 "exact_match_add": "unseen +", "exact_match_sub": "unseen −"}
        shown = [k for k in names if k in hist]
        show_chart(line_chart(hist, shown, "Exact match (all 4 answer symbols right)",
                                   y_title="fraction of questions", names=names, height=300),
                        key=f"{PAGE}.acc")
    with right:
        if "loss" in hist:
            unit = "nats per pixel" if c.modality == "text2image" else "nats per symbol"
            show_chart(line_chart(hist, ["loss"], "Training loss (teacher forcing)",
                                       y_title=unit, log_y=True, height=300,
                                       names={"loss": "loss"}),
                            key=f"{PAGE}.loss")
    art = view.latest.artifacts
    st.plotly_chart(error_heatmap(art["digit_errors"]), key=f"{PAGE}.errors")
    st.caption("Which answer symbols go wrong: rows are answer positions, columns the true "
               "symbol there (blank: never occurs). Carries make the tens and hundreds "
               "harder than the ones.")
    examples_block(art["examples"], c.modality, trained=True)
    ask_panel(view)


def examples_block(ex: list[dict], modality: str, trained: bool) -> None:
    """Example questions as a table (with the model's answers once ``trained``) beside their
    images: what the encoder reads, or what the decoder draws."""
    left, right = st.columns([1, 2])
    if trained:
        left.markdown("**Unseen questions, greedy answers**")
    left.dataframe(examples_table(ex, trained), hide_index=True,
                   key=f"{PAGE}.examples" if trained else f"{PAGE}.preview_table")
    images = {("image2text", False): "**What the model sees:**",
              ("image2text", True): "**Question images read by the encoder**",
              ("text2image", False): "**What the decoder must draw** (one real MNIST image per "
              "answer symbol; the best it can do is their average):",
              ("text2image", True): "**Generated answer images** (read back as the nearest "
              "average symbol image)"}
    with right:
        show_example_images(ex, images["image2text" if modality == "image2text" else
                                       "text2image", trained])


run_panel(PAGE, DEMO, cfg, render, compare=("exact_match", "exact_match_seen", "loss",
                                            "symbol_acc"),
          defer_first_paint=False)  # no chart before a run
