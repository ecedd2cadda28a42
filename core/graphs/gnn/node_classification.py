"""Semi-supervised node classification (the ``gnn`` demo) and over-smoothing with depth
(the ``gnn_depth`` demo), written beside PyG's ``examples/gcn.py``.

Shapes: node features ``x`` (N, F); ``edge_index`` (2, E) int64; logits (N, K); last hidden
layer (N, H) (H = hidden * n_heads for GAT). Training is full-batch Adam on the cross-entropy of
the labelled nodes (``train_mask``); model selection and early stopping on the validation nodes
(Velickovic et al., ICLR 2018)."""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - the usual alias

from core.data import data_root
from core.data.graphs import GRAPHS, load_graph
from core.graphs.gnn.analysis import embed_2d, mean_pairwise_distance
from core.graphs.gnn.model import MODELS, NodeGNN, sparse_features
from core.protocol import (
    Demo,
    Progress,
    RunOptions,
    Snapshot,
    Ticker,
    eval_mode,
    heartbeats,
    param,
    seed_everything,
    start,
)

__all__ = ["DEPTHS", "MAX_EMBED_POINTS", "WEIGHT_DECAYS", "Epoch", "GnnConfig", "ModelSelection",
           "build_model", "evaluate", "fit", "initial_model", "make_graph", "make_optimizer",
           "node_artifacts", "train", "train_depth", "train_step"]

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
    progress, art, axes = Progress(cfg.epochs), {}, None
    for e in fit(cfg, data, device):
        if progress.due(e.epoch) or e.last:
            art, axes = node_artifacts(e, axes)
            art["note"] = data.note
        yield progress.snapshot(e.epoch, e.metrics, art, model=e.model, final=e.last)


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


DEMOS = [
    Demo("gnn", GnnConfig, train, title="Graph neural networks: node classification",
         description="GCN, GraphSAGE, GAT or an MLP baseline label the nodes of a graph "
         "(karate club, Cora, CiteSeer, stochastic block model) from a few labelled ones."),
    Demo("gnn_depth", GnnConfig, train_depth, title="GNN over-smoothing: accuracy vs depth",
         description="Train the same GNN with 1 to 8 layers; accuracy and mean pairwise "
         "distance of node features per depth."),
]
