"""A custom layer written as an ``nn.Module``: :class:`RBF` (parameters, buffers,
``state_dict``), trained live on the iris flowers by :func:`train_module` (the ``module`` demo).

Reference: Broomhead & Lowe, "Radial basis functions, multi-variable functional interpolation
and adaptive networks" (1988).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from core.protocol import Demo, Progress, RunOptions, Snapshot, eval_mode, param, start

__all__ = ["GRID", "IRIS_FEATURES", "IRIS_NAMES", "RBF", "ModuleConfig", "RBFNet", "build_module",
           "iris", "module_anatomy", "train_module"]


class RBF(nn.Module):
    """A radial-basis-function layer written as a module.

    ``phi_k(x) = exp(-gamma_k · ||(x - mean) / std - c_k||²)`` for K learned centres ``c_k``
    and widths ``gamma_k = exp(log_gamma_k)``. Parameters (learned): ``centers`` (K, D),
    ``log_gamma`` (K,). Buffers (saved in the ``state_dict``, moved by ``.to()``, never
    learned): ``mean`` and ``std`` (D,), the input standardisation, and ``calls``, how many
    forward passes ran in training mode. Input (N, D) -> output (N, K).
    """

    def __init__(self, in_features: int, n_centers: int, mean: torch.Tensor,
                 std: torch.Tensor) -> None:
        super().__init__()
        self.centers = nn.Parameter(torch.randn(n_centers, in_features))
        self.log_gamma = nn.Parameter(torch.zeros(n_centers))
        self.register_buffer("mean", mean.clone())
        self.register_buffer("std", std.clone())
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.calls += 1
        z = (x - self.mean) / self.std  # (N, D)
        d2 = ((z[:, None, :] - self.centers[None, :, :]) ** 2).sum(-1)  # (N, K)
        return torch.exp(-self.log_gamma.exp() * d2)


class RBFNet(nn.Module):
    """``RBF(D -> K)`` then ``nn.Linear(K -> classes)``: logits (N, classes)."""

    def __init__(self, in_features: int, n_centers: int, n_classes: int, mean: torch.Tensor,
                 std: torch.Tensor) -> None:
        super().__init__()
        self.rbf = RBF(in_features, n_centers, mean, std)
        self.out = nn.Linear(n_centers, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.rbf(x))


IRIS_FEATURES = {"petal": (2, 3), "sepal": (0, 1)}
IRIS_NAMES = {"petal": ("petal length (cm)", "petal width (cm)"),
              "sepal": ("sepal length (cm)", "sepal width (cm)")}
GRID = 60


@dataclass(frozen=True)
class ModuleConfig(RunOptions):
    """A custom ``nn.Module`` (:class:`RBFNet`) trained on two features of the iris flowers."""

    features: str = param("sepal", choices=tuple(IRIS_FEATURES),
                          help="which two iris measurements the network sees")
    n_centers: int = param(6, lo=1, hi=20, label="RBF centres",
                           help="K: the learned centres of the RBF layer")
    lr: float = param(0.03, lo=1e-4, hi=1.0, log=True, label="Learning rate",
                      help="Adam learning rate")
    steps: int = param(400, lo=10, hi=5000, help="full-batch Adam steps")


def _iris_table() -> tuple[np.ndarray, np.ndarray]:
    """Iris measurements (150, 4) in cm and species (150,), read from the CSV file that ships
    with scikit-learn (without importing scikit-learn, which takes seconds)."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("sklearn")
    path = Path(spec.origin).parent / "datasets" / "data" / "iris.csv" if spec and spec.origin \
        else None
    if path is not None and path.exists():
        table = np.loadtxt(path, delimiter=",", skiprows=1)
        return table[:, :4], table[:, 4].astype(np.int64)
    from sklearn.datasets import load_iris

    d = load_iris()
    return d.data, d.target


def iris(features: str, seed: int) -> tuple[torch.Tensor, ...]:
    """Fisher's iris (150 flowers, 3 species; bundled with scikit-learn): two measurements in
    cm, split 70/30 with ``seed``. Returns ``(X_train (N, 2), y_train (N,), X_test, y_test)``."""
    data, target = _iris_table()
    X = torch.tensor(data[:, list(IRIS_FEATURES[features])], dtype=torch.float32)
    y = torch.tensor(target, dtype=torch.long)
    order = torch.randperm(len(X), generator=torch.Generator().manual_seed(seed))
    tr, te = order[:105], order[105:]
    return X[tr], y[tr], X[te], y[te]


