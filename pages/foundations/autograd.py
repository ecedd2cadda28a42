"""/autograd: type an expression, step through its graph forward and backward, check it against
torch.autograd, press the classic pitfalls, and train a custom nn.Module live.
The engine and the trainer live in the package core/foundations/autograd/."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from core.foundations import autograd as ag
from core.protocol import Demo
from core.pyast import getsource
from core.registry import get_demo
from ui.charts import MARGIN, PALETTE, line_chart, metric_row, page_header, plain, show_chart
from ui.form import select_slider
from ui.live import ConfigForm, RunView, first_paint_deferred, run_panel

PAGE, PAGE_X = "autograd", "autograd_expr"
LO, HI = -5.0, 5.0  # slider range of the input variables

page_header(
    "Autograd",
    "Every operation on a tensor that requires a gradient records itself in a graph: its "
    "inputs, and how to turn the gradient of its output into gradients of its inputs. "
    "`backward()` walks that graph from the output in reverse topological order and applies the "
    "chain rule at each node. Below, a scalar engine of about 100 lines (after Karpathy's "
    "micrograd) does exactly that on the expression you type, and torch checks every number.",
    [r"\frac{\partial L}{\partial v} = \sum_{p\,\in\,\mathrm{parents}(v)} "
     r"\frac{\partial p}{\partial v}\,\frac{\partial L}{\partial p}"
     r"\qquad\text{(the chain rule, summed over every use of } v\text{)}"],
    try_this="pick the **micrograd README** example and drag the **Step** slider from the "
    "right end back through the backward pass: each step adds one term of the chain rule to a "
    "node's grad (the red edge). Then press the **Reused node** pitfall.",
)
deferred = first_paint_deferred()

# the explorer has settings (in the URL) but nothing to train: a demo that is never run
xform = ConfigForm(PAGE_X, Demo(name="autograd_expr", config_cls=ag.ExpressionConfig,
                                train=lambda cfg: iter(())))
expr_key = xform.key("expr")
if expr_key not in st.session_state:
    st.session_state[expr_key] = xform.current("expr")


def _example() -> None:
    pick = st.session_state.get(f"{PAGE_X}.example")
    if pick in ag.EXAMPLES:
        text, values = ag.EXAMPLES[pick]
        st.session_state[expr_key] = text
        for k, v in ag.parse_values(values).items():
            st.session_state[f"{PAGE_X}.var.{k}"] = v
        program = ag.parse_program(text)
        for k, v in program.defaults.items():
            st.session_state[f"{PAGE_X}.var.{k}"] = v


st.header("Your expression as a graph")
st.pills("Examples", list(ag.EXAMPLES), key=f"{PAGE_X}.example", on_change=_example)
st.text_area("Expression (or a few lines of `name = expression`; `a = 2.0` declares an input)",
             key=expr_key, height=110, max_chars=ag.MAX_CHARS,
             help=f"Numbers, names, + - * / **, and {', '.join(ag.FUNCTIONS)}. Nothing else "
             "runs: the text is parsed, never evaluated as Python.")
text = st.session_state[expr_key]
try:
    program = ag.parse_program(text)
except ag.ExprError as e:
    st.error(plain(str(e)), icon=":material/error:")
    program = None

values: dict[str, float] = {}
if program is not None and program.inputs:
    linked = ag.parse_values(xform.current("values"))
    cols = st.columns(min(len(program.inputs), 3))
    for i, name in enumerate(program.inputs):
        key = f"{PAGE_X}.var.{name}"
        if key not in st.session_state:
            start = linked.get(name, program.defaults.get(name, 1.0))
            st.session_state[key] = float(min(max(start, LO), HI))
        values[name] = cols[i % len(cols)].slider(name, LO, HI, step=0.1, key=key)
xcfg = xform.config(expr=text if program is not None else xform.current("expr"),
                    values=", ".join(f"{k}={v:g}" for k, v in values.items())
                    if values else xform.current("values"))

graph = None
if program is not None:
    try:
        graph = ag.build_graph(program, values)
    except ag.ExprError as e:
        st.error(plain(str(e)), icon=":material/error:")

if graph is not None:
    all_steps = ag.steps(graph)
    n = len(all_steps)
    step_key = f"{PAGE_X}.step.{n}"
    st.session_state.setdefault(step_key, n - 1)
    k = st.slider("Step (forward in topological order, then backward in reverse)", 0, n - 1,
                  key=step_key)
    s = all_steps[k]
    st.markdown(f"**Step {k + 1} of {n} · {s.phase}:** " + plain(s.text))
    if deferred:
        st.caption(":material/hourglass_top: Drawing the graph…")
    else:
        st.graphviz_chart(ag.to_dot(graph, k, all_steps))
    st.caption("Boxes are inputs (blue) and constants (grey); ellipses are operations. `?` is a "
               "value not computed yet, `·` a gradient not reached yet. At the last step every "
               "grad is ∂output/∂node.")

    st.subheader("Node inspector: the chain-rule sum")
    names = [ag.name_of(v, graph) for v in graph.nodes]
    pick = st.selectbox("Node", range(len(names)), format_func=lambda i: names[i],
                        index=graph.index(next(iter(graph.inputs.values())))
                        if graph.inputs else 0, key=f"{PAGE_X}.inspect")
    rows = ag.chain_rule(graph, pick)
    node = graph.nodes[pick]
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True, key=f"{PAGE_X}.chain")
        terms = " + ".join(f"{r['∂parent/∂node']:.4g}·{r['parent.grad']:.4g}" for r in rows)
        st.markdown(plain(f"{names[pick]}.grad = {terms} = {node.grad:.6g}"))
    else:
        st.markdown(plain(f"{names[pick]} is the output: its grad is 1 by definition."))

    st.subheader("Checked against torch.autograd and finite differences")
    try:
        checks = ag.check_gradients(program, values)
    except ag.ExprError as e:
        checks = []
        st.warning(plain(f"torch could not evaluate it: {e}"))
    if checks:
        naive = ag.naive_gradients(program, values)
        table = pd.DataFrame(checks)
        if naive is not None:
            table["naive recursive backward"] = [naive[r["variable"]] for r in checks]
        st.dataframe(table, hide_index=True, key=f"{PAGE_X}.checks",
                     column_config={c: st.column_config.NumberColumn(format="%.6g")
                                    for c in table.columns if c != "variable"})
        st.caption("torch.autograd.grad runs the same expression on float64 tensors; finite "
                   "differences are (f(x+h) − f(x−h)) / 2h with h = 1e-6. The last column is a "
                   "recursive backward that *assigns* instead of accumulating: it is right only "
                   "where no node is used twice" + (" (skipped: this graph has too many paths)."
                                                   if naive is None else "."))

# ----------------------------------------------------------------------------- pitfalls
st.header("Pitfalls")


def _source(fn) -> str:
    """A function's source without its docstring."""
    return re.sub(r'\n\s*""".*?"""', "", getsource(fn), count=1, flags=re.S).strip()


