"""Graph neural networks: semi-supervised node classification, over-smoothing, graph classification.

Models (built from PyTorch Geometric layers):

* GCN, Kipf & Welling, "Semi-Supervised Classification with Graph Convolutional Networks",
  ICLR 2017: ``H' = sigma(D^-1/2 (A + I) D^-1/2 H W)`` (``GCNConv``).
* GraphSAGE (mean aggregator), Hamilton, Ying & Leskovec, NeurIPS 2017 (``SAGEConv``).
* GAT, Velickovic et al., "Graph Attention Networks", ICLR 2018 (``GATConv``):
  ``alpha_ij = softmax_j(LeakyReLU(a^T [W h_i || W h_j]))``.
* MLP: the same stack with ``Linear`` layers, ignoring the edges (the baseline).
* Graph classification: GCN or GIN (Xu et al., "How Powerful are Graph Neural Networks?",
  ICLR 2019) layers, then global sum/mean/max pooling and a linear read-out.

Shapes: node features ``x`` (N, F); ``edge_index`` (2, E) int64; logits (N, K); last hidden
layer (N, H) (H = hidden * heads for GAT). Training is full-batch Adam on the cross-entropy of the
labelled nodes (``train_mask``).

Speed: Cora's features are sparse bag-of-words (1.3% nonzero). Dropping out the dense
2,708 x 1,433 input matrix dominates a plain implementation's time, so the input is kept as a
sparse COO tensor, dropout is applied to its nonzeros only (identical in distribution: dropped
zeros stay zero) and the first layer multiplies sparse x dense. ``GCNConv(cached=True)`` caches
the normalized adjacency.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from core.blocks.projection import FeatureMap, pca_2d
from core.data import data_root
from core.data.graphs import GRAPH_SETS, GRAPHS, load_graph, load_graph_dataset
from core.protocol import Demo, Snapshot, Ticker, frozen_copy, param, resolve_device, seed_everything

MODELS = ("gcn", "sage", "gat", "mlp")
MODEL_NAMES = {"gcn": "GCN", "sage": "GraphSAGE", "gat": "GAT", "mlp": "MLP (no edges)"}
WEIGHT_DECAYS = (0.0, 1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 1e-2)
DEPTHS = (1, 2, 3, 4, 6, 8)
MAX_EMBED_POINTS = 3000


@dataclass(frozen=True)
class GnnConfig:
    """Every setting of one node-classification run."""

    dataset: str = param("karate", choices=GRAPHS, label="Graph",
                         help="karate club, Cora/CiteSeer citation graphs, or a synthetic "
                         "stochastic block model (sbm)")
    model: str = param("gcn", choices=MODELS, help="gcn, sage (GraphSAGE), gat, or mlp (ignores "
                       "the edges: the baseline)")
    layers: int = param(2, lo=1, hi=8, help="message-passing layers (the receptive field is "
                        "this many hops)")
    hidden: int = param(16, lo=2, hi=256, label="Hidden size",
                        help="hidden features per layer (per attention head for GAT)")
    heads: int = param(8, lo=1, hi=8, label="GAT heads", help="attention heads (GAT only)")
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
    seed: int = param(0, lo=0, hi=2**31 - 1)
    device: str = param("auto", choices=("auto", "cpu", "cuda"))

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


class _CSRMatmul(torch.autograd.Function):
    """``x @ weight.T`` for a constant sparse CSR ``x`` (N, F); the backward uses ``x^T`` (given
    in CSR, same values) so both directions are sparse x dense products."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, xt: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        ctx.xt = xt
        return x @ weight.t()

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return None, None, (ctx.xt @ grad).t()