def build_module(cfg: ModuleConfig, X_train: torch.Tensor) -> RBFNet:
    """The network, its RBF buffers set from the training inputs (N, 2)."""
    return RBFNet(2, cfg.n_centers, 3, X_train.mean(0), X_train.std(0))


def module_anatomy(model: nn.Module) -> dict[str, list[dict[str, Any]]]:
    """What ``nn.Module`` keeps track of: ``parameters`` (name, shape, numel, requires_grad),
    ``buffers`` (name, shape, dtype) and the ``state_dict`` (key, shape, whether it is a
    parameter)."""
    params = {n for n, _ in model.named_parameters()}
    return {
        "parameters": [{"name": n, "shape": str(tuple(p.shape)), "numel": p.numel(),
                        "requires_grad": p.requires_grad} for n, p in model.named_parameters()],
        "buffers": [{"name": n, "shape": str(tuple(b.shape)), "dtype": str(b.dtype)}
                    for n, b in model.named_buffers()],
        "state_dict": [{"key": k, "shape": str(tuple(v.shape)), "kind": "parameter" if k in
                        params else "buffer"} for k, v in model.state_dict().items()]}


def _grid(X: torch.Tensor) -> tuple[np.ndarray, np.ndarray, torch.Tensor]:
    lo, hi = X.min(0).values - 0.5, X.max(0).values + 0.5
    xs = torch.linspace(float(lo[0]), float(hi[0]), GRID)
    ys = torch.linspace(float(lo[1]), float(hi[1]), GRID)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return xs.numpy(), ys.numpy(), torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)


def _module_artifacts(model: RBFNet, grid: torch.Tensor) -> dict[str, np.ndarray]:
    """Class probabilities over the grid (GRID, GRID, 3), centres (K, 2) in cm, widths (K,)."""
    with eval_mode(model):
        prob = model(grid).softmax(1).reshape(GRID, GRID, 3).cpu().numpy()
        rbf = model.rbf
        centers = (rbf.centers * rbf.std + rbf.mean).cpu().numpy()
        gamma = rbf.log_gamma.exp().cpu().numpy()
    return {"prob": prob, "centers": centers, "gamma": gamma}


def _accuracy(model: RBFNet, X: torch.Tensor, y: torch.Tensor) -> float:
    with eval_mode(model):
        return float((model(X).argmax(1) == y).float().mean())


def train_module(cfg: ModuleConfig) -> Iterator[Snapshot]:
    """Train :class:`RBFNet` with full-batch Adam on cross-entropy; step 0 is the untrained net.

    Metrics: ``loss`` (train cross-entropy, nats), ``train_acc``, ``test_acc``. Artifacts:
    ``prob`` (GRID, GRID, 3) class probabilities over the plane, ``centers`` (K, 2) in cm,
    ``gamma`` (K,), ``xs``/``ys`` the grid axes, ``data`` (X_train, y_train, X_test, y_test).
    """
    device = start(cfg)
    Xtr, ytr, Xte, yte = iris(cfg.features, cfg.seed)
    model = build_module(cfg, Xtr).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    xs, ys, grid = _grid(torch.cat([Xtr, Xte]))
    data = tuple(t.numpy() for t in (Xtr, ytr, Xte, yte))
    Xtr, ytr, Xte, yte, grid = (t.to(device) for t in (Xtr, ytr, Xte, yte, grid))
    progress = Progress(cfg.steps, copy_every_s=2)
    for step in range(cfg.steps + 1):
        loss = nn.functional.cross_entropy(model(Xtr), ytr)
        if step > 0:
            opt.zero_grad()
            loss.backward()
            opt.step()
        if progress.due(step):
            metrics = {"loss": loss.item(), "train_acc": _accuracy(model, Xtr, ytr),
                       "test_acc": _accuracy(model, Xte, yte)}
            art = {**_module_artifacts(model, grid), "xs": xs, "ys": ys, "data": data}
            yield progress.snapshot(step, metrics, art, model=model)


DEMOS = [
    Demo("module", ModuleConfig, train_module, title="A custom nn.Module",
              description="An RBF layer written as an nn.Module learns the iris flowers."),
]
