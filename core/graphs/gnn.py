"""Graph neural networks: semi-supervised node classification, over-smoothing, graph classification.

Models (PyTorch Geometric layers):

* GCN, Kipf & Welling, "Semi-Supervised Classification with Graph Convolutional Networks",
  ICLR 2017: ``H' = sigma(D^-1/2 (A + I) D^-1/2 H W)`` (``GCNConv``).
* GraphSAGE (mean aggregator), Hamilton, Ying & Leskovec, NeurIPS 2017 (:class:`SAGELayer`, the
  computation and initialisation of ``SAGEConv``).
* GAT, Velickovic et al., "Graph Attention Networks", ICLR 2018 (``GATConv``):
  ``alpha_ij = softmax_j(LeakyReLU(a^T [W h_i || W h_j]))``.
* MLP: the same stack with ``Linear`` layers, ignoring the edges (the baseline).
* Graph classification: GCN or GIN (Xu et al., "How Powerful are Graph Neural Networks?",
  ICLR 2019) layers, then global sum/mean/max pooling and a linear read-out.

Shapes: node features ``x`` (N, F); ``edge_index`` (2, E) int64; logits (N, K); last hidden
layer (N, H) (H = hidden * n_heads for GAT). Training is full-batch Adam on the cross-entropy of
the labelled nodes (``train_mask``).

Sparse input: Cora's bag-of-words features are 1.3% nonzero, so they are kept as a sparse CSR
tensor (:func:`sparse_features`), dropout acts on the nonzeros only (:func:`sparse_dropout`) and
the first layer's weight multiplies them sparsely (``F.linear`` on a CSR tensor; GCNConv and
GATConv take it as it is). ``SAGEConv`` gathers raw neighbour features, which a CSR tensor does
not support, so :class:`SAGELayer` projects first and then averages (the mean is linear).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - the usual alias
from torch import nn

from core.blocks.projection import FeatureMap, pca_2d
from core.data import data_root
from core.data.graphs import GRAPH_SETS, GRAPHS, load_graph, load_graph_dataset
from core.protocol import (
    CopyCadence,
    Demo,
    RunningMean,
    RunOptions,
    Snapshot,
    Ticker,
    eval_mode,
    heartbeats,
    param,
    seed_everything,
    start,
)

MODELS = ("gcn", "sage", "gat", "mlp")
MODEL_NAMES = {"gcn": "GCN", "sage": "GraphSAGE", "gat": "GAT", "mlp": "MLP (no edges)"}
WEIGHT_DECAYS = (0.0, 1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2)
DEPTHS = (1, 2, 3, 4, 6, 8)
MAX_EMBED_POINTS = 3000


@dataclass(frozen=True)
class GnnConfig(RunOptions):
    """Every setting of one node-classification run."""

    dataset: str = param("karate", choices=GRAPHS, label="Graph",
                         help="karate club, Cora/CiteSeer citation graphs, or a synthetic "
                         "stochastic block model (sbm)")
    model: str = param("gcn", choices=MODELS, help="gcn, sage (GraphSAGE), gat, or mlp (ignores "
                       "the edges: the baseline)")
    n_layers: int = param(2, lo=1, hi=8, label="Layers", aliases=("layers",),
                          help="message-passing layers (the receptive field is this many hops)")
    hidden: int = param(16, lo=2, hi=256, label="Hidden size",
                        help="hidden features per layer (per attention head for GAT)")
    n_heads: int = param(8, lo=1, hi=8, label="GAT heads", aliases=("heads",),
                         help="attention heads (GAT only)")
    dropout: float = param(0.5, lo=0.0, hi=0.9, step=0.05,
                           help="dropout on the input and every hidden layer (and on the "
                           "attention coefficients for GAT)")
    lr: float = param(0.01, lo=1e-4, hi=1.0, log=True, label="Learning rate")
    weight_decay: float = param(5e-4, choices=WEIGHT_DECAYS, label="Weight decay",
                                help="L2 penalty of Adam; GCN: first layer only (as Kipf & "
                                "Welling), others: all layers")
    epochs: int = param(200, lo=1, hi=2000, help="maximum epochs (full-batch steps)")
    patience: int = param(0, lo=0, hi=500, label="Early-stopping patience",
                          help="stop after this many epochs in which neither the validation loss "
                          "nor the validation accuracy improved (0 = train every epoch; the GAT "
                          "paper uses 100)")
    labels_per_class: int = param(0, lo=0, hi=100, label="Labelled nodes per class",
                                  help="0 = the graph's standard split (karate: 1, Cora and "
                                  "CiteSeer: the public 20, sbm: 5)")
    sbm_nodes: int = param(300, lo=40, hi=1500, step=20, label="SBM nodes")
    sbm_classes: int = param(3, lo=2, hi=8, label="SBM communities")
    avg_degree: float = param(6.0, lo=1.0, hi=20.0, step=0.5, label="SBM average degree")
    homophily: float = param(0.8, lo=0.0, hi=1.0, step=0.05, label="SBM homophily",
                             help="fraction of edges inside a community (1/communities = random)")
    feature_signal: float = param(0.5, lo=0.0, hi=3.0, step=0.1, label="SBM feature signal",
                                  help="distance between class means of the node features in "
                                  "noise units (0 = features are pure noise)")

    def __post_init__(self) -> None:
        if self.dataset == "sbm" and self.sbm_nodes < 4 * self.sbm_classes:
            raise ValueError("the SBM needs at least 4 nodes per community")


# ------------------------------------------------------------------------------------ data


def _split_small(y: torch.Tensor, k: int, seed: int,
                 pool: torch.Tensor | None = None) -> torch.Tensor:
    """``k`` random nodes per class (at most half of each class) from ``pool`` (bool mask)."""
    g = torch.Generator().manual_seed(seed)
    train = torch.zeros_like(y, dtype=torch.bool)
    for c in range(int(y.max()) + 1):
        idx = ((y == c) & (pool if pool is not None else True)).nonzero().view(-1)
        n = min(k, max(1, int((y == c).sum()) // 2), len(idx))
        train[idx[torch.randperm(len(idx), generator=g)[:n]]] = True
    return train


@functools.lru_cache(maxsize=6)
def _graph_cached(key: tuple):
    dataset, seed, sbm, _root = key  # the data folder is part of the key (tests change it)
    if dataset != "sbm":
        return load_graph(dataset, seed=seed)
    kw = dict(zip(("n_nodes", "n_classes", "avg_degree", "homophily", "feature_signal"), sbm))
    return load_graph(dataset, seed=seed, **kw)


def make_graph(cfg: GnnConfig):
    """The run's graph with ``train_mask``/``val_mask``/``test_mask`` set from ``cfg``.

    Standard split (``labels_per_class=0``): Planetoid's public masks; karate: PyG's one labelled
    member per group; sbm: 5 per class. Otherwise ``labels_per_class`` random nodes per class
    (seeded; Cora/CiteSeer draw them outside the public validation/test nodes). Nodes not in the
    training set are split into validation and test halves (for karate and sbm).

    Returns:
        ``torch_geometric.data.Data`` (a fresh copy; see :func:`core.data.graphs.load_graph`).
    """
    sbm = (cfg.sbm_nodes, cfg.sbm_classes, cfg.avg_degree, cfg.homophily, cfg.feature_signal)
    d = _graph_cached((cfg.dataset, cfg.seed if cfg.dataset == "sbm" else 0,
                       sbm if cfg.dataset == "sbm" else None, str(data_root()))).clone()
    n = d.num_nodes
    has_public = "val_mask" in d and "test_mask" in d
    if has_public:
        if cfg.labels_per_class > 0:
            d.train_mask = _split_small(d.y, cfg.labels_per_class, cfg.seed,
                                        pool=~(d.val_mask | d.test_mask))
        return d
    if cfg.labels_per_class > 0 or "train_mask" not in d:
        d.train_mask = _split_small(d.y, cfg.labels_per_class or 5, cfg.seed)
    rest = (~d.train_mask).nonzero().view(-1)
    rest = rest[torch.randperm(len(rest), generator=torch.Generator().manual_seed(cfg.seed + 1))]
    d.val_mask = torch.zeros(n, dtype=torch.bool)
    d.test_mask = torch.zeros(n, dtype=torch.bool)
    d.val_mask[rest[: len(rest) // 2]] = True
    d.test_mask[rest[len(rest) // 2:]] = True
    return d


def sparse_features(x: torch.Tensor, max_density: float = 0.1) -> torch.Tensor:
    """``x`` (N, F) as a sparse CSR tensor when at most ``max_density`` of it is nonzero (Cora:
    1.3%), else ``x`` unchanged."""
    if x.layout != torch.strided or x.numel() == 0 or float((x != 0).float().mean()) > max_density:
        return x
    return x.to_sparse_csr()


def sparse_dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Dropout for a sparse CSR (or dense) tensor, drawing the mask on the nonzeros only.

    For sparse ``x`` this equals ``F.dropout(x.to_dense(), p)`` in distribution (a dropped zero is
    still zero) but draws nnz instead of N*F random numbers: on Cora 49 thousand instead of
    3.9 million.
    """
    if x.layout != torch.sparse_csr:
        return F.dropout(x, p, training)
    if not training or p == 0:
        return x
    return torch.sparse_csr_tensor(x.crow_indices(), x.col_indices(),
                                   F.dropout(x.values(), p, True), x.shape,
                                   check_invariants=False)