class CSRLinear(nn.Module):
    """Wraps a linear layer (``torch.nn.Linear`` or PyG's ``Linear``) so it also takes a sparse
    CSR input fast: ``y = x W^T (+ b)``, (N, F) -> (N, out).

    PyTorch's generic sparse backward for ``W`` is slow (it transposes ``x`` every step), so the
    transpose's index structure is computed once (a node-feature matrix's sparsity pattern never
    changes; dropout only changes values) and ``x^T``'s values are gathered by a permutation.
    Dense inputs go to the wrapped layer unchanged.
    """

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self._pattern: tuple | None = None

    def reset_parameters(self) -> None:
        self.inner.reset_parameters()

    def _transpose(self, x: torch.Tensor) -> torch.Tensor:
        key = (x.col_indices().data_ptr(), tuple(x.shape), x.values().numel())
        if self._pattern is None or self._pattern[0] != key:
            n = x.values().numel()
            ids = torch.sparse_csr_tensor(x.crow_indices(), x.col_indices(),
                                          torch.arange(n, dtype=torch.float64, device=x.device),
                                          x.shape, check_invariants=False)
            t = ids.to_sparse_coo().t().coalesce().to_sparse_csr()
            self._pattern = (key, t.crow_indices(), t.col_indices(), t.values().long())
        _, crow, col, perm = self._pattern
        return torch.sparse_csr_tensor(crow, col, x.values()[perm], (x.shape[1], x.shape[0]),
                                       check_invariants=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.layout != torch.sparse_csr:
            return self.inner(x)
        if not (torch.is_grad_enabled() and self.inner.weight.requires_grad):
            y = x @ self.inner.weight.t()
        else:
            y = _CSRMatmul.apply(x, self._transpose(x), self.inner.weight)
        return y + self.inner.bias if getattr(self.inner, "bias", None) is not None else y


# ----------------------------------------------------------------------------------- model


class NodeGNN(nn.Module):
    """``layers`` graph layers (or Linear layers for ``kind="mlp"``) for node classification.

    ``h^0 = x``; ``h^l = act(Conv_l(dropout(h^{l-1}), edge_index))`` for l < L; logits
    ``= Conv_L(dropout(h^{L-1}))``. Activation ReLU (ELU for GAT, as the paper). GAT hidden
    layers concatenate ``heads`` heads of ``hidden`` features; its output layer averages
    one head. Input x may be a sparse CSR tensor (dropout then acts on its nonzeros and the first
    layer's weight multiplies it sparsely, see :class:`CSRLinear`).
    """

    def __init__(self, kind: str, in_dim: int, hidden: int, out_dim: int, layers: int,
                 heads: int = 1, dropout: float = 0.5) -> None:
        super().__init__()
        from torch_geometric.nn import GATConv, GCNConv, SAGEConv

        if kind not in MODELS:
            raise ValueError(f"unknown model {kind!r}; allowed: {', '.join(MODELS)}")
        self.kind, self.dropout, self.heads = kind, dropout, heads
        self.convs = nn.ModuleList()
        d = in_dim
        for i in range(layers):
            last = i == layers - 1
            out = out_dim if last else hidden
            if kind == "gcn":
                conv = GCNConv(d, out, cached=True)
            elif kind == "sage":
                conv = SAGEConv(d, out)
            elif kind == "gat":
                conv = GATConv(d, out, heads=1 if last else heads, concat=not last,
                               dropout=dropout)
            else:
                conv = nn.Linear(d, out)
            if i == 0:  # the first layer may get sparse CSR features
                if kind in ("gcn", "gat"):
                    conv.lin = CSRLinear(conv.lin)
                elif kind == "sage":
                    conv.lin_l, conv.lin_r = CSRLinear(conv.lin_l), CSRLinear(conv.lin_r)
                else:
                    conv = CSRLinear(conv)
            self.convs.append(conv)
            d = out * (heads if kind == "gat" and not last else 1)
        self.embed_dim = d if layers > 1 else out_dim

    def act(self, h: torch.Tensor) -> torch.Tensor:
        return F.elu(h) if self.kind == "gat" else F.relu(h)

    def layer(self, i: int, h: torch.Tensor, edge_index: torch.Tensor) -> torch.Tensor:
        """Apply layer ``i`` (no dropout, no activation): (N, d_in) -> (N, d_out)."""
        conv = self.convs[i]
        if self.kind == "mlp":
            return conv(h)
        if self.kind == "sage" and h.layout == torch.sparse_csr:
            # SAGEConv aggregates the raw features first; mean aggregation is linear, so
            # mean_j(W_l x_j) = W_l mean_j(x_j): project the sparse x first, then aggregate.
            xl = _CSRMatmul.apply(h, conv.lin_l._transpose(h), conv.lin_l.inner.weight)
            out = conv.propagate(edge_index, x=(xl, xl), size=None)
            if conv.lin_l.inner.bias is not None:
                out = out + conv.lin_l.inner.bias
            return out + conv.lin_r(h)
        return conv(h, edge_index)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor,
                return_hidden: bool = False):
        """Logits (N, K); with ``return_hidden`` also the list of every layer's input
        ``[h^0, ..., h^{L-1}]`` (h^0 = x) and the last hidden layer (N, H) (the logits when
        L = 1)."""
        h, inputs = x, []
        for i in range(len(self.convs)):
            inputs.append(h)
            h = sparse_dropout(h, self.dropout, self.training)
            h = self.layer(i, h, edge_index)
            if i < len(self.convs) - 1:
                h = self.act(h)
        if return_hidden:
            return h, inputs, (inputs[-1] if len(self.convs) > 1 else h)
        return h


