"""Graph data sets for the GNN page: one API, :func:`load_graph`.

* ``karate``: Zachary's karate club (34 members, 78 friendships, 4 communities), bundled with PyG
  (``torch_geometric.datasets.KarateClub``), always offline. Features are one-hot node ids.
* ``cora`` / ``citeseer``: the Planetoid citation graphs with the standard public split
  (20 labelled papers per class, 500 validation, 1,000 test), row-normalized bag-of-words
  features (``NormalizeFeatures``). Read from ``data_root()/Planetoid/<Name>/raw`` or downloaded
  by PyG when online. Yang, Cohen & Salakhutdinov, "Revisiting Semi-Supervised Learning with
  Graph Embeddings", ICML 2016.
* ``sbm``: a stochastic block model (Holland, Laskey & Leinhardt, 1983) whose edge homophily
  (fraction of edges inside a community) and feature signal the caller sets, to show when message
  passing helps and when it hurts.

When Cora/CiteSeer cannot be loaded (offline, no files) :func:`load_graph` returns an SBM of the
same number of classes and sets ``data.note`` to one line saying so (pages show it).
Graph-classification sets live in :func:`load_graph_dataset` (MUTAG or a generated task).
"""

from __future__ import annotations

import functools
import socket
from pathlib import Path

import numpy as np
import torch

from core.checks import check_choice
from core.data import data_root, offline

__all__ = ["GRAPHS", "GRAPH_SETS", "load_graph", "sbm_graph", "load_graph_dataset",
           "cycles_vs_trees"]

GRAPHS = ("karate", "cora", "citeseer", "sbm")
GRAPH_SETS = ("cycles", "mutag")
_PLANETOID = {"cora": "Cora", "citeseer": "CiteSeer"}
CORA_CLASSES = ["Case based", "Genetic alg.", "Neural nets", "Prob. methods",
                "Reinforcement", "Rule learning", "Theory"]
CITESEER_CLASSES = ["Agents", "AI", "DB", "IR", "ML", "HCI"]


def _masks_from_index(n: int, idx: np.ndarray) -> torch.Tensor:
    m = torch.zeros(n, dtype=torch.bool)
    m[torch.as_tensor(idx, dtype=torch.long)] = True
    return m