# ----------------------------------------------------------------------------------- model


class SAGELayer(nn.Module):
    """GraphSAGE layer with the mean aggregator, (N, d_in) -> (N, d_out):
    ``h_i' = W_l mean_{j in N(i)} h_j + b + W_r h_i`` (Hamilton et al. 2017; PyG's ``SAGEConv``,
    same parameters and initialisation).

    It computes ``mean_j (W_l h_j)`` (the mean is linear), so a sparse CSR ``h`` is multiplied
    sparsely before neighbours are gathered. ``lin_l``/``lin_r`` hold ``W_l`` (with ``b``) and
    ``W_r``.
    """

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        from torch_geometric.nn import Linear

        self.lin_l = Linear(in_dim, out_dim, bias=True)
        self.lin_r = Linear(in_dim, out_dim, bias=False)
        self.reset_parameters()  # as SAGEConv: so a seed gives SAGEConv's weights

    def reset_parameters(self) -> None:
        self.lin_l.reset_parameters()
        self.lin_r.reset_parameters()

    def forward(self, h: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        from torch_geometric.utils import scatter

        src, dst = edge_index
        wh = F.linear(h, self.lin_l.weight)  # (N, d_out) W_l h_j for every node
        mean = scatter(wh[src], dst, dim=0, dim_size=wh.shape[0], reduce="mean")
        return mean + self.lin_l.bias + self.lin_r(h)


class NodeGNN(nn.Module):
    """``n_layers`` graph layers (or Linear layers for ``kind="mlp"``) for node classification.

    ``h^0 = x``; ``h^l = act(Conv_l(dropout(h^{l-1}), edge_index))`` for l < L; logits
    ``= Conv_L(dropout(h^{L-1}))``. Activation ReLU (ELU for GAT, as the paper). GAT hidden
    layers concatenate ``n_heads`` heads of ``hidden`` features; its output layer averages
    one head. ``x`` may be a sparse CSR tensor (see the module docstring).
    """

    def __init__(self, kind: str, in_dim: int, hidden: int, out_dim: int, n_layers: int,
                 n_heads: int = 1, dropout: float = 0.5) -> None:
        super().__init__()
        if kind not in MODELS:
            raise ValueError(f"unknown model {kind!r}; allowed: {', '.join(MODELS)}")
        self.kind, self.dropout, self.n_heads = kind, dropout, n_heads
        self.convs = nn.ModuleList()
        d = in_dim
        for i in range(n_layers):
            last = i == n_layers - 1
            out = out_dim if last else hidden
            self.convs.append(self._layer(d, out, last))
            d = out * (n_heads if kind == "gat" and not last else 1)
        self.embed_dim = d if n_layers > 1 else out_dim

    def _layer(self, d_in: int, d_out: int, last: bool) -> nn.Module:
        from torch_geometric.nn import GATConv, GCNConv

        if self.kind == "gcn":
            return GCNConv(d_in, d_out, cached=True)
        if self.kind == "sage":
            return SAGELayer(d_in, d_out)
        if self.kind == "gat":
            return GATConv(d_in, d_out, heads=1 if last else self.n_heads, concat=not last,
                           dropout=self.dropout)
        return nn.Linear(d_in, d_out)

    def act(self, h: torch.Tensor) -> torch.Tensor:
        return F.elu(h) if self.kind == "gat" else F.relu(h)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor,
                return_hidden: bool = False):
        """Logits (N, K); with ``return_hidden`` also the list of every layer's input
        ``[h^0, ..., h^{L-1}]`` (h^0 = x) and the last hidden layer (N, H) (the logits when
        L = 1)."""
        h, inputs = x, []
        for i, conv in enumerate(self.convs):
            inputs.append(h)
            h = sparse_dropout(h, self.dropout, self.training)
            h = conv(h) if self.kind == "mlp" else conv(h, edge_index)
            if i < len(self.convs) - 1:
                h = self.act(h)
        if return_hidden:
            return h, inputs, (inputs[-1] if len(self.convs) > 1 else h)
        return h