def frozen_model(model: NodeGNN) -> NodeGNN:
    """:func:`core.protocol.frozen_copy` of ``model`` without its caches (GCNConv's cached normalized
    adjacency is a sparse tensor that cannot be deep-copied; the copy recomputes it)."""
    saved = []
    for m in model.modules():
        for attr in ("_cached_adj_t", "_cached_edge_index", "_pattern"):
            if getattr(m, attr, None) is not None:
                saved.append((m, attr, getattr(m, attr)))
                setattr(m, attr, None)
    try:
        return frozen_copy(model)
    finally:
        for m, attr, v in saved:
            setattr(m, attr, v)


def build_model(cfg: GnnConfig, in_dim: int, n_classes: int) -> NodeGNN:
    """The :class:`NodeGNN` of ``cfg`` for ``in_dim`` input features and ``n_classes``."""
    return NodeGNN(cfg.model, in_dim, cfg.hidden, n_classes, cfg.layers, cfg.heads, cfg.dropout)


def make_optimizer(cfg: GnnConfig, model: NodeGNN) -> torch.optim.Optimizer:
    """Adam; weight decay on the first layer only for GCN (Kipf & Welling), else all layers."""
    if cfg.model == "gcn" and len(model.convs) > 1:
        groups = [{"params": model.convs[0].parameters(), "weight_decay": cfg.weight_decay},
                  {"params": model.convs[1:].parameters(), "weight_decay": 0.0}]
        return torch.optim.Adam(groups, lr=cfg.lr)
    return torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)


# -------------------------------------------------------------------------------- analysis