def sbm_graph(n_nodes: int = 300, n_classes: int = 3, avg_degree: float = 6.0,
              homophily: float = 0.8, feature_signal: float = 0.5, n_features: int = 16,
              seed: int = 0):
    """A stochastic block model with Gaussian class-dependent node features.

    Nodes are split into ``n_classes`` equal communities (consecutive node ids). An undirected edge
    joins two nodes of the same community with probability ``p_in`` and of different communities
    with ``p_out`` (``torch_geometric.utils.stochastic_blockmodel_graph``),
    chosen so that the expected degree is ``avg_degree`` and the expected fraction of edges
    inside communities (edge homophily) is ``homophily``. Node ``i`` of class ``c`` gets features
    ``x_i = feature_signal * mu_c + eps_i``, ``mu_c`` a random unit vector and
    ``eps_i ~ N(0, I)``.

    Returns:
        ``torch_geometric.data.Data`` with ``x`` (N, n_features) float32, ``y`` (N,) int64,
        ``edge_index`` (2, 2E) both directions, ``num_classes`` and ``class_names``.

    Raises:
        ValueError: for sizes or probabilities out of range.
    """
    from torch_geometric.data import Data
    from torch_geometric.utils import stochastic_blockmodel_graph

    if not 2 <= n_classes <= 10 or n_nodes < 4 * n_classes:
        raise ValueError("sbm needs 2 to 10 classes and at least 4 nodes per class")
    if not 0.0 <= homophily <= 1.0:
        raise ValueError(f"homophily={homophily} must be in [0, 1]")
    sizes = [n_nodes // n_classes + (c < n_nodes % n_classes) for c in range(n_classes)]
    y = np.repeat(np.arange(n_classes), sizes)
    size = n_nodes / n_classes
    p_in = min(1.0, homophily * avg_degree / max(size - 1, 1))
    p_out = min(1.0, (1 - homophily) * avg_degree / max(n_nodes - size, 1))
    probs = torch.full((n_classes, n_classes), p_out)
    probs.fill_diagonal_(p_in)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        edge_index = stochastic_blockmodel_graph(sizes, probs, directed=False)
    rng = np.random.default_rng(seed)
    mu = rng.normal(size=(n_classes, n_features))
    mu /= np.linalg.norm(mu, axis=1, keepdims=True)
    x = feature_signal * mu[y] + rng.normal(size=(n_nodes, n_features))
    return Data(x=torch.as_tensor(x, dtype=torch.float32), y=torch.as_tensor(y, dtype=torch.long),
                edge_index=edge_index, num_classes=n_classes,
                class_names=[f"community {c}" for c in range(n_classes)])


def _karate():
    from torch_geometric.datasets import KarateClub

    d = KarateClub()[0]
    d.num_classes = int(d.y.max()) + 1
    d.class_names = [f"group {c}" for c in range(d.num_classes)]
    return d


@functools.lru_cache(maxsize=4)
def _planetoid(name: str, root: str):
    """Load a Planetoid set from ``root`` (download there when online)."""
    import torch_geometric.transforms as T
    from torch_geometric.datasets import Planetoid

    pretty = _PLANETOID[name]
    raw = Path(root) / pretty / "raw"
    if not raw.is_dir() or not any(raw.iterdir()):
        if offline():
            raise FileNotFoundError(f"no {pretty} files under {raw}")
        Path(root).mkdir(parents=True, exist_ok=True)
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(10)
    try:
        ds = Planetoid(root, pretty, split="public", transform=T.NormalizeFeatures())
    finally:
        socket.setdefaulttimeout(old)
    d = ds[0]
    d.num_classes = ds.num_classes
    d.class_names = CORA_CLASSES if name == "cora" else CITESEER_CLASSES
    return d


def load_graph(name: str, *, root: str | Path | None = None, seed: int = 0, **sbm_kwargs):
    """Load one node-classification graph as a ``torch_geometric.data.Data``.

    Args:
        name: one of :data:`GRAPHS`.
        root: folder holding ``<Name>/raw`` Planetoid files (default ``data_root()/Planetoid``).
        seed: RNG seed of the ``sbm`` graph (and of a fallback SBM).
        **sbm_kwargs: passed to :func:`sbm_graph` for ``name="sbm"``.

    Returns:
        ``Data`` with ``x`` (N, F) float32, ``y`` (N,) int64, ``edge_index`` (2, E) int64
        (both directions of every undirected edge), ``num_classes``, ``class_names``, ``name``
        (the graph actually loaded), ``requested`` and ``note`` (one line when the requested
        graph was unavailable and an SBM stands in, else ``""``: PyG drops ``None`` attributes).
        Planetoid graphs also carry the public ``train_mask``/``val_mask``/``test_mask``.
        Returns a fresh copy: callers may modify it.

    Raises:
        ValueError: for an unknown name.
    """
    check_choice("graph", name, GRAPHS)
    note = ""
    if name == "karate":
        d = _karate()
    elif name == "sbm":
        d = sbm_graph(seed=seed, **sbm_kwargs)
    else:
        folder = str(Path(root) if root is not None else data_root() / "Planetoid")
        try:
            d = _planetoid(name, folder).clone()
        except Exception as e:  # offline, missing files, a broken download
            why = "offline" if offline() else f"could not be loaded ({type(e).__name__})"
            k = 7 if name == "cora" else 6
            d = sbm_graph(n_nodes=70 * k, n_classes=k, avg_degree=4.0, homophily=0.8,
                          feature_signal=0.6, seed=seed)
            note = (f"{_PLANETOID[name]} is not available here ({why}); showing a synthetic "
                    f"{k}-community block-model graph instead.")
            d.name, d.requested, d.note = "sbm", name, note
            return d
    d.name, d.requested, d.note = name, name, note
    return d


# ---------------------------------------------------------------- graph classification sets


def _random_tree(n: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """A uniformly random recursive tree on ``n`` nodes: node i joins a random earlier node."""
    return [(int(rng.integers(0, i)), i) for i in range(1, n)]


def cycles_vs_trees(n_graphs: int = 400, min_nodes: int = 8, max_nodes: int = 20,
                    seed: int = 0) -> list:
    """A generated graph-classification task: does the graph contain a cycle?

    Class 0: a random tree. Class 1: a random tree plus one extra edge between two nodes that are
    not yet adjacent (so exactly one cycle). Node features are the one-hot degree (1, 2, 3, 4+),
    so a model must read the answer from structure: a tree on n nodes has n - 1 edges, the other
    graph n, which sum or mean pooling of degrees reveals and max pooling does not.

    Returns:
        a list of ``Data`` with ``x`` (n, 4), ``edge_index`` (2, 2m) and ``y`` (1,) in {0, 1}.
    """
    from torch_geometric.data import Data

    rng = np.random.default_rng(seed)
    graphs = []
    for i in range(n_graphs):
        n = int(rng.integers(min_nodes, max_nodes + 1))
        edges = _random_tree(n, rng)
        label = i % 2
        if label:
            present = set(edges) | {(b, a) for a, b in edges}
            while True:
                a, b = (int(v) for v in rng.choice(n, 2, replace=False))
                if (a, b) not in present:
                    edges.append((a, b))
                    break
        e = np.array(edges).T
        ei = torch.as_tensor(np.concatenate([e, e[::-1]], 1), dtype=torch.long)
        deg = np.bincount(e.ravel(), minlength=n)
        x = torch.zeros(n, 4)
        x[torch.arange(n), torch.as_tensor(np.clip(deg, 1, 4) - 1)] = 1.0
        graphs.append(Data(x=x, edge_index=ei, y=torch.tensor([label])))
    order = rng.permutation(n_graphs)
    return [graphs[j] for j in order]


def load_graph_dataset(name: str, *, root: str | Path | None = None, seed: int = 0):
    """A graph-classification data set as ``(graphs, num_features, num_classes, note)``.

    Args:
        name: ``"mutag"`` (188 molecules, mutagenic or not; Debnath et al. 1991, via PyG's
            ``TUDataset`` from ``data_root()/TUDataset`` or a download when online) or
            ``"cycles"`` (:func:`cycles_vs_trees`, always offline).
        seed: seed of the generated set.

    Returns:
        a list of ``Data`` (each with ``x``, ``edge_index``, ``y`` of shape (1,)), the node
        feature size, the number of classes, and a one-line ``note`` when MUTAG was unavailable
        and the generated task stands in (else ``None``).

    Raises:
        ValueError: for an unknown name.
    """
    check_choice("graph set", name, GRAPH_SETS)
    if name == "mutag":
        folder = Path(root) if root is not None else data_root() / "TUDataset"
        try:
            if offline() and not (folder / "MUTAG" / "raw").is_dir():
                raise FileNotFoundError("offline")
            from torch_geometric.datasets import TUDataset

            old = socket.getdefaulttimeout()
            socket.setdefaulttimeout(10)
            try:
                ds = TUDataset(str(folder), "MUTAG")
            finally:
                socket.setdefaulttimeout(old)
            return [g for g in ds], ds.num_features, ds.num_classes, None
        except Exception as e:
            why = "offline" if offline() else f"could not be loaded ({type(e).__name__})"
            note = (f"MUTAG is not available here ({why}); using the generated "
                    "cycle-or-tree task instead.")
            return cycles_vs_trees(seed=seed), 4, 2, note
    return cycles_vs_trees(seed=seed), 4, 2, None