def build_model(cfg: GnnConfig, in_dim: int, n_classes: int) -> NodeGNN:
    """The :class:`NodeGNN` of ``cfg`` for ``in_dim`` input features and ``n_classes``."""
    return NodeGNN(cfg.model, in_dim, cfg.hidden, n_classes, cfg.n_layers, cfg.n_heads,
                   cfg.dropout)


def initial_model(cfg: GnnConfig, data) -> NodeGNN:
    """The freshly initialised model a run of ``cfg`` on ``data`` starts from, in eval mode."""
    seed_everything(cfg.seed)
    return build_model(cfg, data.num_features, data.num_classes).eval()


def make_optimizer(cfg: GnnConfig, model: NodeGNN) -> torch.optim.Optimizer:
    """Adam; weight decay on the first layer only for GCN (Kipf & Welling), else all layers."""
    if cfg.model == "gcn" and len(model.convs) > 1:
        groups = [{"params": model.convs[0].parameters(), "weight_decay": cfg.weight_decay},
                  {"params": model.convs[1:].parameters(), "weight_decay": 0.0}]
        return torch.optim.Adam(groups, lr=cfg.lr)
    return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)


# -------------------------------------------------------------------------------- analysis


def embed_2d(h: torch.Tensor, ref_axes: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Node vectors ``h`` (N, D) to 2-D with :func:`core.blocks.projection.pca_2d`, signs aligned
    with ``ref_axes`` (the previous snapshot's axes) so the picture does not mirror.

    Returns:
        ``(points (N, 2) float32, axes (D, 2))``.
    """
    (pts,), axes = pca_2d(h.detach().float().cpu().numpy(), ref_axes=ref_axes)
    return pts.astype(np.float32), axes


def tsne_2d(h: np.ndarray, seed: int = 0) -> np.ndarray:
    """t-SNE of rows of ``h`` (N, D) -> (N, 2) with :class:`core.blocks.projection.FeatureMap`
    (openTSNE, van der Maaten & Hinton 2008). Rows are L2-normalised first (cosine geometry).

    Raises:
        ValueError: for fewer than 3 rows or non-finite values.
    """
    h = np.asarray(h, dtype=np.float64)
    h = h / np.maximum(np.linalg.norm(h, axis=1, keepdims=True), 1e-12)
    return FeatureMap("tsne", seed=seed).update(h)


def mean_pairwise_distance(h: torch.Tensor, max_nodes: int = 1000, seed: int = 0) -> float:
    """Mean cosine distance ``1 - cos(h_i, h_j)`` over node pairs i != j (MAD, Chen et al.,
    "Measuring and Relieving the Over-smoothing Problem", AAAI 2020), on at most ``max_nodes``
    sampled rows of ``h`` (N, D). 0 means every node has the same direction: over-smoothed."""
    h = h.detach()
    h = (h.to_dense() if h.layout != torch.strided else h).float()
    if h.shape[0] > max_nodes:
        idx = torch.randperm(h.shape[0], generator=torch.Generator().manual_seed(seed))[:max_nodes]
        h = h[idx.to(h.device)]
    z = F.normalize(h, dim=1)
    n = z.shape[0]
    if n < 2:
        return 0.0
    sim = z @ z.T
    return float((n * n - sim.sum()) / (n * (n - 1)))


def recorded_messages(model: NodeGNN, layer: int, x: torch.Tensor,
                      edge_index: torch.Tensor) -> tuple[torch.Tensor, dict, torch.Tensor]:
    """Run ``model`` once and record what PyG layer ``layer`` (GCNConv, GATConv) passes along
    each edge, through PyG's public message-passing hooks.

    Returns:
        ``(edge_index (2, E') as propagated (self-loops included), the message function's
        arguments (GCN: ``edge_weight`` (E',); GAT: ``alpha`` (E', heads)), messages (E', C) or
        (E', heads, C))``; ``edge_index[0]`` sends to ``edge_index[1]``.
    """
    conv, rec = model.convs[layer], {}
    hooks = [conv.register_propagate_forward_pre_hook(
                 lambda _m, inputs: rec.update(edge_index=inputs[0])),
             conv.register_message_forward_hook(
                 lambda _m, inputs, out: rec.update(args=inputs[0], message=out))]
    try:
        model(x, edge_index)
    finally:
        for h in hooks:
            h.remove()
    return rec["edge_index"], rec["args"], rec["message"]


def _direct_messages(model: NodeGNN, h: torch.Tensor, edge_index: torch.Tensor, node: int,
                     layer: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """GraphSAGE and MLP: ``(senders, coefficients, messages)`` into ``node`` from the layer's
    own weights; the root term (the node itself) first."""
    conv = model.convs[layer]
    me = torch.tensor([node])
    if model.kind == "mlp":
        return me, torch.ones(1), conv(h[node:node + 1])
    src = edge_index[0][edge_index[1] == node]
    coef = torch.full((len(src),), 1.0 / max(len(src), 1))
    wh = torch.cat([conv.lin_r(h[node:node + 1]), F.linear(h[src], conv.lin_l.weight)])
    coef = torch.cat([torch.ones(1), coef])
    return torch.cat([me, src]), coef, wh * coef.unsqueeze(1)


@torch.no_grad()
def neighbour_contributions(model: NodeGNN, data, node: int, layer: int = 0) -> dict:
    """Message passing at one node in one layer, neighbour by neighbour (eval mode, no dropout).

    For GCN the coefficient is the normalized adjacency entry ``1 / sqrt(d_i d_j)`` (degrees with
    self-loops); for GAT the attention ``alpha_ij`` (per head, and the head mean); for GraphSAGE
    ``1 / deg(i)`` for neighbours (the mean) with the root term separate; for the MLP only the
    node itself. ``contribution`` is the norm of what neighbour j adds to node i's new
    representation, ``||alpha_ij W h_j||``.

    Args:
        model: a :class:`NodeGNN` (e.g. the final snapshot's frozen copy), on the CPU.
        data: the run's graph (``make_graph(cfg)``).
        node: node id in [0, N).
        layer: layer index in [0, n_layers).

    Returns:
        dict with ``node``, ``layer``, ``neighbours`` (M,) ids (the node itself first),
        ``coef`` (M,), ``contribution`` (M,), ``head_coef`` (M, heads) for GAT, ``kind``.

    Raises:
        ValueError: for a node or layer out of range.
    """
    if not 0 <= node < data.num_nodes:
        raise ValueError(f"node {node} is out of range 0..{data.num_nodes - 1}")
    if not 0 <= layer < len(model.convs):
        raise ValueError(f"layer {layer} is out of range 0..{len(model.convs) - 1}")
    x, ei = sparse_features(data.x), data.edge_index
    out: dict = {"node": node, "layer": layer, "kind": model.kind}
    with eval_mode(model):
        if model.kind in ("gcn", "gat"):
            ei_mp, args, msg = recorded_messages(model, layer, x, ei)
            sel = ei_mp[1] == node
            src, msg = ei_mp[0][sel], msg[sel].flatten(1)
            coef = args["edge_weight"][sel] if model.kind == "gcn" else args["alpha"][sel]
            if model.kind == "gat":
                out["head_coef"], coef = coef.numpy(), coef.mean(1)
        else:
            _, inputs, _ = model(x, ei, return_hidden=True)
            h = inputs[layer].to_dense() if inputs[layer].layout != torch.strided else inputs[layer]
            src, coef, msg = _direct_messages(model, h, ei, node, layer)
    order = torch.argsort((src != node).int(), stable=True)  # the node itself first
    out.update(neighbours=src[order].numpy(), coef=coef[order].numpy(),
               contribution=msg[order].norm(dim=1).numpy())
    if "head_coef" in out:
        out["head_coef"] = out["head_coef"][order.numpy()]
    return out


# ------------------------------------------------------------------------ drawing the graph


def sample_nodes(data, max_nodes: int = 300, seed: int = 0) -> np.ndarray:
    """Node ids to draw, sorted: all of them for a small graph (<= max_nodes + 100), else about
    ``max_nodes`` from the 1- then 2-hop neighbourhoods (``k_hop_subgraph``) of random test
    nodes."""
    from torch_geometric.utils import k_hop_subgraph

    n = data.num_nodes
    if n <= max_nodes + 100:
        return np.arange(n)
    chosen: dict[int, None] = {}  # insertion-ordered set
    for s in np.random.default_rng(seed).permutation(data.test_mask.nonzero().view(-1).numpy()):
        for hops in (1, 2):
            subset, *_ = k_hop_subgraph(int(s), hops, data.edge_index, num_nodes=n)
            for v in subset.tolist():
                if len(chosen) < max_nodes:
                    chosen.setdefault(v)
        if len(chosen) >= max_nodes:
            break
    return np.array(sorted(chosen))


def neighbourhood(data, node: int, hops: int, max_nodes: int = 400) -> tuple[np.ndarray, int]:
    """The nodes within ``hops`` of ``node`` (``k_hop_subgraph``), or within 1 hop when that is
    more than ``max_nodes``: ``(node ids (M,) sorted, hops used)``."""
    from torch_geometric.utils import k_hop_subgraph

    subset, *_ = k_hop_subgraph(node, hops, data.edge_index, num_nodes=data.num_nodes)
    if len(subset) > max_nodes and hops > 1:
        subset, *_ = k_hop_subgraph(node, 1, data.edge_index, num_nodes=data.num_nodes)
        hops = 1
    return subset.numpy(), hops


def subgraph_layout(data, nodes: np.ndarray, iterations: int = 60,
                    seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The edges among ``nodes`` (M, 2) as pairs of positions in ``nodes`` (each undirected edge
    once) and a spring layout (Fruchterman-Reingold, networkx) of them, (len(nodes), 2)."""
    import networkx as nx
    from torch_geometric.data import Data
    from torch_geometric.utils import subgraph, to_networkx

    ei, _ = subgraph(torch.as_tensor(nodes), data.edge_index, relabel_nodes=True,
                     num_nodes=data.num_nodes)
    g = to_networkx(Data(edge_index=ei, num_nodes=len(nodes)), to_undirected=True)
    xy = nx.spring_layout(g, seed=seed, iterations=iterations)
    edges = np.array(list(g.edges()), dtype=np.int64).reshape(-1, 2)
    return edges, np.array([xy[i] for i in range(len(nodes))])


# -------------------------------------------------------------------------------- training


class ModelSelection:
    """Early stopping and model selection on the validation nodes (Velickovic et al. 2018).

    An epoch is *selected* when its validation accuracy and validation loss are both at least as
    good as the best seen so far; the reported test accuracy is the selected epoch's. Patience
    counts epochs in which neither improved; training stops when it reaches ``patience``
    (``patience=0``: never stop early, still select).
    """

    def __init__(self, patience: int = 0) -> None:
        self.patience = patience
        self.best_acc, self.best_loss = -math.inf, math.inf
        self.selected_epoch, self.selected_test = 0, math.nan
        self.waited = 0

    def update(self, epoch: int, val_acc: float, val_loss: float, test_acc: float) -> bool:
        """Record one epoch; returns True when training should stop."""
        if val_acc >= self.best_acc or val_loss <= self.best_loss:
            if val_acc >= self.best_acc and val_loss <= self.best_loss:
                self.selected_epoch, self.selected_test = epoch, test_acc
            self.best_acc = max(self.best_acc, val_acc)
            self.best_loss = min(self.best_loss, val_loss)
            self.waited = 0
        else:
            self.waited += 1
        return 0 < self.patience <= self.waited


@dataclass
class Epoch:
    """One epoch of :func:`fit`: its metrics, the model, and the eval-mode outputs."""

    epoch: int
    metrics: dict[str, float]
    model: NodeGNN
    logits: torch.Tensor  # (N, K)
    hidden: torch.Tensor  # (N, H) the last hidden layer
    last: bool  # the last epoch: cfg.epochs, or early stopping


def train_step(model: NodeGNN, opt: torch.optim.Optimizer, x: torch.Tensor,
               edge_index: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """One full-batch Adam step on the cross-entropy of the labelled nodes; the loss (nats)."""
    model.train()
    opt.zero_grad()
    loss = F.cross_entropy(model(x, edge_index)[mask], y[mask])
    loss.backward()
    opt.step()
    return loss.detach()


def evaluate(model: NodeGNN, x: torch.Tensor, edge_index: torch.Tensor, y: torch.Tensor,
             masks: dict[str, torch.Tensor]):
    """Eval-mode forward: ``(accuracies {split: float}, validation loss (NaN without validation
    nodes), logits (N, K), last hidden (N, H))``."""
    with eval_mode(model):
        logits, _, hid = model(x, edge_index, return_hidden=True)
    pred = logits.argmax(1)
    acc = {k: float((pred[m] == y[m]).float().mean()) if m.any() else math.nan
           for k, m in masks.items()}
    val = masks["val"]
    val_loss = float(F.cross_entropy(logits[val], y[val])) if val.any() else math.nan
    return acc, val_loss, logits, hid


def fit(cfg: GnnConfig, data, device: torch.device) -> Iterator[Epoch]:
    """Train the model of ``cfg`` on ``data`` (seeded from ``cfg.seed``); one :class:`Epoch`
    per epoch until ``cfg.epochs`` or early stopping (:class:`ModelSelection`)."""
    seed_everything(cfg.seed)
    x = sparse_features(data.x).to(device)
    ei, y = data.edge_index.to(device), data.y.to(device)
    masks = {k: data[f"{k}_mask"].to(device) for k in ("train", "val", "test")}
    model = build_model(cfg, data.num_features, data.num_classes).to(device)
    opt = make_optimizer(cfg, model)
    select = ModelSelection(cfg.patience)
    for epoch in range(1, cfg.epochs + 1):
        loss = float(train_step(model, opt, x, ei, y, masks["train"]))
        acc, val_loss, logits, hid = evaluate(model, x, ei, y, masks)
        stop = select.update(epoch, acc["val"], val_loss, acc["test"])
        metrics = {"loss": loss, "train_acc": acc["train"], "val_acc": acc["val"],
                   "test_acc": acc["test"], "best_val_test_acc": select.selected_test,
                   "selected_epoch": float(select.selected_epoch)}
        if math.isfinite(val_loss):
            metrics["val_loss"] = val_loss
        yield Epoch(epoch, metrics, model, logits, hid, stop or epoch == cfg.epochs)
        if stop:
            return


def node_artifacts(e: Epoch, axes: np.ndarray | None) -> tuple[dict, np.ndarray | None]:
    """A snapshot's artifacts from an epoch, and the PCA axes to align the next one with."""
    art: dict = {"pred": e.logits.argmax(1).cpu().numpy().astype(np.int16)}
    hid = e.hidden[:MAX_EMBED_POINTS]
    if bool(torch.isfinite(hid).all()):  # a diverged run has no picture (the engine stops it)
        art["embedding"], axes = embed_2d(hid, axes)
        if e.last:  # the full last hidden layer, for a t-SNE of the finished run
            art["hidden"] = hid.float().cpu().numpy()
    return art, axes


def train(cfg: GnnConfig) -> Iterator[Snapshot]:
    """Train a node classifier; one snapshot per epoch.

    Metrics: ``loss`` (cross-entropy on labelled nodes, nats), ``train_acc``, ``val_acc``,
    ``test_acc``, ``val_loss`` and ``best_val_test_acc`` (test accuracy of the epoch selected on
    the validation nodes so far, see :class:`ModelSelection`; ``selected_epoch`` is that epoch).
    With ``cfg.patience`` > 0 the run stops early (its last snapshot is final). Artifacts
    (refreshed at most every ~0.25 s): ``pred`` (N,) predicted classes, ``embedding``
    (min(N, 3000), 2) last hidden layer in 2-D (PCA when wider), ``note`` (data fallback line or
    ""); the final snapshot adds ``hidden`` (min(N, 3000), H), the last hidden layer itself, and
    carries the model.
    """
    device = start(cfg)
    data = make_graph(cfg)
    tick, copies = Ticker(total=cfg.epochs), CopyCadence(every_s=0)
    art, axes = {}, None
    for e in fit(cfg, data, device):
        if tick(e.epoch) or e.last:
            art, axes = node_artifacts(e, axes)
            art["note"] = data.note
        yield Snapshot(e.epoch, tick.elapsed, e.metrics, art, total_steps=cfg.epochs,
                       final=e.last, model=copies(e.model, e.last))


def train_depth(cfg: GnnConfig) -> Iterator[Snapshot]:
    """Over-smoothing: train ``cfg.model`` at each depth in :data:`DEPTHS` (``cfg.n_layers`` is
    ignored); one snapshot per depth (step = number of layers).

    Metrics: ``train_acc``, ``test_acc`` (at the last epoch), ``best_val_test_acc``, ``loss``,
    ``mad`` (mean pairwise cosine distance of the last hidden layer, trained model) and
    ``mad_untrained`` (same for the freshly initialised model: propagation alone smooths).
    """
    device = start(cfg)
    data = make_graph(cfg)
    x, ei = sparse_features(data.x).to(device), data.edge_index.to(device)
    tick, total = Ticker(total=max(DEPTHS)), len(DEPTHS) * cfg.epochs
    for i, depth in enumerate(DEPTHS):
        dcfg = dataclasses.replace(cfg, n_layers=depth)
        fresh = initial_model(dcfg, data).to(device)
        with torch.no_grad():
            _, _, hid0 = fresh(x, ei, return_hidden=True)
        # heartbeats every ~0.5 s: Stop and the server's budgets act within a depth
        e, _ = yield from heartbeats(fit(dcfg, data, device), total, done=i * cfg.epochs,
                                     phase=f"{depth} layers: epoch {{units}} of {cfg.epochs}")
        m = {k: e.metrics[k] for k in ("loss", "train_acc", "test_acc", "best_val_test_acc")}
        m.update(mad=mean_pairwise_distance(e.hidden, seed=cfg.seed),
                 mad_untrained=mean_pairwise_distance(hid0, seed=cfg.seed))
        tick(depth)
        yield Snapshot(depth, tick.elapsed, m, {"note": data.note}, total_steps=max(DEPTHS),
                       final=depth == max(DEPTHS))


# ---------------------------------------------------------------------- graph classification


@dataclass(frozen=True)
class GraphClsConfig(RunOptions):
    """Every setting of one graph-classification run."""

    dataset: str = param("cycles", choices=GRAPH_SETS, label="Data set",
                         help="cycles: generated tree-or-cycle graphs; mutag: 188 molecules "
                         "(needs a download; offline it falls back to cycles)")
    model: str = param("gin", choices=("gin", "gcn"), label="Layer type",
                       help="GIN (sum aggregation + MLP) or GCN")
    pooling: str = param("sum", choices=("sum", "mean", "max"),
                         help="how node vectors become one graph vector")
    n_layers: int = param(3, lo=1, hi=6, label="Layers", aliases=("layers",))
    hidden: int = param(32, lo=4, hi=128, label="Hidden size")
    lr: float = param(0.01, lo=1e-4, hi=0.3, log=True, label="Learning rate")
    epochs: int = param(60, lo=1, hi=500)
    batch_size: int = param(32, choices=(8, 16, 32, 64, 128), label="Batch size")


class GraphClassifier(nn.Module):
    """``n_layers`` GCN/GIN layers -> global pooling -> Linear: graphs -> logits (B, K).

    ``forward(x (N, F), edge_index (2, E), batch (N,))`` returns ``(logits (B, K), graph vectors
    (B, hidden))``; ``batch`` maps nodes to graphs (PyG's mini-batch of disjoint graphs).
    """

    def __init__(self, kind: str, in_dim: int, hidden: int, n_classes: int, n_layers: int,
                 pooling: str) -> None:
        super().__init__()
        from torch_geometric.nn import (
            GCNConv,
            GINConv,
            global_add_pool,
            global_max_pool,
            global_mean_pool,
        )

        self.convs = nn.ModuleList()
        d = in_dim
        for _ in range(n_layers):
            if kind == "gin":
                mlp = nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, hidden))
                self.convs.append(GINConv(mlp))
            else:
                self.convs.append(GCNConv(d, hidden))
            d = hidden
        self.pool = {"sum": global_add_pool, "mean": global_mean_pool,
                     "max": global_max_pool}[pooling]
        self.readout = nn.Linear(hidden, n_classes)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, batch: torch.Tensor):
        for conv in self.convs:
            x = F.relu(conv(x, edge_index))
        g = self.pool(x, batch)
        return self.readout(g), g


def split_graphs(graphs: list, seed: int) -> tuple[list, list]:
    """A seeded 80/20 (train, test) split of a list of graphs."""
    order = np.random.default_rng(seed).permutation(len(graphs))
    n_train = int(0.8 * len(graphs))
    return [graphs[i] for i in order[:n_train]], [graphs[i] for i in order[n_train:]]


def train_graph_epoch(model: GraphClassifier, loader, opt: torch.optim.Optimizer,
                      device: torch.device, losses: RunningMean) -> None:
    """One pass over the training mini-batches; each batch's cross-entropy goes to ``losses``."""
    model.train()
    for b in loader:
        b = b.to(device)
        logits, _ = model(b.x, b.edge_index, b.batch)
        loss = F.cross_entropy(logits, b.y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.add(loss=loss.detach())


def predict_graphs(model: GraphClassifier, loader,
                   device: torch.device) -> tuple[np.ndarray, torch.Tensor, np.ndarray]:
    """Eval-mode ``(predicted classes (G,), pooled graph vectors (G, hidden), labels (G,))``."""
    preds, vecs, ys = [], [], []
    with eval_mode(model):
        for b in loader:
            b = b.to(device)
            logits, g = model(b.x, b.edge_index, b.batch)
            preds.append(logits.argmax(1).cpu())
            vecs.append(g.cpu())
            ys.append(b.y.cpu())
    return torch.cat(preds).numpy(), torch.cat(vecs), torch.cat(ys).numpy()


def train_graphs(cfg: GraphClsConfig) -> Iterator[Snapshot]:
    """Graph classification with global pooling; one snapshot per epoch.

    80/20 train/test split (seeded). Metrics: ``loss`` (mean cross-entropy over the epoch's
    mini-batches), ``train_acc``, ``test_acc``. Artifacts: ``embedding`` (n_graphs, 2) pooled
    graph vectors in 2-D (PCA), ``y`` (n_graphs,), ``is_test`` (n_graphs,) bool, ``note``.
    """
    from torch_geometric.loader import DataLoader

    device = start(cfg)
    graphs, n_feat, n_cls, note = load_graph_dataset(cfg.dataset, seed=cfg.seed)
    seed_everything(cfg.seed)
    tr, te = split_graphs(graphs, cfg.seed)
    model = GraphClassifier(cfg.model, n_feat, cfg.hidden, n_cls, cfg.n_layers,
                            cfg.pooling).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    loader = DataLoader(tr, batch_size=cfg.batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(cfg.seed))
    full = DataLoader(tr + te, batch_size=256)
    is_test = np.r_[np.zeros(len(tr), bool), np.ones(len(te), bool)]
    tick, copies = Ticker(total=cfg.epochs), CopyCadence(every_s=0)
    losses = RunningMean(window=None)  # popped every epoch: the epoch's mean
    art, axes = {"note": note or ""}, None
    for epoch in range(1, cfg.epochs + 1):
        train_graph_epoch(model, loader, opt, device, losses)
        pred, vecs, y = predict_graphs(model, full, device)
        metrics = {**losses.pop(), "train_acc": float((pred == y)[~is_test].mean()),
                   "test_acc": float((pred == y)[is_test].mean())}
        final = epoch == cfg.epochs
        if (tick(epoch) or final) and bool(torch.isfinite(vecs).all()):
            emb, axes = embed_2d(vecs, axes)
            art = {"embedding": emb, "y": y, "is_test": is_test, "note": note or ""}
        yield Snapshot(epoch, tick.elapsed, metrics, art, total_steps=cfg.epochs, final=final,
                       model=copies(model, final))


DEMOS = [
    Demo("gnn", GnnConfig, train, title="Graph neural networks: node classification",
         description="GCN, GraphSAGE, GAT or an MLP baseline label the nodes of a graph "
         "(karate club, Cora, CiteSeer, stochastic block model) from a few labelled ones."),
    Demo("gnn_depth", GnnConfig, train_depth, title="GNN over-smoothing: accuracy vs depth",
         description="Train the same GNN with 1 to 8 layers; accuracy and mean pairwise "
         "distance of node features per depth."),
    Demo("gnn_graph", GraphClsConfig, train_graphs, title="GNN graph classification",
         description="GIN or GCN layers with global pooling classify whole graphs (MUTAG, or a "
         "generated cycle-or-tree task offline)."),
]
