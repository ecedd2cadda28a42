"""The MNIST task of the range test and the loss landscape: real digits, a small MLP, shuffled
mini-batches and the test accuracy.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from core.protocol import eval_mode

__all__ = ["accuracy", "batches", "mnist_net", "mnist_tensors", "train_step"]


def mnist_tensors(device: torch.device, n_train: int = 4000) -> tuple[torch.Tensor, ...]:
    """Real MNIST digits (``core.data.load_images("mnist")``) flattened: ``(x_train (N, 784),
    y_train (N,), x_test (M, 784), y_test (M,), note)``; ``note`` is the data layer's fallback
    line or None."""
    from core.data import load_images

    tr, te = load_images("mnist", "train"), load_images("mnist", "test")
    return (tr.x[:n_train].reshape(len(tr.x[:n_train]), -1).to(device), tr.y[:n_train].to(device),
            te.x.reshape(len(te.x), -1).to(device), te.y.to(device), tr.note)


def mnist_net(hidden: int = 32) -> nn.Sequential:
    """A small MLP for MNIST: ``784 -> hidden -> 10`` with ReLU; input (B, 784), logits (B, 10)."""
    return nn.Sequential(nn.Linear(784, hidden), nn.ReLU(), nn.Linear(hidden, 10))


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Share of correct argmax predictions of ``model`` on ``x`` (N, 784), ``y`` (N,)."""
    with eval_mode(model):
        return float((model(x).argmax(1) == y).float().mean())


def train_step(model: nn.Module, opt: torch.optim.Optimizer, xb: torch.Tensor,
               yb: torch.Tensor) -> float:
    """One optimizer step on the cross-entropy of the batch ``(xb (B, 784), yb (B,))``; returns
    the loss before the step (nats; inf or NaN once a run has diverged)."""
    loss = nn.functional.cross_entropy(model(xb), yb)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss.item()


def batches(x: torch.Tensor, y: torch.Tensor, batch_size: int,
            gen: torch.Generator) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Endless shuffled mini-batches ``(x (B, 784), y (B,))``; each epoch a new permutation."""
    while True:
        order = torch.randperm(len(y), generator=gen).to(x.device)
        for i in range(0, len(y) - batch_size + 1, batch_size):
            idx = order[i:i + batch_size]
            yield x[idx], y[idx]