PITFALLS = {"reused": "Reused node (b = a + a)", "twice": "backward twice / no zero_grad",
            "cut": "requires_grad=False and detach"}
pit = st.segmented_control("Press a pitfall", list(PITFALLS), format_func=PITFALLS.get,
                           key=f"{PAGE_X}.pitfall", default="reused")
if pit == "reused":
    r = ag.pitfall_reused_node(3.0)
    right, wrong = st.columns(2)
    right.code(_source(ag.backward), language="python")
    wrong.code(_source(ag.naive_backward) + "\n\na = Value(3.0); b = a + a   # a is used twice",
               language="python")
    metric_row({"∂b/∂a, topological (+=)": r["db/da correct"],
                "∂b/∂a, naive (=)": r["db/da naive"],
                "∂c/∂a for c = (a+a)·a, topological": r["dc/da correct"],
                "∂c/∂a, naive": r["dc/da naive"]}, fmt="{:g}")
    st.markdown("`a` feeds `b` along two edges; each contributes ∂b/∂a = 1. The topological "
                "backward *adds* both (`+=`): 2. The recursive version *assigns* (`=`), so the "
                "second path overwrites the first: 1. torch accumulates, like `+=`.")
elif pit == "twice":
    r = ag.pitfall_accumulate(2.0, 3)
    st.code("x = torch.tensor(2.0, requires_grad=True); y = x * x\n"
            "for _ in range(3):\n    y.backward(retain_graph=True)   # no x.grad = None / "
            "opt.zero_grad()\n    print(x.grad)", language="python")
    metric_row({"x.grad without zero_grad": ", ".join(f"{g:g}" for g in r["without zero_grad"]),
                "with zero_grad before each": ", ".join(f"{g:g}" for g in r["with zero_grad"])})
    st.markdown("Gradients **accumulate** into `.grad` (useful for gradient accumulation over "
                "micro-batches), so a training loop must zero them before each backward. "
                "Without `retain_graph=True` the second call fails, because the saved tensors "
                "were freed. torch says:")
    st.code(r["second backward error"], language=None)
