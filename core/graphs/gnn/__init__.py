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

Modules: :mod:`.model` (:class:`NodeGNN`, sparse input), :mod:`.node_classification` (the
``gnn`` and ``gnn_depth`` demos: config, the run's graph and split, the training loop),
:mod:`.graph_classification` (the ``gnn_graph`` demo, whole), :mod:`.analysis` (2-D maps of node
vectors, MAD, message passing at one node), :mod:`.layout` (which nodes to draw, and where).
"""

from core.graphs.gnn.analysis import *  # noqa: F403
from core.graphs.gnn.graph_classification import *  # noqa: F403
from core.graphs.gnn.layout import *  # noqa: F403
from core.graphs.gnn.model import *  # noqa: F403
from core.graphs.gnn.node_classification import *  # noqa: F403
