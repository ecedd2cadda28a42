"""Which nodes of a large graph to draw, and where: a sample of neighbourhoods, the
k-hop neighbourhood of one node, and a spring layout of a subgraph."""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["neighbourhood", "sample_nodes", "subgraph_layout"]


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
