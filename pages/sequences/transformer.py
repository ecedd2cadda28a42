"""/transformer: a small GPT learns to copy, reverse, sort or add; attention maps form live."""

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from core.registry import get_demo
from core.sequences import transformer as tx
from ui.charts import MARGIN, heatmap, line_chart, metric_row, page_header, show_chart
from ui.form import select_slider
from ui.live import ConfigForm, RunView, run_panel

PAGE = "transformer"
DEMO = get_demo("transformer")
EXAMPLE_INPUT = {"copy": "31415926535", "reverse": "31415926535", "sort": "31415926535",
                 "add": "45+23", "addsub": "23-45"}

page_header(
    "Transformer attention",
    "A small decoder-only Transformer (GPT-style, written out in "
    "`core/sequences/transformer/model.py`) reads a question such as `31415926=` and writes "
    "the answer one token at a time. Each token looks "
    "back at the earlier ones through **self-attention**: every head scores every earlier "
    "token, turns the scores into weights with a softmax, and takes the weighted average of "
    "their values. The heatmaps below are those weights (rows: the token that is looking, "
    "columns: the tokens it looks at), and they change while the model trains. The held-out "
    "sequences are never used for training.",
    [r"\operatorname{Attention}(Q,K,V)=\operatorname{softmax}\!\left(\frac{QK^{\top}}"
     r"{\sqrt{d_k}} + M\right)V,\qquad Q = XW_Q,\; K = XW_K,\; V = XW_V,\; "
     r"M_{ij} = \begin{cases}0 & j\le i\\ -\infty & j>i\end{cases}",
     r"\operatorname{MHA}(X) = [\,\text{head}_1;\dots;\text{head}_h\,]\,W_O,\qquad "
     r"x \leftarrow x + \operatorname{MHA}(\operatorname{LN}(x)),\qquad "
     r"x \leftarrow x + \operatorname{MLP}(\operatorname{LN}(x))",
     r"X_p = E[\text{token}_p] + P_p,\qquad P_{p,2i} = \sin\!\big(p/10000^{2i/d}\big),"
     r"\quad P_{p,2i+1} = \cos\!\big(p/10000^{2i/d}\big)\;\text{(sinusoidal) or learned}"],
    try_this="train **reverse** and watch layer 1 draw an anti-diagonal (output *i* looks at "
    "input 9 − *i* for 8 digits); then set **Positional encoding** to *none*, train again and "
    "compare `exact_match` in *Compare runs*: without positions the model cannot tell where to "
    "look.",
)

form = ConfigForm(PAGE, DEMO)
with st.sidebar:
    st.header("Task")
    task = form.widget("task", kind="selectbox",
                       format_func=lambda t: {"copy": "copy", "reverse": "reverse",
                                              "sort": "sort", "add": "addition (45+23=68)",
                                              "addsub": "addition and subtraction"}[t])
    form.widget("length" if task in tx.SEQ_TASKS else "reverse_answer")
    form.section("Model", ["n_layers", "n_heads", "d_model", "pos_encoding", "dropout"],
                 pos_encoding={"kind": "selectbox"})
    form.section("Training", ["lr", "warmup", "lr_schedule", "batch_size", "steps",
                              "weight_decay"],
                 warmup=select_slider(0, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000),
                 steps=select_slider(50, 100, 200, 400, 600, 1000, 1500, 2000, 3000, 5000, 10000))
    form.run_options()
cfg = form.config()


# ------------------------------------------------------------------------------ figures


def attention_figure(att: np.ndarray, tokens: list[str], title: str) -> go.Figure:
    """A grid of heatmaps, one per (layer, head): att (L, H, T, T), rows = queries."""
    n_layers, n_heads, t, _ = att.shape
    fig = make_subplots(rows=n_layers, cols=n_heads, horizontal_spacing=0.03,
                        vertical_spacing=0.16 / n_layers ** 0.5 if n_layers > 1 else 0.0,
                        subplot_titles=[f"layer {li + 1} · head {h + 1}"
                                        for li in range(n_layers) for h in range(n_heads)])
    ticks = list(range(t))
    for li in range(n_layers):
        for h in range(n_heads):
            fig.add_heatmap(z=att[li, h], x=ticks, y=ticks, zmin=0, zmax=1, colorscale="Blues",
                            showscale=li == 0 and h == 0,
                            colorbar={"title": "weight", "len": 0.6},
                            customdata=[[f"{tokens[i]} ({i}) → {tokens[j]} ({j})"
                                         for j in range(t)] for i in range(t)],
                            hovertemplate="%{customdata}: %{z:.2f}<extra></extra>",
                            row=li + 1, col=h + 1)
    fig.update_xaxes(tickmode="array", tickvals=ticks, ticktext=tokens, tickangle=0,
                     tickfont={"size": 10}, title_text="")
    fig.update_yaxes(tickmode="array", tickvals=ticks, ticktext=tokens, autorange="reversed",
                     tickfont={"size": 10})
    for h in range(n_heads):
        fig.update_xaxes(title_text="attends to (key)", row=n_layers, col=h + 1)
    for li in range(n_layers):
        fig.update_yaxes(title_text="token looking (query)", row=li + 1, col=1)
    cell = 300 if n_heads <= 2 else (240 if n_heads <= 4 else 170)
    fig.update_layout(title=title, height=(cell + 60) * n_layers + 60, margin=dict(MARGIN, t=80))
    return fig


