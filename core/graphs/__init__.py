"""Graph neural networks: GCN, GraphSAGE and GAT on node and graph classification."""
