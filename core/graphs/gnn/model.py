"""The node-classification models: GCN, GraphSAGE, GAT and an MLP baseline as one
:class:`NodeGNN` (PyTorch Geometric layers), with sparse input.

* GCN, Kipf & Welling, "Semi-Supervised Classification with Graph Convolutional Networks",
  ICLR 2017: ``H' = sigma(D^-1/2 (A + I) D^-1/2 H W)`` (``GCNConv``).
* GraphSAGE (mean aggregator), Hamilton, Ying & Leskovec, NeurIPS 2017 (:class:`SAGELayer`, the
  computation and initialisation of ``SAGEConv``).
* GAT, Velickovic et al., "Graph Attention Networks", ICLR 2018 (``GATConv``):
  ``alpha_ij = softmax_j(LeakyReLU(a^T [W h_i || W h_j]))``.
* MLP: the same stack with ``Linear`` layers, ignoring the edges (the baseline).

Sparse input: Cora's bag-of-words features are 1.3% nonzero, so they are kept as a sparse CSR
tensor (:func:`sparse_features`), dropout acts on the nonzeros only (:func:`sparse_dropout`) and
the first layer's weight multiplies them sparsely (``F.linear`` on a CSR tensor; GCNConv and
GATConv take it as it is). ``SAGEConv`` gathers raw neighbour features, which a CSR tensor does
not support, so :class:`SAGELayer` projects first and then averages (the mean is linear).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812 - the usual alias
from torch import nn

__all__ = ["MODEL_NAMES", "MODELS", "NodeGNN", "SAGELayer", "sparse_dropout", "sparse_features"]

MODELS = ("gcn", "sage", "gat", "mlp")
MODEL_NAMES = {"gcn": "GCN", "sage": "GraphSAGE", "gat": "GAT", "mlp": "MLP (no edges)"}


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
