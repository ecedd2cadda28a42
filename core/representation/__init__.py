"""Representation learning: contrastive self-supervised learning (SimCLR)."""
