"""Graph neural networks: node classification live on the graph, message passing, over-smoothing,
graph classification. Training code lives in the package core/graphs/gnn/."""

from __future__ import annotations

import dataclasses

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from core.graphs import gnn
from core.registry import get_demo
from ui.charts import MARGIN, PALETTE, class_scatter, data_note, line_chart, page_header, show_chart
from ui.form import select_slider
from ui.live import ConfigForm, RunView, first_paint_deferred, run_panel

PAGE = "gnn"
MAX_DRAWN = 300  # nodes drawn in the graph view (Cora: a sampled neighbourhood)

page_header(
    "Graph neural networks",
    "A graph neural network labels every node of a graph from a handful of labelled ones: each "
    "layer replaces a node's vector by a weighted average of its neighbours' (message passing), "
    "so after *L* layers a node has heard from everything *L* hops away. Below, the nodes are "
    "coloured by the class the network predicts while it trains (outline = true class, stars = "
    "the labelled nodes it learns from), next to the last hidden layer squeezed to 2-D.",
    [r"\textbf{GCN:}\quad H^{(l+1)} = \sigma\!\left(\tilde D^{-1/2}\,\tilde A\,\tilde D^{-1/2}"
     r"\,H^{(l)} W^{(l)}\right),\qquad \tilde A = A + I,\ \ \tilde D_{ii} = \textstyle\sum_j "
     r"\tilde A_{ij}",
     r"\textbf{GAT:}\quad \alpha_{ij} = \frac{\exp\big(\mathrm{LeakyReLU}(a^\top[W h_i \,\|\, "
     r"W h_j])\big)}{\sum_{k \in \mathcal N(i) \cup \{i\}} \exp\big(\mathrm{LeakyReLU}(a^\top"
     r"[W h_i \,\|\, W h_k])\big)},\qquad h_i' = \sigma\Big(\sum_{j} \alpha_{ij} W h_j\Big)"],
    try_this="on the **karate** graph with **1 labelled node per class**, train **GCN**, then "
    "switch the model to **MLP** and compare test accuracy in *Compare runs*: without edges the "
    "MLP cannot generalise from 4 labels. Then pick **sbm** and drag **SBM homophily** down to "
    "0.2: now the edges mislead and the MLP wins.",
)

form = ConfigForm(PAGE, get_demo("gnn"))
with st.sidebar:
    st.header("Graph")
    ds = form.widget("dataset", kind="selectbox")
    if ds == "sbm":
        form.widgets(["sbm_nodes", "sbm_classes", "avg_degree", "homophily", "feature_signal"])
    form.widget("labels_per_class")
    st.header("Model")
    model_kind = form.widget("model", kind="selectbox", format_func=lambda m: gnn.MODEL_NAMES[m])
    form.widgets(["n_layers", "hidden"])
    if model_kind == "gat":
        form.widget("n_heads")
    form.widget("dropout")
    form.section("Training", ["lr", "weight_decay", "epochs", "patience"],
                 weight_decay={"format_func": lambda v: f"{v:g}"},
                 epochs=select_slider(20, 50, 100, 200, 300, 500, 1000, 2000))
    form.run_options()

cfg = form.config()  # a cross-field error (e.g. too few SBM nodes) shows and falls back


@st.cache_resource(show_spinner="Loading the graph…", max_entries=8)
def graph_for(c: gnn.GnnConfig):
    return gnn.make_graph(c)


def _graph_key(c: gnn.GnnConfig) -> gnn.GnnConfig:
    """Only the fields that change the graph and its split (so other sliders reuse the cache)."""
    keep = ("dataset", "labels_per_class", "seed", "sbm_nodes", "sbm_classes", "avg_degree",
            "homophily", "feature_signal")
    return dataclasses.replace(gnn.GnnConfig(), **{k: getattr(c, k) for k in keep})


