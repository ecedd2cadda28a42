"""Graph classification (the ``gnn_graph`` demo): GCN or GIN layers, then global
sum/mean/max pooling and a linear read-out.

Reference: Xu et al., "How Powerful are Graph Neural Networks?", ICLR 2019 (GIN); PyG's
``examples/mutag_gin.py``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - the usual alias
from torch import nn

from core.data.graphs import GRAPH_SETS, load_graph_dataset
from core.graphs.gnn.analysis import embed_2d
from core.protocol import Demo, Progress, RunningMean, RunOptions, Snapshot, eval_mode, param, start

__all__ = ["GraphClassifier", "GraphClsConfig", "predict_graphs", "split_graphs",
           "train_graph_epoch", "train_graphs"]


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
    start(cfg)  # again: training starts from the seed whatever loading the data drew
    tr, te = split_graphs(graphs, cfg.seed)
    model = GraphClassifier(cfg.model, n_feat, cfg.hidden, n_cls, cfg.n_layers,
                            cfg.pooling).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    loader = DataLoader(tr, batch_size=cfg.batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(cfg.seed))
    full = DataLoader(tr + te, batch_size=256)
    is_test = np.r_[np.zeros(len(tr), bool), np.ones(len(te), bool)]
    progress = Progress(cfg.epochs, mean_window=None)  # losses popped every epoch: its mean
    art, axes = {"note": note or ""}, None
    for epoch in range(1, cfg.epochs + 1):
        train_graph_epoch(model, loader, opt, device, progress.losses)
        pred, vecs, y = predict_graphs(model, full, device)
        metrics = {**progress.losses.pop(), "train_acc": float((pred == y)[~is_test].mean()),
                   "test_acc": float((pred == y)[is_test].mean())}
        if progress.due(epoch) and bool(torch.isfinite(vecs).all()):
            emb, axes = embed_2d(vecs, axes)
            art = {"embedding": emb, "y": y, "is_test": is_test, "note": note or ""}
        yield progress.snapshot(epoch, metrics, art, model=model)


DEMOS = [
    Demo("gnn_graph", GraphClsConfig, train_graphs, title="GNN graph classification",
         description="GIN or GCN layers with global pooling classify whole graphs (MUTAG, or a "
         "generated cycle-or-tree task offline)."),
]
