"""MLP playground: a multilayer perceptron learns a 2-D dataset (after TensorFlow Playground).

Model: ``x -> features(x) -> [Linear -> (BatchNorm) -> activation -> (Dropout)] * L -> Linear``,
trained with mini-batch SGD or Adam on cross-entropy (classification, K >= 2 classes) or mean
squared error (regression), with an optional L1/L2 penalty on the weights.
Reference: Smilkov & Carter, "A Neural Network Playground" (playground.tensorflow.org, 2016).

Shapes: inputs ``(N, 2)`` in [-6, 6]^2; features ``(N, F)``; logits ``(N, K)``; regression
outputs ``(N, 1)``.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from core.data import toy2d
from core.diagnostics import watch
from core.protocol import Demo, Progress, RunOptions, Snapshot, eval_mode, param, start
from core.pyast import getsource

FEATURES = ("x1", "x2", "x1sq", "x2sq", "x1x2", "sinx1", "sinx2")
FEATURE_LABELS = {"x1": "x₁", "x2": "x₂", "x1sq": "x₁²", "x2sq": "x₂²", "x1x2": "x₁x₂",
                  "sinx1": "sin(x₁)", "sinx2": "sin(x₂)"}
DATASETS = ("circle", "xor", "gaussians", "spiral", "moons", "plane", "custom")
REGRESSION_SETS = ("plane",)
GRID = 64  # resolution of the decision-boundary heatmap
NEURON_GRID = 28  # resolution of each hidden neuron's heatmap
EXTENT = 6.0


@dataclass(frozen=True)
class PlaygroundConfig(RunOptions):
    """Every setting of one playground run (all hyperparameters, the data, the seed)."""

    dataset: str = param("circle", choices=DATASETS, help="2-D dataset ('plane' is regression; "
                         "'custom' uses your uploaded CSV)")
    n_classes: int = param(2, lo=2, hi=6, help="classes (gaussians and spiral only)")
    n_points: int = param(400, lo=50, hi=2000, step=50, label="Points")
    noise: float = param(0.0, lo=0.0, hi=1.0, step=0.05, help="label/position noise")
    train_ratio: float = param(0.5, lo=0.1, hi=0.9, step=0.05, label="Train/test ratio")
    x1: bool = param(True, label="x₁")
    x2: bool = param(True, label="x₂")
    x1sq: bool = param(False, label="x₁²")
    x2sq: bool = param(False, label="x₂²")
    x1x2: bool = param(False, label="x₁x₂")
    sinx1: bool = param(False, label="sin(x₁)")
    sinx2: bool = param(False, label="sin(x₂)")
    hidden: str = param("4,2", help="neurons per hidden layer, comma separated: 1 to 6 layers "
                        "of 1 to 8 neurons, e.g. 4,2")
    activation: str = param("tanh", choices=("relu", "tanh", "sigmoid", "linear"))
    optimizer: str = param("adam", choices=("adam", "sgd"))
    lr: float = param(0.03, lo=1e-5, hi=10.0, log=True, label="Learning rate")
    batch_size: int = param(10, choices=(1, 2, 5, 10, 20, 30, 50, 100), label="Batch size")
    regularization: str = param("none", choices=("none", "L1", "L2"))
    reg_rate: float = param(0.0, choices=(0.0, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0,
                                          3.0, 10.0), label="Regularization rate")
    dropout: float = param(0.0, lo=0.0, hi=0.5, step=0.05)
    batch_norm: bool = param(False, label="Batch norm")
    steps: int = param(2000, lo=10, hi=50000, step=10, help="mini-batch updates")
    csv: str = param("", help="CSV text of x1,x2,label rows (dataset=custom)")

    def __post_init__(self) -> None:
        parse_hidden(self.hidden)
        if not any(getattr(self, f) for f in FEATURES):
            raise ValueError("select at least one input feature")
        if self.dataset == "custom":
            parse_points_csv(self.csv)

    @property
    def features(self) -> tuple[str, ...]:
        return tuple(f for f in FEATURES if getattr(self, f))

    @property
    def layers(self) -> list[int]:
        return parse_hidden(self.hidden)

    @property
    def regression(self) -> bool:
        return self.dataset in REGRESSION_SETS


def parse_hidden(text: str) -> list[int]:
    """``"4,2"`` -> ``[4, 2]``.

    Raises:
        ValueError: unless it lists 1 to 6 integers in 1..8.
    """
    try:
        sizes = [int(s) for s in str(text).replace(" ", "").split(",") if s != ""]
    except ValueError:
        raise ValueError(f"hidden={text!r} must be comma-separated integers, e.g. 4,2") from None
    if not 1 <= len(sizes) <= 6 or not all(1 <= s <= 8 for s in sizes):
        raise ValueError(f"hidden={text!r}: use 1 to 6 hidden layers of 1 to 8 neurons, e.g. 4,2")
    return sizes


MAX_CSV_BYTES = 2_000_000  # an uploaded CSV of points is at most this large


def parse_points_csv(text: str) -> tuple[np.ndarray, np.ndarray]:
    """Parse the user's CSV of ``x1,x2,label`` rows (an optional header row is skipped).

    Points are rescaled into [-6, 6]^2 when they fall outside it. Labels must be integers 0-5.

    Returns:
        ``(X, y)``: float32 (N, 2) and int64 (N,).

    Raises:
        ValueError: with a message a user can act on (which row, what is wrong).
    """
    if not text or not text.strip():
        raise ValueError("the CSV is empty: upload rows of x1,x2,label")
    if len(text) > MAX_CSV_BYTES:
        raise ValueError("the CSV is too large (over 2 MB); use at most a few thousand points")
    rows = [r for r in csv.reader(io.StringIO(text)) if any(c.strip() for c in r)]
    pts, labels = [], []
    for i, r in enumerate(rows, start=1):
        if len(r) != 3:
            raise ValueError(f"row {i} has {len(r)} columns; each row must be x1,x2,label")
        try:
            a, b = float(r[0]), float(r[1])
            lab = float(r[2])
        except ValueError:
            if i == 1:
                continue  # a header row
            raise ValueError(f"row {i} is not numeric: {','.join(r)[:60]!r}") from None
        if not (math.isfinite(a) and math.isfinite(b)):
            raise ValueError(f"row {i} has a non-finite coordinate")
        if not lab.is_integer() or not 0 <= lab <= 5:
            raise ValueError(f"row {i}: the label must be an integer class 0 to 5, got {r[2]!r}")
        pts.append((a, b))
        labels.append(int(lab))
    if len(pts) < 4:
        raise ValueError("the CSV needs at least 4 points")
    if len(pts) > 5000:
        raise ValueError("the CSV has more than 5,000 points; use fewer")
    if len(set(labels)) < 2:
        raise ValueError("the CSV needs at least two different labels")
    X = np.asarray(pts, dtype=np.float64)
    if np.abs(X).max() > EXTENT:  # divide first: hi - lo of 1e308-sized points would overflow
        X = X / np.abs(X).max()
        lo, hi = X.min(0), X.max(0)
        X = (X - lo) / np.where(hi > lo, hi - lo, 1.0) * 2 * (EXTENT - 0.5) - (EXTENT - 0.5)
    return X.astype(np.float32), np.asarray(labels, dtype=np.int64)


def make_data(cfg: PlaygroundConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The run's train and test split: ``(X_train, y_train, X_test, y_test)``, X of shape (N, 2)."""
    if cfg.dataset == "custom":
        X, y = parse_points_csv(cfg.csv)
    else:
        X, y = toy2d(cfg.dataset, n=cfg.n_points, noise=cfg.noise, seed=cfg.seed,
                     n_classes=cfg.n_classes)
    order = np.random.default_rng(cfg.seed + 1).permutation(len(X))
    n_train = max(1, min(len(X) - 1, int(round(len(X) * cfg.train_ratio))))
    tr, te = order[:n_train], order[n_train:]
    return X[tr], y[tr], X[te], y[te]