else:
    r = ag.pitfall_cut_graph(2.0)
    st.code("x = torch.tensor(2.0, requires_grad=True)\n"
            "(x * x * x).backward()            # d/dx x³ = 3x² = 12\n"
            "z = (x * x).detach() * x; z.backward()   # x² treated as a constant: 4\n"
            "w = torch.tensor(3.0)              # requires_grad=False: a constant\n"
            "(w * x).backward(); w.grad         # None\n"
            "with torch.no_grad(): q = x * x    # q.grad_fn is None", language="python")
    metric_row({"d(x³)/dx": r["d(x³)/dx"], "d(detach(x²)·x)/dx": r["d(detach(x²)·x)/dx"],
                "w.grad": str(r["w.grad (requires_grad=False)"]),
                "q.grad_fn under no_grad": str(r["grad_fn under no_grad"])}, fmt="{:g}")
    st.markdown("`detach()` returns the same values without a history, so the graph is cut "
                "there and its branch contributes nothing; a tensor with `requires_grad=False` "
                "is a constant, and under `torch.no_grad()` nothing is recorded at all (use it "
                "for evaluation and for updating weights by hand).")

# ----------------------------------------------------------------------------- nn.Module
st.header("A custom layer as an nn.Module")
st.markdown("A module is a class: `__init__` creates its **parameters** (`nn.Parameter`, "
            "learned and returned by `.parameters()`) and **buffers** (`register_buffer`: "
            "saved in the `state_dict` and moved by `.to()`, but never learned); `forward` "
            "says what to compute, and autograd records the graph as it runs. This RBF layer "
            "learns K centres on two iris measurements (Fisher's 150 flowers); a linear layer "
            "on top turns the K bumps into 3 species scores.")
st.code(getsource(ag.RBF), language="python")
form = ConfigForm(PAGE, get_demo("module"))
f1, f2, f3, f4 = st.columns(4)
with f1:
    form.widget("features", kind="segmented")
with f2:
    form.widget("n_centers")
with f3:
    form.widget("lr")
with f4:
    form.widget("steps", **select_slider(50, 100, 200, 400, 800, 1500, 3000))
form.run_options()
cfg = form.config()
SPECIES = ("setosa", "versicolor", "virginica")


def boundary_figure(art: dict | None, data: tuple, features: str, title: str) -> go.Figure:
    Xtr, ytr, Xte, yte = data
    fig = go.Figure()
    if art is not None:
        prob = art["prob"]
        cls = prob.argmax(-1).astype(float)
        fig.add_heatmap(x=art["xs"], y=art["ys"], z=cls, colorscale=[
            [0, PALETTE[0]], [0.5, PALETTE[1]], [1, PALETTE[2]]], opacity=0.25, showscale=False,
            hoverinfo="skip")
    for c, name in enumerate(SPECIES):
        for X, y, sym, split in ((Xtr, ytr, "circle", "train"), (Xte, yte, "circle-open", "test")):
            sel = y == c
            fig.add_scatter(x=X[sel, 0], y=X[sel, 1], mode="markers", name=f"{name} ({split})",
                            marker={"color": PALETTE[c], "symbol": sym, "size": 7})
    if art is not None:
        fig.add_scatter(x=art["centers"][:, 0], y=art["centers"][:, 1], mode="markers",
                        name="RBF centres", marker={"symbol": "x", "size": 12, "color": "black"})
    a, b = ag.IRIS_NAMES[features]
    fig.update_layout(title=title, height=420, margin=MARGIN, xaxis_title=a, yaxis_title=b,
                      legend={"font": {"size": 10}})
    return fig