def embed_2d(h: torch.Tensor, ref_axes: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Node vectors ``h`` (N, D) to 2-D with :func:`core.blocks.projection.pca_2d`, signs aligned with
    ``ref_axes`` (the previous snapshot's axes) so the picture does not mirror.

    Returns:
        ``(points (N, 2) float32, axes (D, 2))``.
    """
    (pts,), axes = pca_2d(h.detach().float().cpu().numpy(), ref_axes=ref_axes)
    return pts.astype(np.float32), axes


def tsne_2d(h: np.ndarray, seed: int = 0) -> np.ndarray:
    """t-SNE of rows of ``h`` (N, D) -> (N, 2) with :class:`core.blocks.projection.FeatureMap` (openTSNE,
    van der Maaten & Hinton 2008). Rows are L2-normalised first (cosine geometry).

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


@torch.no_grad()
def evaluate(model: NodeGNN, x: torch.Tensor, edge_index: torch.Tensor, y: torch.Tensor,
             masks: dict[str, torch.Tensor]):
    """Eval-mode forward: ``(accuracies {split: float}, logits (N, K), last hidden (N, H))``."""
    was = model.training
    model.eval()
    logits, _, hid = model(x, edge_index, return_hidden=True)
    model.train(was)
    pred = logits.argmax(1)
    acc = {k: float((pred[m] == y[m]).float().mean()) if m.any() else float("nan")
           for k, m in masks.items()}
    return acc, logits, hid


@torch.no_grad()
def neighbour_contributions(model: NodeGNN, data, node: int, layer: int = 0) -> dict:
    """Message passing at one node in one layer, neighbour by neighbour (eval mode, no dropout).

    For GCN the coefficient is the normalized adjacency entry ``1 / sqrt(d_i d_j)`` (degrees with
    self-loops); for GAT the attention ``alpha_ij`` (per head, and the head mean); for GraphSAGE
    ``1 / deg(i)`` for neighbours (the mean) with the root term separate; for the MLP only the
    node itself. ``contribution`` is the norm of what neighbour j adds to node i's new
    representation, ``||alpha_ij W h_j||``.

    Args:
        model: a trained :class:`NodeGNN` (e.g. the final snapshot's frozen copy), on the CPU.
        data: the run's graph (``make_graph(cfg)``).
        node: node id in [0, N).
        layer: layer index in [0, layers).

    Returns:
        dict with ``node``, ``layer``, ``neighbours`` (M,) ids (the node itself first),
        ``coef`` (M,), ``contribution`` (M,), ``head_coef`` (M, heads) for GAT, ``kind``.

    Raises:
        ValueError: for a node or layer out of range.
    """
    from torch_geometric.nn.conv.gcn_conv import gcn_norm
    from torch_geometric.utils import remove_self_loops

    n = data.num_nodes
    if not 0 <= node < n:
        raise ValueError(f"node {node} is out of range 0..{n - 1}")
    if not 0 <= layer < len(model.convs):
        raise ValueError(f"layer {layer} is out of range 0..{len(model.convs) - 1}")
    model.eval()
    x = sparse_features(data.x)
    ei = data.edge_index
    _, inputs, _ = model(x, ei, return_hidden=True)
    h = inputs[layer]
    h = h.to_dense() if h.layout != torch.strided else h
    conv = model.convs[layer]
    out: dict = {"node": node, "layer": layer, "kind": model.kind}
    if model.kind == "mlp":
        wh = conv(h[node:node + 1])
        out.update(neighbours=np.array([node]), coef=np.array([1.0]),
                   contribution=np.array([float(wh.norm())]))
        return out
    if model.kind == "gcn":
        ei_sl, w = gcn_norm(ei, None, n, add_self_loops=True)
        sel = ei_sl[1] == node
        src, coef = ei_sl[0][sel], w[sel]
        wh = conv.lin(h[src])
    elif model.kind == "sage":
        ei_ns, _ = remove_self_loops(ei)
        src = ei_ns[0][ei_ns[1] == node]
        coef = torch.full((len(src),), 1.0 / max(len(src), 1))
        w_l = getattr(conv.lin_l, "inner", conv.lin_l).weight
        w_r = getattr(conv.lin_r, "inner", conv.lin_r).weight
        wh = torch.cat([h[node:node + 1] @ w_r.T, h[src] @ w_l.T])  # root term first
        src = torch.cat([torch.tensor([node]), src])
        coef = torch.cat([torch.tensor([1.0]), coef])
    else:  # gat
        _, (ei_att, alpha) = conv(h, ei, return_attention_weights=True)
        sel = ei_att[1] == node
        src, head_coef = ei_att[0][sel], alpha[sel]  # (M, heads)
        coef = head_coef.mean(1)
        lin = conv.lin if getattr(conv, "lin", None) is not None else conv.lin_src
        wh = lin(h[src]).view(len(src), conv.heads, -1)
        wh = (wh * head_coef.unsqueeze(-1)).flatten(1)
        out["head_coef"] = head_coef.numpy()
    if model.kind != "gat":
        wh = wh * coef.unsqueeze(1)
    # the node itself first
    order = torch.argsort((src != node).int(), stable=True)
    out.update(neighbours=src[order].numpy(), coef=coef[order].numpy(),
               contribution=wh[order].norm(dim=1).numpy())
    if "head_coef" in out:
        out["head_coef"] = out["head_coef"][order.numpy()]
    return out


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


def _fit(cfg: GnnConfig, data, device: torch.device, layers: int | None = None,
         tick: Ticker | None = None) -> Iterator[tuple[int, dict, NodeGNN, dict | None, bool]]:
    """Train one model; yields ``(epoch, metrics, model, artifacts or None, last)`` every epoch
    (artifacts when ``tick`` says a snapshot is due, and at the last epoch; ``last`` is True at
    ``cfg.epochs`` or when early stopping ends the run)."""
    seed_everything(cfg.seed)
    if layers is not None:
        cfg = GnnConfig(**{**cfg.__dict__, "layers": layers})
    x = sparse_features(data.x).to(device)
    ei, y = data.edge_index.to(device), data.y.to(device)
    masks = {"train": data.train_mask.to(device), "val": data.val_mask.to(device),
             "test": data.test_mask.to(device)}
    model = build_model(cfg, data.num_features, data.num_classes).to(device)
    opt = make_optimizer(cfg, model)
    select, axes = ModelSelection(cfg.patience), None
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        opt.zero_grad()
        logits = model(x, ei)
        loss = F.cross_entropy(logits[masks["train"]], y[masks["train"]])
        loss.backward()
        opt.step()
        loss = float(loss.detach())
        acc, logits_eval, hid = evaluate(model, x, ei, y, masks)
        val_loss = (float(F.cross_entropy(logits_eval[masks["val"]], y[masks["val"]]))
                    if masks["val"].any() else math.nan)
        stop = select.update(epoch, acc["val"], val_loss, acc["test"])
        last = stop or epoch == cfg.epochs or not math.isfinite(loss)
        metrics = {"loss": loss, "train_acc": acc["train"], "val_acc": acc["val"],
                   "test_acc": acc["test"], "best_val_test_acc": select.selected_test,
                   "selected_epoch": float(select.selected_epoch)}
        if math.isfinite(val_loss):
            metrics["val_loss"] = val_loss
        art = None
        if (tick is not None and tick(epoch)) or last:
            emb, axes = embed_2d(hid[:MAX_EMBED_POINTS], axes)
            art = {"pred": logits_eval.argmax(1).cpu().numpy().astype(np.int16),
                   "embedding": emb}
            if last:  # the full last hidden layer, for a t-SNE of the finished run
                art["hidden"] = hid[:MAX_EMBED_POINTS].float().cpu().numpy()
        yield epoch, metrics, model, art, last
        if last:
            return


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
    device = resolve_device(cfg.device)
    data = make_graph(cfg)
    tick = Ticker(total=cfg.epochs)
    art: dict = {}
    for epoch, metrics, model, new, last in _fit(cfg, data, device, tick=tick):
        if new is not None:
            art = {**new, "note": data.note}
        yield Snapshot(epoch, tick.elapsed, metrics, art, total_steps=cfg.epochs, final=last,
                       model=frozen_model(model) if last else None)


def train_depth(cfg: GnnConfig) -> Iterator[Snapshot]:
    """Over-smoothing: train ``cfg.model`` at each depth in :data:`DEPTHS` (``cfg.layers`` is
    ignored); one snapshot per depth (step = number of layers).

    Metrics: ``train_acc``, ``test_acc`` (at the last epoch), ``best_val_test_acc``, ``loss``,
    ``mad`` (mean pairwise cosine distance of the last hidden layer, trained model) and
    ``mad_untrained`` (same for the freshly initialised model: propagation alone smooths).
    """
    device = resolve_device(cfg.device)
    data = make_graph(cfg)
    x = sparse_features(data.x).to(device)
    ei = data.edge_index.to(device)
    t = Ticker(total=max(DEPTHS))
    for depth in DEPTHS:
        seed_everything(cfg.seed)
        fresh = build_model(GnnConfig(**{**cfg.__dict__, "layers": depth}), data.num_features,
                            data.num_classes).to(device).eval()
        with torch.no_grad():
            _, _, hid0 = fresh(x, ei, return_hidden=True)
        *_, (_, metrics, model, _, _) = _fit(cfg, data, device, layers=depth)  # run to the end
        model.eval()
        with torch.no_grad():
            _, _, hid = model(x, ei, return_hidden=True)
        m = {k: metrics[k] for k in ("loss", "train_acc", "test_acc", "best_val_test_acc")}
        m.update(mad=mean_pairwise_distance(hid, seed=cfg.seed),
                 mad_untrained=mean_pairwise_distance(hid0, seed=cfg.seed))
        t(depth)
        yield Snapshot(depth, t.elapsed, m, {"note": data.note}, total_steps=max(DEPTHS),
                       final=depth == max(DEPTHS))


# ---------------------------------------------------------------------- graph classification


@dataclass(frozen=True)
class GraphClsConfig:
    """Every setting of one graph-classification run."""

    dataset: str = param("cycles", choices=GRAPH_SETS,
                         help="cycles: generated tree-or-cycle graphs; mutag: 188 molecules "
                         "(needs a download; offline it falls back to cycles)")
    model: str = param("gin", choices=("gcn", "gin"), help="GIN (sum aggregation + MLP) or GCN")
    pooling: str = param("sum", choices=("sum", "mean", "max"),
                         help="how node vectors become one graph vector")
    layers: int = param(3, lo=1, hi=6)
    hidden: int = param(32, lo=4, hi=128, label="Hidden size")
    lr: float = param(0.01, lo=1e-4, hi=0.3, log=True, label="Learning rate")
    epochs: int = param(60, lo=1, hi=500)
    batch_size: int = param(32, choices=(8, 16, 32, 64, 128), label="Batch size")
    seed: int = param(0, lo=0, hi=2**31 - 1)
    device: str = param("auto", choices=("auto", "cpu", "cuda"))


class GraphClassifier(nn.Module):
    """``layers`` GCN/GIN layers -> global pooling -> Linear: graphs -> logits (B, K).

    ``forward(x (N, F), edge_index (2, E), batch (N,))`` returns ``(logits (B, K), graph vectors
    (B, hidden))``; ``batch`` maps nodes to graphs (PyG's mini-batch of disjoint graphs).
    """

    def __init__(self, kind: str, in_dim: int, hidden: int, n_classes: int, layers: int,
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
        for _ in range(layers):
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


def train_graphs(cfg: GraphClsConfig) -> Iterator[Snapshot]:
    """Graph classification with global pooling; one snapshot per epoch.

    80/20 train/test split (seeded). Metrics: ``loss`` (mean cross-entropy over the epoch's
    mini-batches), ``train_acc``, ``test_acc``. Artifacts: ``embedding`` (n_graphs, 2) pooled
    graph vectors in 2-D (PCA), ``y`` (n_graphs,), ``is_test`` (n_graphs,) bool, ``note``.
    """
    from torch_geometric.loader import DataLoader

    device = resolve_device(cfg.device)
    graphs, n_feat, n_cls, note = load_graph_dataset(cfg.dataset, seed=cfg.seed)
    seed_everything(cfg.seed)
    order = np.random.default_rng(cfg.seed).permutation(len(graphs))
    n_train = int(0.8 * len(graphs))
    tr = [graphs[i] for i in order[:n_train]]
    te = [graphs[i] for i in order[n_train:]]
    model = GraphClassifier(cfg.model, n_feat, cfg.hidden, n_cls, cfg.layers,
                            cfg.pooling).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    gen = torch.Generator().manual_seed(cfg.seed)
    loader = DataLoader(tr, batch_size=cfg.batch_size, shuffle=True, generator=gen)
    full = DataLoader(tr + te, batch_size=256)
    is_test = np.r_[np.zeros(len(tr), bool), np.ones(len(te), bool)]
    tick = Ticker(total=cfg.epochs)
    art: dict = {"note": note or ""}
    axes = None
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        total, count = 0.0, 0
        for b in loader:
            b = b.to(device)
            logits, _ = model(b.x, b.edge_index, b.batch)
            loss = F.cross_entropy(logits, b.y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total, count = total + float(loss.detach()) * b.num_graphs, count + b.num_graphs
        model.eval()
        preds, vecs, ys = [], [], []
        with torch.no_grad():
            for b in full:
                b = b.to(device)
                logits, g = model(b.x, b.edge_index, b.batch)
                preds.append(logits.argmax(1).cpu())
                vecs.append(g.cpu())
                ys.append(b.y.cpu())
        pred, y = torch.cat(preds).numpy(), torch.cat(ys).numpy()
        ok = pred == y
        metrics = {"loss": total / max(count, 1), "train_acc": float(ok[~is_test].mean()),
                   "test_acc": float(ok[is_test].mean())}
        final = epoch == cfg.epochs
        if tick(epoch) or final:
            emb, axes = embed_2d(torch.cat(vecs), axes)
            art = {"embedding": emb, "y": y, "is_test": is_test, "note": note or ""}
        yield Snapshot(epoch, tick.elapsed, metrics, art, total_steps=cfg.epochs, final=final,
                       model=frozen_copy(model) if final else None)
        if not math.isfinite(metrics["loss"]):
            return


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
