"""What a node-classification model has learned: node vectors in 2-D (PCA, t-SNE), the
over-smoothing measure MAD, and message passing at one node, neighbour by neighbour."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - the usual alias

from core.blocks.projection import FeatureMap, pca_2d
from core.graphs.gnn.model import NodeGNN, sparse_features
from core.protocol import (
    eval_mode,
)

__all__ = ["embed_2d", "mean_pairwise_distance", "neighbour_contributions", "recorded_messages",
           "tsne_2d"]


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