def render_module(view: RunView) -> None:
    c = view.config
    if view.latest is None:
        data = tuple(t.numpy() for t in ag.iris(c.features, c.seed))
        show_chart(boundary_figure(None, data, c.features, "Iris flowers (press Train)"),
                   key=f"{PAGE}.preview")
        model = ag.build_module(c, ag.iris(c.features, c.seed)[0])
        _anatomy(model, "a freshly built model")
        return
    art, m = view.latest.artifacts, view.latest.metrics
    metric_row({"Train loss": m["loss"], "Train accuracy": m["train_acc"],
                "Test accuracy": m["test_acc"]})
    left, right = st.columns([3, 2])
    show_chart(boundary_figure(art, art["data"], c.features,
                               f"Predicted species and RBF centres, step {view.latest.step}"),
               key=f"{PAGE}.boundary", where=left)
    with right:
        show_chart(line_chart(view.history, ["loss"], "Cross-entropy", y_title="nats",
                              height=210), key=f"{PAGE}.loss")
        show_chart(line_chart(view.history, ["train_acc", "test_acc"], "Accuracy",
                              y_title="accuracy", height=210), key=f"{PAGE}.acc")
    if view.model is not None:
        _anatomy(view.model, f"the trained model (step {view.model_step})")


def _anatomy(model, what: str) -> None:
    a = ag.module_anatomy(model)
    st.markdown(f"What `nn.Module` tracks for {what}:")
    c1, c2, c3 = st.columns(3)
    params = pd.DataFrame(a["parameters"])
    if "trained" in what:  # a frozen copy for display: its requires_grad is off on purpose
        params = params.drop(columns="requires_grad")
    c1.caption("`named_parameters()`: learned (what the optimizer gets)")
    c1.dataframe(params, hide_index=True)
    c2.caption("`named_buffers()`: saved, not learned (`calls` counts training forwards)")
    bufs = pd.DataFrame(a["buffers"])
    bufs["value"] = [np.array2string(b.detach().cpu().numpy(), precision=3)
                     for _, b in model.named_buffers()]
    c2.dataframe(bufs, hide_index=True)
    c3.caption("`state_dict()`: both, by key (what `torch.save` writes)")
    c3.dataframe(pd.DataFrame(a["state_dict"]), hide_index=True)


final = run_panel(PAGE, get_demo("module"), cfg, render_module,
                  compare=("test_acc", "loss", "train_acc"))

st.subheader("The autograd graph of one forward pass")
st.markdown("This is the graph torch records for `cross_entropy(model(x), y)` on the 105 "
            "training flowers, read from `loss.grad_fn.next_functions`: one node per backward "
            "function, parameters (blue) by name, each edge labelled with the shape of the "
            "tensor it carries. Each module is collapsed into one box; expand it to see the "
            "operations its `forward` recorded. Buffers never appear: nothing is learned "
            "through them.")
Xg, yg, _, _ = ag.iris(cfg.features, cfg.seed)
trained = final.model is not None and final.config == cfg
shown = final.model if trained else ag.build_module(cfg, Xg)
expanded = st.pills("Expand modules", ["rbf", "out"], selection_mode="multi",
                    key=f"{PAGE}.expand", format_func={"rbf": "rbf (RBF)",
                                                       "out": "out (Linear)"}.get)
if deferred:
    st.caption(":material/hourglass_top: Drawing the graph…")
else:
    st.graphviz_chart(ag.network_graph(shown, Xg, yg, tuple(expanded or ())))
st.caption("Drawn for the trained model of the finished run." if trained else
           "Drawn for a freshly initialised model (the graph's shape does not depend on the "
           "weights).")