def example_table(examples: list[str], preds: list[str] | None, c) -> None:
    n_prompt, _ = tx.layout(c.task, c.length)
    rows = []
    for i, ex in enumerate(examples):
        row = {"question": ex[:n_prompt], "correct answer": tx.reading_order(
            c.task, ex[n_prompt:], c.reverse_answer)}
        if c.task in tx.ARITH_TASKS:
            row["tokens to write"] = ex[n_prompt:]
        if preds is not None:
            row["model writes"] = preds[i]
            row["right?"] = "✓" if preds[i] == ex[n_prompt:] else "✗"
        rows.append(row)
    st.dataframe(rows, hide_index=True, key=f"{PAGE}.examples_{preds is not None}")


def pe_panel(pe: np.ndarray | None, c, history) -> None:
    st.subheader("Positional encodings")
    st.markdown("Attention itself is blind to order: it compares tokens by content. The model "
                "only knows *where* a token is because a position vector is added to its "
                "embedding. Left: that vector for every position (rows); right: how similar "
                "positions are to each other (cosine similarity).")
    if pe is None:
        st.info("This run uses **no** positional encoding. A causal model can still count how "
                "many tokens it sees, but copying or reversing needs exact positions; compare "
                "its exact match with a run that has them.", icon=":material/info:")
    else:
        n = np.linalg.norm(pe, axis=1, keepdims=True)
        cos = (pe / np.maximum(n, 1e-9)) @ (pe / np.maximum(n, 1e-9)).T
        a, b = st.columns(2)
        m = float(np.abs(pe).max()) or 1.0
        a.plotly_chart(heatmap(pe, f"{c.pos_encoding.capitalize()} positional encoding",
                               x_title="dimension", y_title="position", zmin=-m, zmax=m,
                               height=300), key=f"{PAGE}.pe")
        b.plotly_chart(heatmap(cos, "Cosine similarity between positions", zmin=-1, zmax=1,
                               x_title="position", y_title="position", height=300),
                       key=f"{PAGE}.pe_cos")
    if history is not None and "exact_match_no_pe" in history.columns:
        last = history.iloc[-1]
        show_chart(line_chart(history, ["exact_match", "exact_match_no_pe"],
                                   "Ablation: held-out exact match with and without the "
                                   "positional encoding", y_title="exact match",
                                   names={"exact_match": "with positions",
                                          "exact_match_no_pe": "positions removed at test "
                                                               "time"}),
                        key=f"{PAGE}.ablation")
        st.markdown(f"Removing the positional encoding from the trained model changes held-out "
                    f"exact match from **{last['exact_match']:.1%}** to "
                    f"**{last['exact_match_no_pe']:.1%}**. To see what a model can learn "
                    "without positions at all, train with *Positional encoding = none*.")


def typed_panel(view: RunView) -> None:
    c = view.config
    st.subheader("Ask the model")
    n_prompt, n_answer = tx.layout(c.task, c.length)
    example = EXAMPLE_INPUT[c.task][:c.length] if c.task in tx.SEQ_TASKS else \
        EXAMPLE_INPUT[c.task]
    text = st.text_input(f"Your question for the **{c.task}** model (it writes the answer token "
                         "by token)", value=example, key=f"{PAGE}.typed", max_chars=40)
    model, step = current_model(view)
    if model is None:
        st.caption("Press **Train**; the model then answers your question as it learns.")
        return
    try:
        d = tx.decode_typed(model, c.task, c.length, text, c.reverse_answer)
    except ValueError as e:
        st.error(f"Can't ask that: {e}.", icon=":material/error:")
        return
    ok = d.answer == d.expected
    shown = tx.reading_order(c.task, d.answer, c.reverse_answer)
    st.markdown(f"`{d.prompt}` → the model writes **`{d.answer}`**"
                + (f" (read: **{shown}**)" if shown != d.answer else "")
                + (" ✓ correct" if ok else f" ✗ (correct: `{d.expected}`)")
                + f" · model after step {step}")
    rows, ctx = [], d.prompt
    for k in range(n_answer):
        p = d.probs[k]
        order = np.argsort(-p)
        rows.append({"step": k + 1, "reads": ctx, "writes": tx.VOCAB[order[0]],
                     "probability": float(p[order[0]]),
                     "runner-up": f"{tx.VOCAB[order[1]]} ({p[order[1]]:.2f})"})
        ctx += d.answer[k]
    st.dataframe(rows, hide_index=True, key=f"{PAGE}.steps",
                 column_config={"probability": st.column_config.ProgressColumn(
                     "probability", min_value=0.0, max_value=1.0, format="%.2f")})
    st.plotly_chart(attention_figure(d.attention, d.tokens,
                                     "Attention while answering your question (row i = the "
                                     "step that wrote token i+1)"), key=f"{PAGE}.typed_att")