def n_outputs(cfg: PlaygroundConfig, y: np.ndarray) -> int:
    """1 for regression, else the number of classes (at least 2)."""
    return 1 if cfg.regression else max(2, int(y.max()) + 1)


def featurize(X: torch.Tensor, features: tuple[str, ...]) -> torch.Tensor:
    """Map points (N, 2) to the selected input features (N, F), in :data:`FEATURES` order."""
    x1, x2 = X[:, 0], X[:, 1]
    table = {"x1": x1, "x2": x2, "x1sq": x1 * x1, "x2sq": x2 * x2, "x1x2": x1 * x2,
             "sinx1": torch.sin(x1), "sinx2": torch.sin(x2)}
    return torch.stack([table[f] for f in features], dim=1)


ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "linear": nn.Identity}


class MLP(nn.Module):
    """A plain MLP: ``[Linear -> (BatchNorm1d) -> activation -> (Dropout)] * L -> Linear``.

    ``forward`` maps features (N, F) to outputs (N, K); :meth:`hidden_activations` also returns
    every hidden layer's activations, a list of (N, width) tensors.
    """

    def __init__(self, n_in: int, layers: list[int], n_out: int, activation: str = "tanh",
                 dropout: float = 0.0, batch_norm: bool = False) -> None:
        super().__init__()
        blocks, width = [], n_in
        for h in layers:
            parts: list[nn.Module] = [nn.Linear(width, h)]
            if batch_norm:
                parts.append(nn.BatchNorm1d(h))
            parts.append(ACTIVATIONS[activation]())
            if dropout > 0:
                parts.append(nn.Dropout(dropout))
            blocks.append(nn.Sequential(*parts))
            width = h
        self.hidden = nn.ModuleList(blocks)
        self.out = nn.Linear(width, n_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.hidden:
            x = block(x)
        return self.out(x)

    def hidden_activations(self, x: torch.Tensor) -> list[torch.Tensor]:
        acts = []
        for block in self.hidden:
            x = block(x)
            acts.append(x)
        return acts


def build_model(cfg: PlaygroundConfig, n_out: int) -> MLP:
    return MLP(len(cfg.features), cfg.layers, n_out, cfg.activation, cfg.dropout, cfg.batch_norm)


def penalty(model: nn.Module, kind: str) -> torch.Tensor:
    """Sum of |w| (L1) or w²/2 (L2) over the weight matrices of the Linear layers (no biases)."""
    weights = [m.weight for m in model.modules() if isinstance(m, nn.Linear)]
    if kind == "L1":
        return sum(w.abs().sum() for w in weights)
    return sum((w * w).sum() for w in weights) / 2


def grid_points(n: int = GRID, extent: float = EXTENT) -> torch.Tensor:
    """An (n*n, 2) grid over [-extent, extent]^2, row-major with x2 along rows (top = +x2)."""
    xs = torch.linspace(-extent, extent, n)
    g2, g1 = torch.meshgrid(xs.flip(0), xs, indexing="ij")
    return torch.stack([g1.reshape(-1), g2.reshape(-1)], 1)


def evaluate(model: MLP, X: torch.Tensor, y: torch.Tensor, regression: bool) -> tuple[float, float]:
    """(loss, accuracy) on a split, in eval mode; accuracy is NaN for regression."""
    with eval_mode(model):
        out = model(X)
    if regression:
        return float(nn.functional.mse_loss(out[:, 0], y)), float("nan")
    return float(nn.functional.cross_entropy(out, y)), float((out.argmax(1) == y).float().mean())


def surfaces(model: MLP, features: tuple[str, ...], regression: bool,
             device: torch.device) -> dict[str, np.ndarray]:
    """What the page draws: the output over the plane and each hidden neuron's response.

    Returns:
        ``output``: (GRID, GRID) P(class 1) for 2 classes, the regression output, or for K > 2
        the predicted class; ``confidence``: (GRID, GRID) max class probability;
        ``neurons``: (total hidden neurons, NEURON_GRID, NEURON_GRID) activations.
    """
    res: dict[str, np.ndarray] = {}
    with eval_mode(model):
        out = model(featurize(grid_points().to(device), features))
        if regression:
            res["output"] = out[:, 0].reshape(GRID, GRID).cpu().numpy()
            res["confidence"] = np.ones((GRID, GRID), dtype=np.float32)
        else:
            p = out.softmax(1)
            res["output"] = (p[:, 1] if p.shape[1] == 2 else p.argmax(1).float()).reshape(
                GRID, GRID).cpu().numpy()
            res["confidence"] = p.max(1).values.reshape(GRID, GRID).cpu().numpy()
        acts = model.hidden_activations(featurize(grid_points(NEURON_GRID).to(device), features))
    res["neurons"] = torch.cat(acts, 1).T.reshape(-1, NEURON_GRID, NEURON_GRID).cpu().numpy()
    return res


_COLORS = np.array([[31, 119, 180], [255, 127, 14], [44, 160, 44], [214, 39, 40],
                    [148, 103, 189], [140, 86, 75]], dtype=np.float32)


def blue_orange(v: np.ndarray) -> np.ndarray:
    """The playground's diverging ramp: ``v`` (any shape, clipped to [0, 1]) as RGB float32
    ``(*v.shape, 3)`` in [0, 255]: 0 blue (class 0), 0.5 white, 1 orange (class 1)."""
    v = np.clip(np.nan_to_num(np.asarray(v, dtype=np.float32), nan=0.5), 0, 1)[..., None]
    return np.where(v < 0.5, _COLORS[0] + (255 - _COLORS[0]) * (v / 0.5),
                    255 + (_COLORS[1] - 255) * ((v - 0.5) / 0.5)).astype(np.float32)


def neuron_image(neurons: np.ndarray, layers: Sequence[int], scale: int | None = None
                 ) -> np.ndarray:
    """Every hidden neuron's response as one picture: a column per layer, a tile per neuron.

    Args:
        neurons: ``(sum(layers), H, W)`` activations over the plane (``surfaces``'s ``neurons``,
            top row = +x2), in layer order.
        layers: the hidden layer widths.
        scale: nearest-neighbour upscaling of each tile; by default the largest (at most 4)
            that keeps the picture under ~560 pixels tall.

    Returns:
        ``(H', W', 3)`` uint8: a title strip ("layer 1", ...) over the tiles; each tile on its
        own symmetric scale (blue negative, white 0, orange positive); an empty white tile where
        a layer has fewer neurons than the widest.

    Raises:
        ValueError: if ``neurons`` does not hold ``sum(layers)`` maps.
    """
    from core.blocks.images import image_grid, title_strip

    if len(neurons) != sum(layers):
        raise ValueError(f"neuron_image needs {sum(layers)} maps, got {len(neurons)}")
    rows, cols = max(layers), len(layers)
    if scale is None:
        scale = max(1, min(4, 560 // (rows * (neurons.shape[1] + 2))))
    tiles = np.full((rows * cols, *neurons.shape[1:], 3), 255, dtype=np.float32)
    starts = np.cumsum([0, *layers])
    for c, width in enumerate(layers):
        for r in range(width):
            z = neurons[starts[c] + r]
            m = max(float(np.nanmax(np.abs(z))) if np.isfinite(z).any() else 0.0, 1e-6)
            tiles[r * cols + c] = blue_orange(0.5 + 0.5 * z / m)
    grid = image_grid(tiles.astype(np.uint8), ncol=cols, pad=2, scale=scale)
    cell = (neurons.shape[2] + 2) * scale  # one tile and its gutter, as make_grid lays them out
    centers = [2 * scale + c * cell + (cell - 2 * scale) / 2 for c in range(cols)]
    return title_strip(grid, [f"layer {c + 1}" for c in range(cols)], centers)


def boundary_image(output: np.ndarray, data: tuple, k: int, regression: bool,
                   size: int = 256) -> np.ndarray:
    """Render the output surface with the training points as an RGB uint8 image (size, size, 3).

    Two classes / regression: a blue-white-orange ramp of the output; K > 2: class colours.
    Training points are drawn as 5x5 squares in their class colour with a dark border.
    """
    scale = size // output.shape[0]
    if regression or k == 2:
        v = output if not regression else (output - output.min()) / max(np.ptp(output), 1e-6)
        rgb = blue_orange(v)
    else:
        rgb = _COLORS[np.clip(output.astype(int), 0, 5)] * 0.45 + 255 * 0.55
    img = np.kron(rgb, np.ones((scale, scale, 1))).astype(np.float32)
    n = img.shape[0]
    X, y = data[0], data[1]
    for (a, b), lab in zip(X, y):
        c = int((a + EXTENT) / (2 * EXTENT) * (n - 1))
        r = int((EXTENT - b) / (2 * EXTENT) * (n - 1))
        colour = np.array([60, 60, 60]) if regression else _COLORS[int(lab) % 6]
        img[max(r - 2, 0):r + 3, max(c - 2, 0):c + 3] = 40
        img[max(r - 1, 0):r + 2, max(c - 1, 0):c + 2] = colour
    return np.nan_to_num(img, nan=128.0).clip(0, 255).astype(np.uint8)


def split_tensors(data: tuple[np.ndarray, ...], cfg: PlaygroundConfig,
                  device: torch.device) -> tuple[torch.Tensor, ...]:
    """The split of :func:`make_data` as model inputs: ``(X_train (N, F), y_train (N,), X_test,
    y_test)``; ``y`` is int64 class labels, or float32 targets for regression."""
    Xtr, ytr, Xte, yte = data
    y_dtype = torch.float32 if cfg.regression else torch.int64
    return (featurize(torch.from_numpy(Xtr), cfg.features).to(device),
            torch.as_tensor(ytr, dtype=y_dtype, device=device),
            featurize(torch.from_numpy(Xte), cfg.features).to(device),
            torch.as_tensor(yte, dtype=y_dtype, device=device))


def train_step(model: MLP, opt: torch.optim.Optimizer, X: torch.Tensor, y: torch.Tensor,
               cfg: PlaygroundConfig) -> None:
    """One optimiser step on the mini-batch ``(X, y)``: the loss plus the weight penalty."""
    out = model(X)
    if cfg.regression:
        loss = nn.functional.mse_loss(out[:, 0], y)
    else:
        loss = nn.functional.cross_entropy(out, y)
    if cfg.regularization != "none" and cfg.reg_rate > 0:
        loss = loss + cfg.reg_rate * penalty(model, cfg.regularization)
    opt.zero_grad()
    loss.backward()
    opt.step()


def split_metrics(model: MLP, Xtr: torch.Tensor, ytr: torch.Tensor, Xte: torch.Tensor,
                  yte: torch.Tensor, regression: bool) -> dict[str, float]:
    """Loss (and accuracy, for classification) on the whole train and test splits."""
    tr_loss, tr_acc = evaluate(model, Xtr, ytr, regression)
    te_loss, te_acc = evaluate(model, Xte, yte, regression)
    metrics = {"train_loss": tr_loss, "test_loss": te_loss}
    if not regression:
        metrics.update(train_acc=tr_acc, test_acc=te_acc)
    return metrics


def train(cfg: PlaygroundConfig) -> Iterator[Snapshot]:
    """Train the playground MLP and yield snapshots with the boundary and neuron heatmaps; the
    first snapshot (step 0) shows the untrained network.

    Metrics: ``train_loss``, ``test_loss`` (cross-entropy in nats, or MSE), ``train_acc``,
    ``test_acc`` (classification only). Artifacts: see :func:`surfaces`, plus ``data``
    ``(X_train, y_train, X_test, y_test)`` as NumPy arrays and, on the last snapshot,
    ``decision_boundary`` (see :func:`boundary_image`).
    """
    device = start(cfg)
    data = make_data(cfg)
    k = n_outputs(cfg, data[1])
    Xtr, ytr, Xte, yte = split_tensors(data, cfg, device)
    model = watch(build_model(cfg, k).to(device))  # per-layer diagnostics on every snapshot
    opt = (torch.optim.Adam if cfg.optimizer == "adam" else torch.optim.SGD)(
        model.parameters(), lr=cfg.lr)
    gen = torch.Generator().manual_seed(cfg.seed)
    bs = min(cfg.batch_size, len(Xtr))
    if cfg.batch_norm and bs < 2:
        bs = 2  # batch norm needs at least two samples per batch
    progress = Progress(cfg.steps)  # a model copy at the end
    for step in range(0, cfg.steps + 1):
        if step > 0:
            idx = torch.randint(0, len(Xtr), (bs,), generator=gen).to(device)
            train_step(model, opt, Xtr[idx], ytr[idx], cfg)
        if progress.due(step):
            art = {**surfaces(model, cfg.features, cfg.regression, device), "data": data}
            if progress.is_final(step):
                art["decision_boundary"] = boundary_image(art["output"], data, k, cfg.regression)
            metrics = split_metrics(model, Xtr, ytr, Xte, yte, cfg.regression)
            yield progress.snapshot(step, metrics, art, model=model)


DEMOS = [Demo("playground", PlaygroundConfig, train, title="MLP playground",
              description="An MLP learns a 2-D dataset (TensorFlow Playground in PyTorch).")]


def to_python(cfg: PlaygroundConfig) -> str:
    """A standalone script (numpy + torch only) that reproduces this run step for step.

    It is assembled from the very functions the trainer uses (data generator, features, model,
    penalty), so the "Show code" panel can never drift from what the page trains.
    """

    act_src = ("ACTIVATIONS = {'relu': nn.ReLU, 'tanh': nn.Tanh, 'sigmoid': nn.Sigmoid, "
               "'linear': nn.Identity}\n")
    return "".join([
        f'"""Liveprop MLP playground run, as plain PyTorch.\n\nSettings: '
        f'{ {k: v for k, v in vars(cfg).items() if k != "csv"} }\n"""\n',
        "import numpy as np\nimport torch\nfrom torch import nn\n\n",
        _data_source(cfg), "\n\n", getsource(featurize), "\n\n", act_src, "\n\n",
        getsource(MLP), "\n\n", getsource(penalty), "\n\n",
        _split_source(cfg), _training_source(cfg)])


def _data_source(cfg: PlaygroundConfig) -> str:
    """The script's data: the user's points inline, or the source of :func:`core.data.toy2d`."""

    from core import data as data_mod

    if cfg.dataset == "custom":
        X, y = parse_points_csv(cfg.csv)
        pts = ",\n    ".join(f"({a:.6g}, {b:.6g})" for a, b in X.tolist())
        return (f"X_ALL = np.array([\n    {pts}\n], dtype=np.float32)\n"
                f"Y_ALL = np.array({y.tolist()}, dtype=np.int64)\n")
    return re.sub(r"\n\s*check_choice\([^\n]*\)", "", getsource(data_mod.toy2d))  # its name is valid


def _split_source(cfg: PlaygroundConfig) -> str:
    """The script's constants and train/test split (as :func:`make_data`)."""
    load = ("X, y = X_ALL, Y_ALL" if cfg.dataset == "custom" else
            f"X, y = toy2d({cfg.dataset!r}, n={cfg.n_points}, noise={cfg.noise}, "
            f"seed={cfg.seed}, n_classes={cfg.n_classes})")
    y_dtype = "torch.float32" if cfg.regression else "torch.int64"
    return (f"STEPS, BATCH, LR, SEED = {cfg.steps}, {cfg.batch_size}, {cfg.lr}, {cfg.seed}\n"
            f"FEATURES = {cfg.features!r}\n\n"
            f"{load}\n"
            f"order = np.random.default_rng(SEED + 1).permutation(len(X))\n"
            f"n_train = max(1, min(len(X) - 1, int(round(len(X) * {cfg.train_ratio}))))\n"
            "Xtr = featurize(torch.from_numpy(X[order[:n_train]]), FEATURES)\n"
            "Xte = featurize(torch.from_numpy(X[order[n_train:]]), FEATURES)\n"
            f"ytr = torch.as_tensor(y[order[:n_train]], dtype={y_dtype})\n"
            f"yte = torch.as_tensor(y[order[n_train:]], dtype={y_dtype})\n\n")


def _training_source(cfg: PlaygroundConfig) -> str:
    """The script's model, training loop (as :func:`train_step`) and final test loss."""
    loss_fn = ("nn.functional.mse_loss(out[:, 0], ytr[idx])" if cfg.regression
               else "nn.functional.cross_entropy(out, ytr[idx])")
    reg = (f"    loss = loss + {cfg.reg_rate} * penalty(model, {cfg.regularization!r})\n"
           if cfg.regularization != "none" and cfg.reg_rate > 0 else "")
    eval_loss = ("nn.functional.mse_loss(out[:, 0], yte)" if cfg.regression
                 else "nn.functional.cross_entropy(out, yte)")
    acc = "" if cfg.regression else (
        "    print(f'test accuracy {(out.argmax(1) == yte).float().mean():.3f}')\n")
    n_out = "1" if cfg.regression else "max(2, int(y[order[:n_train]].max()) + 1)"
    opt = "torch.optim.Adam" if cfg.optimizer == "adam" else "torch.optim.SGD"
    bs = "max(2, min(BATCH, len(Xtr)))" if cfg.batch_norm else "min(BATCH, len(Xtr))"
    return ("torch.manual_seed(SEED)\n"
            f"model = MLP(len(FEATURES), {cfg.layers}, {n_out}, {cfg.activation!r}, "
            f"{cfg.dropout}, {cfg.batch_norm})\n"
            f"opt = {opt}(model.parameters(), lr=LR)\n"
            "gen = torch.Generator().manual_seed(SEED)\n"
            f"bs = {bs}\n"
            "for step in range(1, STEPS + 1):\n"
            "    model.train()\n"
            "    idx = torch.randint(0, len(Xtr), (bs,), generator=gen)\n"
            "    out = model(Xtr[idx])\n"
            f"    loss = {loss_fn}\n{reg}"
            "    opt.zero_grad()\n    loss.backward()\n    opt.step()\n\n"
            "model.eval()\nwith torch.no_grad():\n    out = model(Xte)\n"
            f"    print(f'test loss {{{eval_loss}:.6f}}')\n{acc}")
