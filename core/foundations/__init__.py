"""Foundations: PyTorch itself and the multilayer perceptron (the MLP playground)."""