@st.cache_data(show_spinner=False, max_entries=16)
def drawn_subgraph(key: str, _data, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nodes to draw, their edges (pairs of positions) and a spring layout, cached per graph."""
    nodes = gnn.sample_nodes(_data, MAX_DRAWN, seed)
    return (nodes, *gnn.subgraph_layout(_data, nodes))


def graph_figure(d, nodes, edges, xy, pred: np.ndarray | None, title: str,
                 highlight: dict[int, float] | None = None) -> go.Figure:
    """Nodes coloured by prediction (true class before training), outlined by true class."""
    y = d.y.numpy()[nodes]
    train_m = d.train_mask.numpy()[nodes]
    fill = y if pred is None else pred[nodes]
    fig = go.Figure()
    ex = np.full(len(edges) * 3, np.nan)
    ey = np.full(len(edges) * 3, np.nan)
    if len(edges):
        ex[0::3], ex[1::3] = xy[edges[:, 0], 0], xy[edges[:, 1], 0]
        ey[0::3], ey[1::3] = xy[edges[:, 0], 1], xy[edges[:, 1], 1]
    fig.add_scatter(x=ex, y=ey, mode="lines", line={"color": "#bbbbbb", "width": 0.8},
                    hoverinfo="skip", showlegend=False)
    names = list(getattr(d, "class_names", [])) or [str(c) for c in range(d.num_classes)]
    for labelled in (False, True):
        sel = train_m == labelled
        if not sel.any():
            continue
        size = 16 if labelled else (9 if len(nodes) > 100 else 14)
        fig.add_scatter(
            x=xy[sel, 0], y=xy[sel, 1], mode="markers",
            name="labelled (train)" if labelled else "unlabelled",
            marker={"color": [PALETTE[int(c) % 10] for c in fill[sel]], "size": size,
                    "symbol": "star" if labelled else "circle",
                    "line": {"color": [PALETTE[int(c) % 10] for c in y[sel]], "width": 3}},
            text=[f"node {v}<br>true: {names[int(t)]}<br>predicted: {names[int(p)]}"
                  for v, t, p in zip(nodes[sel], y[sel], fill[sel])],
            hoverinfo="text")
    for c in range(d.num_classes):  # legend entries for the class colours
        fig.add_scatter(x=[None], y=[None], mode="markers", name=names[c],
                        marker={"color": PALETTE[c % 10], "size": 10})
    fig.update_layout(title=title, height=480, margin=MARGIN, legend={"orientation": "h",
                                                                      "y": -0.02})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False, scaleanchor="x")
    return fig


def embedding_figure(d, emb: np.ndarray, title: str) -> go.Figure:
    names = list(getattr(d, "class_names", [])) or [str(c) for c in range(d.num_classes)]
    return class_scatter(emb, d.y.numpy()[: len(emb)], names, title,
                         highlight=d.train_mask.numpy()[: len(emb)], index=np.arange(len(emb)),
                         index_label="node", size=5, opacity=0.7)


def messages_figure(mp: dict, d, layer: int, node: int) -> go.Figure:
    """Bars: each neighbour's coefficient (coloured by its true class); diamonds: the norm of
    what it adds."""
    labels = [f"{'self ' if v == node else ''}{int(v)}" for v in mp["neighbours"]]
    colours = [PALETTE[int(d.y[int(v)]) % 10] for v in mp["neighbours"]]
    fig = go.Figure()
    fig.add_bar(x=labels, y=mp["coef"], name="coefficient", marker_color=colours)
    fig.add_scatter(x=labels, y=mp["contribution"], name="‖contribution‖", yaxis="y2",
                    mode="markers", marker={"color": "black", "size": 9, "symbol": "diamond"})
    coef_name = {"gcn": "1/√(d̃ᵢ d̃ⱼ)", "gat": "attention αᵢⱼ (mean over heads)",
                 "sage": "weight (self: root term, others: 1/deg)", "mlp": "self only"}
    fig.update_layout(title=f"Layer {layer + 1} messages into node {node}", height=420,
                      margin=MARGIN, xaxis_title="neighbour (bar colour = its true class)",
                      yaxis_title=coef_name[mp["kind"]],
                      yaxis2={"title": "‖coef · W hⱼ‖", "overlaying": "y", "side": "right"},
                      legend={"orientation": "h", "y": 1.1})
    return fig


@st.cache_data(show_spinner=False, max_entries=32)
def contributions(cfg_key: str, run_id: int, node: int, layer: int, *, _model, _data, _cfg) -> dict:
    """The message-passing explorer's forward pass, once per (settings, run, node, layer): a
    rerun of the page (any widget) does not pay for it again."""
    model = _model if _model is not None else gnn.initial_model(_cfg, _data)
    return gnn.neighbour_contributions(model, _data, node, layer)


@st.cache_data(show_spinner="Running t-SNE…", max_entries=8)
def tsne_2d(hidden: np.ndarray, seed: int) -> np.ndarray:
    return gnn.tsne_2d(hidden, seed=seed)


data = graph_for(_graph_key(cfg))
data_note(data.note)
nodes, edges, xy = drawn_subgraph(repr(_graph_key(cfg)), data, cfg.seed)


def render(view: RunView) -> None:
    d = graph_for(_graph_key(view.config))
    if d.num_nodes != data.num_nodes:
        return
    sub = "" if len(nodes) == d.num_nodes else \
        f" (a {len(nodes)}-node sample of {d.num_nodes}: 2-hop neighbourhoods of test nodes)"
    latest = view.latest
    if latest is None or "pred" not in latest.artifacts:
        st.plotly_chart(graph_figure(d, nodes, edges, xy, None, "The graph, coloured by true "
                                     "class (press Train)" + sub), key=f"{PAGE}.graph")
        st.caption(f"{d.num_nodes} nodes, {d.edge_index.shape[1] // 2} edges, {d.num_classes} "
                   f"classes, {d.num_features} features per node; "
                   f"{int(d.train_mask.sum())} labelled (stars), {int(d.val_mask.sum())} "
                   f"validation, {int(d.test_mask.sum())} test nodes.")
        return
    m = latest.metrics
    a, b, c, e, f = st.columns(5)
    a.metric("Epoch", f"{latest.step}")
    b.metric("Train accuracy", f"{m['train_acc']:.1%}")
    c.metric("Validation accuracy", f"{m['val_acc']:.1%}")
    e.metric("Test accuracy", f"{m['test_acc']:.1%}")
    if np.isfinite(m.get("best_val_test_acc", np.nan)):
        f.metric("Test acc., selected epoch", f"{m['best_val_test_acc']:.1%}",
                 help=f"epoch {int(m['selected_epoch'])}: the last epoch whose validation "
                 "accuracy and validation loss were both the best so far. Choosing the model on "
                 "validation nodes (never on test nodes) is how papers report test accuracy.")
    if latest.final and view.config.patience and latest.step < view.config.epochs:
        st.caption(f"Early stopping ended the run at epoch {latest.step}: no better validation "
                   f"loss or accuracy for {view.config.patience} epochs.")
    left, right = st.columns([1, 1])
    with left:
        st.plotly_chart(graph_figure(d, nodes, edges, xy, latest.artifacts["pred"],
                                     f"Predictions at epoch {latest.step}" + sub),
                        key=f"{PAGE}.graph")
        st.caption("Fill = predicted class, outline = true class: a node whose fill and outline "
                   "differ is misclassified.")
    with right:
        emb, method = latest.artifacts.get("embedding"), "PCA"
        hidden = latest.artifacts.get("hidden")
        what = "last hidden layer" if view.config.n_layers > 1 else "output logits"
        if latest.final and hidden is not None and hidden.shape[1] > 2:
            method = st.radio("Projection", ["PCA", "t-SNE"], horizontal=True,
                              key=f"{PAGE}.projection",
                              help="PCA is linear and updates live; t-SNE (openTSNE) keeps "
                              "neighbours together and shows the clusters of the finished run.")
            if method == "t-SNE":
                emb = tsne_2d(hidden, view.config.seed)
        if emb is not None:
            st.plotly_chart(embedding_figure(d, emb, f"Node embeddings: {what} ({method} to "
                                             "2-D)"), key=f"{PAGE}.embedding")
    show_chart(line_chart(view.history, ["train_acc", "val_acc", "test_acc"], "Accuracy per epoch",
                          x="step", y_title="accuracy", names={"train_acc": "train",
                                                               "val_acc": "validation",
                                                               "test_acc": "test"}),
               key=f"{PAGE}.acc")


final = run_panel(PAGE, get_demo("gnn"), cfg, render,
                  compare=("test_acc", "val_acc", "train_acc", "loss"))

# ------------------------------------------------------------------ message passing explorer
st.subheader("Message passing, one node at a time")
st.markdown("Pick a node and a layer: the node's new vector is a weighted sum of its neighbours' "
            "(and its own) transformed vectors. The bars show each neighbour's coefficient — the "
            "normalized adjacency entry $1/\\sqrt{\\tilde d_i \\tilde d_j}$ for GCN, the "
            "attention $\\alpha_{ij}$ for GAT, $1/\\deg(i)$ for GraphSAGE's mean — and how much "
            "it actually adds, $\\lVert \\alpha_{ij} W h_j \\rVert$.")
trained = (final.latest is not None and final.latest.model is not None
           and final.config == cfg)
c1, c2, c3 = st.columns(3)
default_node = int(data.test_mask.nonzero()[0]) if data.test_mask.any() else 0
node = int(c1.number_input("Node id", 0, data.num_nodes - 1, default_node, key=f"{PAGE}.node"))
layer = int(c2.number_input("Layer", 1, cfg.n_layers, 1, key=f"{PAGE}.layer")) - 1
hops = int(c3.number_input("Hops to draw", 1, 3, 2, key=f"{PAGE}.hops"))
if trained:
    st.caption("Using the trained model of the finished run.")
else:
    st.caption("No finished run with these settings: showing freshly initialised weights "
               "(GCN coefficients depend only on degrees; GAT attention is learned, so train "
               "first).")
try:
    mp = contributions(repr(cfg), final.run.id if trained else 0, node, layer,
                       _model=final.latest.model if trained else None, _data=data, _cfg=cfg)
except ValueError as e:
    st.error(f"Can't show that node: {e}.")
    mp = None
if mp is not None and first_paint_deferred():
    st.caption(":material/hourglass_top: Drawing the neighbourhood…")
elif mp is not None:
    subset, shown_hops = gnn.neighbourhood(data, node, hops)
    if shown_hops < hops:
        st.warning(f"The {hops}-hop neighbourhood is too large to draw; drawing its 1-hop part "
                   f"only ({len(subset)} nodes).")
    left, right = st.columns([1, 1])
    with left:
        e_local, sxy = gnn.subgraph_layout(data, subset, iterations=50)
        pred = final.latest.artifacts.get("pred") if trained else None
        fig = graph_figure(data, subset, e_local, sxy, pred,
                           f"{shown_hops}-hop neighbourhood of node {node} ({len(subset)} nodes)")
        nb = set(int(v) for v in mp["neighbours"])
        ring = np.array([int(v) in nb for v in subset])
        me = subset == node
        fig.add_scatter(x=sxy[ring, 0], y=sxy[ring, 1], mode="markers", name="sends a message",
                        marker={"size": 24, "color": "rgba(0,0,0,0)",
                                "line": {"color": "black", "width": 1.5}}, hoverinfo="skip")
        fig.add_scatter(x=sxy[me, 0], y=sxy[me, 1], mode="markers", name=f"node {node}",
                        marker={"size": 30, "color": "rgba(0,0,0,0)", "symbol": "square",
                                "line": {"color": "black", "width": 3}}, hoverinfo="skip")
        st.plotly_chart(fig, key=f"{PAGE}.mp_graph")
    with right:
        st.plotly_chart(messages_figure(mp, data, layer, node), key=f"{PAGE}.mp_bars")
        if cfg.model == "mlp":
            st.caption("The MLP ignores the edges: the node only hears itself.")

# -------------------------------------------------------------------------- over-smoothing
st.subheader("Over-smoothing: why deep GCNs fail")
st.markdown("Every layer averages neighbours, so after many layers all nodes of a connected "
            "graph drift towards the same vector. This trains the current model with 1, 2, 3, "
            "4, 6 and 8 layers (the other settings as in the sidebar) and plots test accuracy "
            "and the mean pairwise cosine distance between the nodes' last hidden vectors "
            "(0 = all identical), before and after training.")


def render_depth(view: RunView) -> None:
    if view.latest is None:
        st.caption("Press **Train depths** to run the sweep.")
        return
    h = view.history.rename(columns={"step": "layers"})
    c1, c2 = st.columns(2)
    show_chart(line_chart(h, ["test_acc", "train_acc"], "Accuracy vs depth", x="layers",
                          y_title="accuracy", names={"test_acc": "test", "train_acc": "train"}),
               key="gnn_depth.acc", where=c1)
    show_chart(line_chart(h, ["mad_untrained", "mad"], "Mean pairwise distance vs depth",
                          x="layers", y_title="mean cosine distance",
                          names={"mad_untrained": "at initialisation", "mad": "after training"}),
               key="gnn_depth.mad", where=c2)


run_panel("gnn_depth", get_demo("gnn_depth"), cfg, render_depth, compare=("test_acc", "mad"),
          train_label="Train depths")

# -------------------------------------------------------------------- graph classification
st.subheader("Graph classification with global pooling")
st.markdown("To label a whole graph (is this molecule mutagenic? does this graph contain a "
            "cycle?), run message passing, then **pool** all node vectors into one graph "
            "vector $h_G = \\sum_i h_i$ (or mean, or max) and classify that. MUTAG needs a "
            "download; offline the page generates trees and trees-plus-one-edge (one cycle).")
gform = ConfigForm("gnn_graph", get_demo("gnn_graph"), url_prefix="graph.")
g1, g2, g3, g4, g5 = st.columns(5)
with g1:
    gform.widget("dataset", kind="selectbox")
with g2:
    gform.widget("model", kind="selectbox", format_func=str.upper)
with g3:
    gform.widget("pooling", kind="selectbox")
with g4:
    gform.widget("n_layers", kind="slider")
with g5:
    gform.widget("epochs", kind="select_slider", options=[10, 20, 40, 60, 100, 200])
gcfg = gform.config(seed=cfg.seed, device=cfg.device)  # the sidebar's seed and device


def render_graphs(view: RunView) -> None:
    if view.latest is None:
        st.caption("Press **Train graph classifier**.")
        return
    art = view.latest.artifacts
    data_note(art.get("note"))
    c1, c2 = st.columns(2)
    show_chart(line_chart(view.history, ["train_acc", "test_acc"], "Graph accuracy", x="step",
                          y_title="accuracy", names={"train_acc": "train", "test_acc": "test"}),
               key="gnn_graph.acc", where=c1)
    if "embedding" in art:
        c2.plotly_chart(class_scatter(art["embedding"], art["y"],
                                      [f"class {c}" for c in range(int(art["y"].max()) + 1)],
                                      "Pooled graph vectors (PCA; stars = test graphs)",
                                      highlight=art["is_test"], highlight_name="test graphs",
                                      height=280, size=6), key="gnn_graph.emb")


run_panel("gnn_graph", get_demo("gnn_graph"), gcfg, render_graphs, compare=("test_acc", "loss"),
          train_label="Train graph classifier")