@st.cache_data(show_spinner=False, max_entries=8)
def preview(c: tx.TransformerConfig) -> tx.Preview:
    return tx.preview(c)


def current_model(view: RunView) -> tuple[tx.GPT | None, int]:
    """The newest frozen model of the current run and its step (snapshots carry one every
    second or so)."""
    return view.model, view.model_step


def render_preview(view: RunView) -> None:
    c = view.config
    p = preview(c)
    st.markdown(f"**Held-out examples** ({p.n_test} held-out sequences; training draws fresh "
                "ones every step):")
    example_table(p.examples, None, c)
    st.subheader("Attention maps")
    st.caption("Before training: the freshly initialized model spreads its attention almost "
               "evenly over the earlier tokens. Press **Train** and watch structure appear.")
    st.plotly_chart(attention_figure(p.attention, p.tokens,
                                     f"Attention on “{p.examples[0]}” at step 0"),
                    key=f"{PAGE}.attention0")
    typed_panel(view)
    if c.pos_encoding == "learned":
        st.caption("Learned positional encodings start as small random vectors; training "
                   "shapes them.")
    pe_panel(p.pos_encoding, c, None)


def render(view: RunView) -> None:
    c = view.config
    latest = view.latest
    if latest is None:
        render_preview(view)
        return
    m = latest.metrics
    tiles = {"Training loss": f"{m['loss']:.4f}", "Held-out exact match": f"{m['exact_match']:.1%}",
             "Held-out token accuracy": f"{m['token_acc']:.1%}"}
    if "exact_match_no_pe" in m:
        tiles["Exact match, positions removed"] = f"{m['exact_match_no_pe']:.1%}"
    metric_row(tiles)
    a, b = st.columns(2)
    show_chart(line_chart(view.history, ["loss", "test_loss"], "Loss (answer tokens)",
                              y_title="cross-entropy (nats/token)", log_y=True,
                              names={"loss": "training", "test_loss": "held-out"}),
                   key=f"{PAGE}.loss", where=a)
    show_chart(line_chart(view.history, ["exact_match", "token_acc"],
                              "Accuracy on held-out sequences", y_title="fraction correct",
                              names={"exact_match": "exact match (whole answer)",
                                     "token_acc": "token accuracy"}), key=f"{PAGE}.acc", where=b)

    st.subheader("Attention maps")
    art = latest.artifacts
    examples, preds = art["examples"], art["predictions"]
    n_prompt, _ = tx.layout(c.task, c.length)

    def label(k: int) -> str:
        mark = "✓" if preds[k] == examples[k][n_prompt:] else "✗"
        return f"{examples[k][:n_prompt]} {examples[k][n_prompt:]}   (model: {preds[k]} {mark})"

    i = st.selectbox("Held-out example", list(range(len(examples))), key=f"{PAGE}.example",
                     format_func=label)
    hint = {"reverse": "Reversal: rows below the `=` should light up along an anti-diagonal.",
            "copy": "Copy: each answer row should look exactly one block back (a shifted "
                    "diagonal).",
            "sort": "Sort: answer rows look for the next-smallest digit, wherever it is.",
            "add": "Addition: answer rows look at the pair of digits they add (and the carry).",
            "addsub": "Addition/subtraction: answer rows look at the operator and the digit "
                      "pair they combine."}[c.task]
    st.caption(f"{hint} Each panel is one head; rows are the token doing the looking, columns "
               "the tokens it looks at (the upper triangle is masked: no peeking ahead).")
    ex = examples[i]
    st.plotly_chart(attention_figure(art["attention"][i], list(ex[:-1]),
                                     f"Attention on “{ex}” at step {latest.step}"),
                    key=f"{PAGE}.attention")
    with st.expander("All held-out examples shown"):
        example_table(examples, preds, c)
    typed_panel(view)
    pe_panel(art["pos_encoding"], c, view.history)


run_panel(PAGE, DEMO, cfg, render,
          compare=("exact_match", "loss", "test_loss", "token_acc", "exact_match_no_pe"))
