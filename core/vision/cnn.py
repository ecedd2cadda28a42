"""Convolutional networks, trained live next to an MLP of the same size (after CNN Explainer).

Model: ``x -> [Conv2d(k, s, p) -> (BatchNorm2d) -> activation -> (Pool 2x2)] * L -> Flatten
-> (Dropout) -> Linear -> logits``; block ``i`` has ``min(channels * 2**i, 128)`` channels. The
baseline is a one-hidden-layer MLP whose width makes its parameter count match the CNN's; both
train on the very same mini-batches with the same optimizer and learning rate.

Each conv layer maps a map of side ``n`` to side ``(n + 2p - k) / s + 1`` (floored by PyTorch
when it is not an integer); :func:`layer_plan` tabulates that, the parameters and the receptive
field ``r_out = r_in + (k - 1) j_in``, ``j_out = j_in s`` before anything trains.

References:
    LeCun, Bottou, Bengio & Haffner, "Gradient-based learning applied to document recognition"
    (1998). Wang et al., "CNN Explainer" (IEEE VIS 2020). Dumoulin & Visin, "A guide to
    convolution arithmetic for deep learning" (2016). Araujo, Norris & Sim, "Computing receptive
    fields of convolutional neural networks", Distill (2019). Selvaraju et al., "Grad-CAM"
    (ICCV 2017); Simonyan, Vedaldi & Zisserman, "Deep inside convolutional networks" (saliency,
    2014). Benchmark reference: pytorch/examples ``mnist/main.py``.

Shapes: images ``(N, C, H, W)`` float in [0, 1]; labels ``(N,)`` int64; logits ``(N, K)``.
"""

from __future__ import annotations

import io
import math
import threading
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from core.blocks.images import image_grid, random_shift, to_uint8_image
from core.data import load_images
from core.data.translated import translated_digits
from core.data.uploads import load_upload, split_upload
from core.diagnostics import watch
from core.protocol import (
    CopyCadence,
    Demo,
    EvalBudget,
    RunningMean,
    RunOptions,
    Snapshot,
    Ticker,
    eval_mode,
    param,
    start,
)

DATASETS = ("translated", "mnist", "fashion_mnist", "cifar10", "cifar100", "upload")
UPLOAD_SIZE = 32  # your own images are resized to 32x32 colour (like CIFAR)
IN_SHAPES = {"translated": (1, 40, 40), "mnist": (1, 28, 28), "fashion_mnist": (1, 28, 28),
             "cifar10": (3, 32, 32), "cifar100": (3, 32, 32),
             "upload": (3, UPLOAD_SIZE, UPLOAD_SIZE)}
TEST_SHARE = 0.2  # of each class of your own images, held out for testing
N_CLASSES = {"cifar100": 100}
ACTIVATIONS = {"relu": nn.ReLU, "leaky_relu": nn.LeakyReLU, "gelu": nn.GELU, "tanh": nn.Tanh,
               "sigmoid": nn.Sigmoid}
MAX_TEST = 2000  # held-out images evaluated live (a fixed subset of larger test sets)
MAX_MAPS = 16  # feature maps drawn per layer
N_WRONG = 8  # most confidently wrong test images kept
MAX_FRAMES = 12  # film-strip frames kept (epochs are thinned evenly beyond this)


@dataclass(frozen=True)
class CnnConfig(RunOptions):
    """Every setting of one CNN-vs-MLP run."""

    dataset: str = param("translated", choices=DATASETS,
                         help="translated: MNIST digits at random places on a 40x40 canvas "
                         "(where convolution beats an MLP); the others at their usual size; "
                         "upload: your own zip of images, one folder per class")
    upload: str = param("", help="id of the uploaded images (dataset=upload; set by the page "
                        "after an upload, never read from a link)")
    n_train: int = param(4000, choices=(1000, 2000, 4000, 10000, 20000, 60000),
                         label="Training images", help="at most this many (bundled MNIST: 4,000)")
    n_layers: int = param(2, lo=1, hi=4, label="Conv blocks")
    channels: int = param(8, choices=(2, 4, 8, 16, 32, 64), label="Channels",
                          help="channels of the first block; each further block doubles them")
    kernel_size: int = param(5, choices=(1, 2, 3, 5, 7, 9), label="Kernel size")
    padding: int = param(2, lo=0, hi=4, label="Padding")
    stride: int = param(1, lo=1, hi=3, label="Stride")
    pooling: str = param("max", choices=("max", "avg", "none"), label="Pooling",
                         help="2x2 pooling with stride 2 after every block")
    activation: str = param("relu", choices=tuple(ACTIVATIONS))
    batch_norm: bool = param(False, label="Batch norm")
    dropout: float = param(0.0, lo=0.0, hi=0.7, step=0.05, help="before the output layer")
    optimizer: str = param("adam", choices=("adam", "sgd", "adadelta"),
                           help="sgd uses momentum 0.9; adadelta is the pytorch/examples choice "
                           "(lr 1.0)")
    lr: float = param(0.003, lo=1e-4, hi=3.0, log=True, label="Learning rate")
    batch_size: int = param(64, choices=(16, 32, 64, 128, 256), label="Batch size")
    epochs: int = param(4, lo=1, hi=30, label="Epochs")
    augment: int = param(0, lo=0, hi=6, label="Random shifts (px)",
                         help="shift each training image by up to this many pixels")
    baseline: bool = param(True, label="Train the equal-size MLP alongside")

    def __post_init__(self) -> None:
        if self.dataset == "upload" and not self.upload:
            raise ValueError("upload a zip of your images (one folder per class) first")
        problems = [m for level, m in plan_problems(layer_plan(self, IN_SHAPES[self.dataset]))
                    if level == "error"]
        if problems:
            raise ValueError(problems[0])


# --------------------------------------------------------------------------- shape table


@dataclass
class LayerRow:
    """One row of the shape table: a layer, its output shape, parameters and receptive field."""

    layer: str
    shape: tuple[int, int, int]  # (C, H, W) after the layer (floored like PyTorch)
    formula: str = ""  # how the side was computed, e.g. "(40 + 2·1 − 3)/1 + 1 = 40"
    params: int = 0
    receptive_field: int = 1  # input pixels per side that one output unit sees
    jump: int = 1  # input pixels between neighbouring output units
    level: str = ""  # "", "warning" (formula not an integer) or "error" (the map vanishes)
    message: str = ""


def conv_out(n: int, k: int, p: int, s: int) -> float:
    """The output side ``(n + 2p - k) / s + 1`` exactly (a float; PyTorch floors it)."""
    return (n + 2 * p - k) / s + 1


def _side_row(name: str, c: int, n: int, k: int, p: int, s: int, params: int, rf: int,
              jump: int) -> LayerRow:
    """A conv or pool row for a square map of side ``n``, flagging a vanishing or fractional
    output."""
    exact = conv_out(n, k, p, s)
    side = math.floor(exact) if exact >= 1 else 0
    pad = f" + 2·{p}" if p else ""
    formula = f"({n}{pad} − {k})/{s} + 1 = {exact:g}"
    row = LayerRow(name, (c, side, side), formula, params, rf, jump)
    if exact < 1:
        row.level = "error"
        row.message = (f"{name}: the map vanishes: a {n}x{n} input{' padded by ' + str(p) if p else ''} "
                       f"is smaller than the {k}x{k} window ({formula}). Use fewer blocks, a "
                       f"smaller kernel or stride, more padding, or no pooling.")
    elif exact != int(exact):
        row.level = "warning"
        row.message = (f"{name}: {formula} is not an integer, so PyTorch rounds down to {side} "
                       f"and the last {round((exact - side) * s)} input row(s) and column(s) are "
                       "never seen by the window.")
    return row


def layer_plan(cfg: CnnConfig, in_shape: tuple[int, int, int], n_classes: int = 10
               ) -> list[LayerRow]:
    """The shape table of the CNN ``cfg`` describes, on inputs of shape ``in_shape`` (C, H, W).
    ``cfg`` may be any object with the architecture fields (``n_layers``, ``channels``,
    ``kernel_size``, ``padding``, ``stride``, ``pooling``, ``batch_norm``): a page draws the
    table of settings that cannot be trained too.

    Rows: the input, then per block its conv (params ``c_in c_out k² + c_out``), batch norm
    (``2 c_out``) and pool, then the linear output layer. Receptive field and jump follow
    Araujo et al. (2019). Stops after the first layer whose map vanishes.
    """
    c, n, _ = in_shape
    rf, jump = 1, 1
    rows = [LayerRow("input", (c, n, n))]
    for i in range(cfg.n_layers):
        c_out = min(cfg.channels * 2 ** i, 128)
        k, p, s = cfg.kernel_size, cfg.padding, cfg.stride
        rf, jump = rf + (k - 1) * jump, jump * s
        row = _side_row(f"conv {i + 1}", c_out, n, k, p, s, c * c_out * k * k + c_out, rf, jump)
        rows.append(row)
        if row.level == "error":
            return rows
        c, n = c_out, row.shape[1]
        if cfg.batch_norm:
            rows.append(LayerRow(f"batch norm {i + 1}", (c, n, n), "", 2 * c, rf, jump))
        if cfg.pooling != "none":
            rf, jump = rf + jump, jump * 2
            row = _side_row(f"{cfg.pooling} pool {i + 1}", c, n, 2, 0, 2, 0, rf, jump)
            rows.append(row)
            if row.level == "error":
                return rows
            n = row.shape[1]
    d = c * n * n
    rows.append(LayerRow("linear (output)", (n_classes, 1, 1), f"{c}·{n}·{n} = {d} inputs",
                         d * n_classes + n_classes, rf, jump))
    return rows


def plan_problems(rows: list[LayerRow]) -> list[tuple[str, str]]:
    """``(level, message)`` of every flagged row: ``"error"`` when a map vanishes (the network
    cannot be built), ``"warning"`` when the output-size formula is not an integer."""
    return [(r.level, r.message) for r in rows if r.level]


def plan_params(rows: list[LayerRow]) -> int:
    """Total parameters of the planned CNN."""
    return sum(r.params for r in rows)


# --------------------------------------------------------------------------------- models


class CNN(nn.Module):
    """The configurable CNN: ``blocks`` (each ``conv``, optional ``bn``, ``act``, optional
    ``pool``) then ``head`` (Flatten, optional Dropout, Linear). Input (N, C, H, W) -> logits
    (N, K)."""

    def __init__(self, cfg: CnnConfig, in_shape: tuple[int, int, int], n_classes: int) -> None:
        super().__init__()
        c = in_shape[0]
        blocks = []
        for i in range(cfg.n_layers):
            c_out = min(cfg.channels * 2 ** i, 128)
            parts: list[tuple[str, nn.Module]] = [
                ("conv", nn.Conv2d(c, c_out, cfg.kernel_size, cfg.stride, cfg.padding))]
            if cfg.batch_norm:
                parts.append(("bn", nn.BatchNorm2d(c_out)))
            parts.append(("act", ACTIVATIONS[cfg.activation]()))
            if cfg.pooling != "none":
                parts.append(("pool", nn.MaxPool2d(2) if cfg.pooling == "max" else nn.AvgPool2d(2)))
            blocks.append(nn.Sequential(OrderedDict(parts)))
            c = c_out
        self.blocks = nn.ModuleList(blocks)
        with torch.no_grad():
            d = self.trunk(torch.zeros(1, *in_shape)).numel()
        head: list[nn.Module] = [nn.Flatten()]
        if cfg.dropout > 0:
            head.append(nn.Dropout(cfg.dropout))
        head.append(nn.Linear(d, n_classes))
        self.head = nn.Sequential(*head)

    def trunk(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x))

    def feature_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Each block's activation (after the nonlinearity, before pooling): (N, C_i, H_i, W_i)."""
        maps = []
        for block in self.blocks:
            for name, mod in block.named_children():
                x = mod(x)
                if name == "act":
                    maps.append(x)
        return maps


def mlp_hidden(n_params: int, d_in: int, n_classes: int) -> int:
    """The hidden width ``h`` of a one-hidden-layer MLP ``d_in -> h -> K`` whose parameter
    count ``(d_in + 1) h + (h + 1) K`` is closest to ``n_params`` (at least 1)."""
    return max(1, round((n_params - n_classes) / (d_in + 1 + n_classes)))


def build_models(cfg: CnnConfig, in_shape: tuple[int, int, int], n_classes: int
                 ) -> tuple[CNN, nn.Sequential]:
    """The CNN and its equal-size MLP baseline (Flatten -> Linear -> act -> Dropout -> Linear).

    Raises:
        ValueError: when a map vanishes on ``in_shape`` (the message of :func:`layer_plan`).
    """
    errors = [m for level, m in plan_problems(layer_plan(cfg, in_shape, n_classes))
              if level == "error"]
    if errors:
        raise ValueError(errors[0])
    cnn = CNN(cfg, in_shape, n_classes)
    d_in = int(np.prod(in_shape))
    h = mlp_hidden(count_params(cnn), d_in, n_classes)
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(d_in, h), ACTIVATIONS[cfg.activation](),
                        nn.Dropout(cfg.dropout), nn.Linear(h, n_classes))
    return cnn, mlp


def count_params(model: nn.Module) -> int:
    """Trainable parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def make_optimizer(cfg: CnnConfig, model: nn.Module) -> torch.optim.Optimizer:
    """Adam, SGD with momentum 0.9, or Adadelta at ``cfg.lr``."""
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=0.9)
    if cfg.optimizer == "adadelta":
        return torch.optim.Adadelta(model.parameters(), lr=cfg.lr)
    return torch.optim.Adam(model.parameters(), lr=cfg.lr)


# ----------------------------------------------------------------------------------- data


@dataclass
class Split:
    """Training and held-out images: ``x_*`` (N, C, H, W) in [0, 1], ``y_*`` (N,)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    classes: list[str]
    name: str
    note: str | None = None

    @property
    def in_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])  # type: ignore[return-value]


def load_split(cfg: CnnConfig) -> Split:
    """The run's data: at most ``n_train`` training images (a seeded subset) and at most
    :data:`MAX_TEST` held-out test images (a fixed subset). Offline, CIFAR falls back to
    bundled MNIST with a ``note``."""
    if cfg.dataset == "translated":
        tr, te = translated_digits("train"), translated_digits("test")
    elif cfg.dataset == "upload":
        tr, te = split_upload(load_upload(cfg.upload), TEST_SHARE, cfg.seed)
    else:
        tr, te = load_images(cfg.dataset, "train"), load_images(cfg.dataset, "test")
    g = torch.Generator().manual_seed(cfg.seed)
    idx = torch.randperm(len(tr), generator=g)[:cfg.n_train] if len(tr) > cfg.n_train else \
        torch.arange(len(tr))
    test_idx = torch.arange(min(len(te), MAX_TEST))
    return Split(tr.x[idx], tr.y[idx], te.x[test_idx], te.y[test_idx], list(tr.classes),
                 tr.name, tr.note)


def data_preview(dataset: str, n: int = 16) -> tuple[np.ndarray, tuple[int, int, int], str | None]:
    """What the page shows before training: a uint8 grid of the first ``n`` test images, the
    input shape (C, H, W) the network will see (after any offline fallback) and the data
    layer's note (``None`` when the set loaded)."""
    te = translated_digits("test") if dataset == "translated" else load_images(dataset, "test")
    return image_grid(te.x[:n], ncol=8, pad=2), te.shape, te.note


def probe_indices(y: torch.Tensor, n_classes: int, n: int = 10) -> list[int]:
    """Indices of up to ``n`` test images: the first of each class 0, 1, ... (the images whose
    feature maps, Grad-CAM and formula view the page shows)."""
    out = []
    for c in range(n_classes):
        hits = (y == c).nonzero()
        if len(hits):
            out.append(int(hits[0]))
        if len(out) == n:
            break
    return out


# ---------------------------------------------------------------------------- evaluation


def predict_logits(model: nn.Module, x: torch.Tensor, chunk: int = 500) -> torch.Tensor:
    """Logits (N, K) of ``model`` in eval mode, ``chunk`` images at a time."""
    with eval_mode(model):
        return torch.cat([model(x[i:i + chunk]) for i in range(0, len(x), chunk)])


def accuracy_and_loss(logits: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(accuracy in [0, 1], mean cross-entropy in nats)."""
    return (float((logits.argmax(1) == y).float().mean()),
            float(nn.functional.cross_entropy(logits, y)))


_IMPORTS: dict[str, threading.Thread] = {}


def _prefetch_libraries() -> None:
    """Import torchmetrics and captum (seconds) in the background while the first steps train."""
    def work() -> None:
        import captum.attr  # noqa: F401
        import torchmetrics  # noqa: F401

    if "libs" not in _IMPORTS:
        _IMPORTS["libs"] = threading.Thread(target=work, daemon=True, name="cnn-imports")
        _IMPORTS["libs"].start()


def class_report(logits: torch.Tensor, y: torch.Tensor, n_classes: int) -> dict[str, np.ndarray]:
    """Per-class precision, recall and F1 (torchmetrics, ``average=None``) and the confusion
    matrix (rows: true class, columns: predicted), each a NumPy array; ``support`` (K,) counts
    the test images of each class."""
    from torchmetrics.functional.classification import (
        multiclass_confusion_matrix,
        multiclass_f1_score,
        multiclass_precision,
        multiclass_recall,
    )

    pred = logits.argmax(1).cpu()
    y = y.cpu()
    kw = {"num_classes": n_classes, "average": None, "zero_division": 0}
    return {"precision": multiclass_precision(pred, y, **kw).numpy(),
            "recall": multiclass_recall(pred, y, **kw).numpy(),
            "f1": multiclass_f1_score(pred, y, **kw).numpy(),
            "confusion": multiclass_confusion_matrix(pred, y, n_classes).numpy(),
            "support": torch.bincount(y, minlength=n_classes).numpy()}


def confidently_wrong(logits: torch.Tensor, x: torch.Tensor, y: torch.Tensor,
                      n: int = N_WRONG) -> list[dict]:
    """The ``n`` misclassified images with the highest predicted probability: ``{"index",
    "image" (uint8 HxW or HxWx3), "label", "top3": [(class, probability), ...]}``."""
    p = logits.softmax(1).cpu()
    conf, pred = p.max(1)
    wrong = (pred != y.cpu()).nonzero().flatten()
    order = wrong[conf[wrong].argsort(descending=True)][:n]
    out = []
    for i in order.tolist():
        top = p[i].topk(min(3, p.shape[1]))
        out.append({"index": i, "image": to_uint8_image(x[i]), "label": int(y[i]),
                    "top3": [(int(c), float(v)) for v, c in zip(top.values, top.indices)]})
    return out


def _normalise(a: torch.Tensor) -> torch.Tensor:
    lo, hi = a.min(), a.max()
    return (a - lo) / (hi - lo) if hi > lo else torch.zeros_like(a)


def filters_image(cnn: CNN) -> np.ndarray:
    """The first layer's kernels as one uint8 grid (grey 0.5 = weight 0; each kernel scaled by
    its largest |w|; RGB for 3 input channels, else the first input channel)."""
    w = cnn.blocks[0].conv.weight.detach().cpu()  # (C1, C_in, k, k)
    w = w if w.shape[1] == 3 else w[:, :1]
    m = w.abs().amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-8)
    return image_grid(0.5 + 0.5 * w / m, ncol=8, pad=1)


def feature_map_grids(cnn: CNN, x: torch.Tensor) -> list[list[np.ndarray]]:
    """For each image of ``x`` (N, C, H, W): one uint8 grid per block of its first
    :data:`MAX_MAPS` feature maps, scaled to the block's range for that image."""
    with eval_mode(cnn):
        maps = cnn.feature_maps(x)
    out = []
    for i in range(len(x)):
        grids = []
        for m in maps:
            a = _normalise(m[i, :MAX_MAPS].float())
            grids.append(image_grid(a[:, None], ncol=8, pad=1))
        out.append(grids)
    return out


def attributions(cnn: CNN, x: torch.Tensor) -> dict[str, np.ndarray]:
    """Grad-CAM on the last conv layer and vanilla-gradient saliency (captum) for the images
    ``x`` (N, C, H, W), for the class the model predicts: ``gradcam`` and ``saliency`` (N, H, W)
    float32 in [0, 1] (each image scaled to its maximum), ``pred`` (N,)."""
    from captum.attr import LayerAttribution, LayerGradCam, Saliency

    with eval_mode(cnn, no_grad=False):
        pred = cnn(x).argmax(1)
        cam = LayerGradCam(cnn, cnn.blocks[-1].conv).attribute(x, target=pred,
                                                                relu_attributions=True)
        cam = LayerAttribution.interpolate(cam, tuple(x.shape[2:]), "bilinear")[:, 0]
        sal = Saliency(cnn).attribute(x.clone().requires_grad_(True), target=pred, abs=True)
    sal = sal.amax(1)
    cam = cam / cam.flatten(1).amax(1).clamp_min(1e-12)[:, None, None]
    sal = sal / sal.flatten(1).amax(1).clamp_min(1e-12)[:, None, None]
    return {"gradcam": cam.detach().cpu().numpy().astype(np.float32),
            "saliency": sal.detach().cpu().numpy().astype(np.float32),
            "pred": pred.cpu().numpy()}


_HOT = np.array([[0, 0, 0], [180, 0, 0], [255, 140, 0], [255, 255, 120]], dtype=np.float32)


def heat_overlay(image: np.ndarray | torch.Tensor, heat: np.ndarray, alpha: float = 0.6
                 ) -> np.ndarray:
    """Blend a heat map (H, W) in [0, 1] (black-red-yellow) over an image ((C, H, W) tensor or
    uint8 array); returns (H, W, 3) uint8."""
    img = to_uint8_image(image) if isinstance(image, torch.Tensor) else np.asarray(image)
    img = np.repeat(img[..., None], 3, 2) if img.ndim == 2 else img
    t = np.clip(np.nan_to_num(heat), 0, 1) * (len(_HOT) - 1)
    lo = np.floor(t).astype(int).clip(0, len(_HOT) - 2)
    rgb = _HOT[lo] + (_HOT[lo + 1] - _HOT[lo]) * (t - lo)[..., None]
    return ((1 - alpha) * img + alpha * rgb).clip(0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------- formula view


def unit_formula(cnn: CNN, x: torch.Tensor, layer: int, channel: int, row: int, col: int
                 ) -> dict:
    """One output unit of conv layer ``layer`` (0-based) on image ``x`` (C, H, W), on the
    current weights: ``z = Σ w ⊙ window + b``, then batch norm (if any), then the activation.

    Returns:
        ``window`` (C_in, k, k) the input patch (zeros where it overlaps the padding),
        ``kernel`` (C_in, k, k), ``products`` (C_in, k, k), ``bias``, ``z`` (sum plus bias),
        ``bn`` (after batch norm, or ``None``), ``a`` (after the activation), ``check`` (the
        same unit as PyTorch's forward pass computes it), ``out_size`` (H', W'), ``in_rows`` /
        ``in_cols`` (the window's first row/column in the unpadded input, may be negative),
        ``strongest`` (row, column) of the channel's largest activation.

    Raises:
        ValueError: for a layer, channel or position outside the network's maps.
    """
    if not 0 <= layer < len(cnn.blocks):
        raise ValueError(f"layer {layer + 1} does not exist; the network has {len(cnn.blocks)}")
    block = cnn.blocks[layer]
    conv: nn.Conv2d = block.conv
    with torch.no_grad():
        inp = x[None].float()
        for b in cnn.blocks[:layer]:
            inp = b(inp)
        maps = block.act(block.bn(conv(inp)) if hasattr(block, "bn") else conv(inp))[0]
    c_out, h_out, w_out = maps.shape
    if not (0 <= channel < c_out and 0 <= row < h_out and 0 <= col < w_out):
        raise ValueError(f"unit (channel {channel}, row {row}, column {col}) is outside the "
                         f"{c_out}x{h_out}x{w_out} output of conv {layer + 1}")
    (k, _), (s, _), (p, _) = conv.kernel_size, conv.stride, conv.padding
    padded = nn.functional.pad(inp[0], (p, p, p, p))
    window = padded[:, row * s:row * s + k, col * s:col * s + k]
    kernel = conv.weight[channel].detach()
    window = window.detach()
    products = window * kernel
    bias = float(conv.bias[channel].detach()) if conv.bias is not None else 0.0
    z = torch.tensor(float(products.sum()) + bias)
    bn = None
    with torch.no_grad():
        if hasattr(block, "bn"):
            m = block.bn
            bn = float((z - m.running_mean[channel]) / torch.sqrt(m.running_var[channel] + m.eps)
                       * m.weight[channel] + m.bias[channel])
        a = float(block.act(torch.tensor(bn if bn is not None else float(z))))
    return {"window": window.numpy(), "kernel": kernel.numpy(), "products": products.numpy(),
            "bias": bias, "z": float(z), "bn": bn, "a": a, "check": float(maps[channel, row, col]),
            "out_size": (h_out, w_out), "in_rows": row * s - p, "in_cols": col * s - p,
            "strongest": divmod(int(maps[channel].argmax()), w_out),
            "activation": type(block.act).__name__}


# --------------------------------------------------------------------------- your own image


MAX_UPLOAD_BYTES = 2_000_000
MIN_SIDE, MAX_SIDE = 8, 4096


def read_upload(data: bytes, in_shape: tuple[int, int, int]) -> torch.Tensor:
    """Validate an uploaded PNG/JPEG and turn it into a model input (1, C, H, W) in [0, 1].

    Checks, in order: not empty, at most :data:`MAX_UPLOAD_BYTES`, really a PNG or JPEG (by its
    content, not its name), sides between :data:`MIN_SIDE` and :data:`MAX_SIDE` pixels, decodes.
    Then :func:`prepare_image`.

    Raises:
        ValueError: one plain sentence saying what is wrong and what to upload instead.
    """
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise ValueError("The file is empty; upload a PNG or JPEG picture of one digit.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ValueError(f"The file has {len(data) / 1e6:.1f} MB; upload an image of at most "
                         f"{MAX_UPLOAD_BYTES // 1_000_000} MB.")
    try:
        img = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, OSError, ValueError):
        raise ValueError("That file is not a PNG or JPEG image.") from None
    if img.format not in ("PNG", "JPEG"):
        raise ValueError(f"That is a {img.format} image; upload a PNG or JPEG.")
    w, h = img.size
    if min(w, h) < MIN_SIDE or max(w, h) > MAX_SIDE:
        raise ValueError(f"The image is {w}x{h} pixels; use one between {MIN_SIDE} and "
                         f"{MAX_SIDE} pixels per side.")
    try:
        img.load()
    except (OSError, ValueError, Image.DecompressionBombError):
        raise ValueError("The image could not be decoded (is the file damaged?).") from None
    return prepare_image(img, in_shape)


def prepare_image(img, in_shape: tuple[int, int, int]) -> torch.Tensor:
    """A PIL image as a model input (1, C, H, W) in [0, 1].

    One channel (digits, Fashion-MNIST): greyscale (transparent pixels become white), inverted
    when the background is light (MNIST is white ink on black), cropped to the ink, scaled to
    20 px on its longer side and centred in 28x28 as MNIST does, then centred on the
    model's canvas. Three channels (CIFAR): resized to H x W.

    Raises:
        ValueError: when the image holds no ink (a blank or one-colour image).
    """
    from PIL import Image

    c, h, w = in_shape
    if img.mode in ("RGBA", "LA", "P"):
        rgba = img.convert("RGBA")
        img = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    if c == 3:
        a = np.asarray(img.convert("RGB").resize((w, h), Image.BILINEAR), dtype=np.float32)
        return torch.from_numpy(a / 255.0).permute(2, 0, 1)[None]
    a = np.asarray(img.convert("L"), dtype=np.float32) / 255.0
    if np.median(a) > 0.5:
        a = 1.0 - a
    ink = a > max(0.2, 0.5 * float(a.max()))
    if not ink.any() or float(a.max() - a.min()) < 0.1:
        raise ValueError("The image looks blank; draw or upload a dark digit on a light "
                         "background (or a light one on dark).")
    rows, cols = np.where(ink)
    crop = a[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
    scale = 20.0 / max(crop.shape)
    size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
    small = np.asarray(Image.fromarray((crop * 255).astype(np.uint8)).resize(size, Image.LANCZOS),
                       dtype=np.float32) / 255.0
    out = np.zeros((h, w), dtype=np.float32)
    r0, c0 = (h - small.shape[0]) // 2, (w - small.shape[1]) // 2
    out[r0:r0 + small.shape[0], c0:c0 + small.shape[1]] = small
    return torch.from_numpy(out / max(float(out.max()), 1e-6))[None, None]


def predict(cnn: nn.Module, x: torch.Tensor) -> np.ndarray:
    """Class probabilities (K,) of one image ``x`` (1, C, H, W)."""
    with eval_mode(cnn):
        return cnn(x).softmax(1)[0].cpu().numpy()


# ----------------------------------------------------------------------------------- train


def train_step(models: list[nn.Module], opts: list[torch.optim.Optimizer], x: torch.Tensor,
               y: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """One optimizer step of each model on the same batch; ``(loss, accuracy)`` of each."""
    out = []
    for model, opt in zip(models, opts):
        logits = model(x)
        loss = nn.functional.cross_entropy(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        out.append((loss.detach(), (logits.argmax(1) == y).float().mean().detach()))
    return out


@dataclass
class Live:
    """What the trainer keeps between snapshots: the latest evaluation's artifacts and the
    film strip (first-layer filters and the probes' feature maps after each epoch)."""

    art: dict = field(default_factory=dict)
    film: list = field(default_factory=list)


def evaluate(cnn: CNN, mlp: nn.Module | None, data: Split, probes: list[int], full: bool
             ) -> tuple[dict[str, float], dict]:
    """Held-out metrics (``test_acc``, ``test_loss`` and ``mlp_*``) and, when ``full``, the
    per-class report, the most confidently wrong images and Grad-CAM / saliency of the probes."""
    logits = predict_logits(cnn, data.x_test)
    acc, loss = accuracy_and_loss(logits, data.y_test)
    metrics = {"test_acc": acc, "test_loss": loss}
    if mlp is not None:
        metrics["mlp_test_acc"], metrics["mlp_test_loss"] = accuracy_and_loss(
            predict_logits(mlp, data.x_test), data.y_test)
    px = data.x_test[probes]
    art = {"filters": filters_image(cnn), "maps": feature_map_grids(cnn, px)}
    if full:
        _IMPORTS["libs"].join()
        art.update(report=class_report(logits, data.y_test, len(data.classes)),
                   wrong=confidently_wrong(logits, data.x_test.cpu(), data.y_test),
                   attributions=attributions(cnn, px))
    return metrics, art


def _film_frame(epoch: int, art: dict) -> dict:
    return {"epoch": epoch, "filters": art["filters"], "maps": art["maps"]}


def _thin(film: list) -> list:
    """At most :data:`MAX_FRAMES` frames: the first, the last and evenly spaced ones between."""
    if len(film) <= MAX_FRAMES:
        return film
    keep = np.unique(np.linspace(0, len(film) - 1, MAX_FRAMES).round().astype(int))
    return [film[i] for i in keep]


def train(cfg: CnnConfig) -> Iterator[Snapshot]:
    """Train the CNN and (``cfg.baseline``) the equal-size MLP on the same mini-batches.

    ``step`` counts mini-batches; ``total_steps = epochs * ceil(n_train / batch_size)``.
    Metrics: ``loss``, ``train_acc`` (CNN, mean over the last 32 batches),
    ``mlp_loss``, ``mlp_train_acc``, held-out ``test_acc``, ``test_loss``, ``mlp_test_acc``,
    ``mlp_test_loss`` (when evaluated: at most a quarter of the time, at every epoch end and at
    the end), ``epoch``. Artifacts: ``plan`` (:func:`layer_plan` rows), ``params`` / ``mlp_params``,
    ``mlp_hidden``, ``classes``, ``probes`` (10, C, H, W) float16, ``probe_labels``, ``filters``,
    ``maps`` (per probe, per block, a uint8 grid), ``film`` (list of ``{"epoch", "filters",
    "maps"}``), ``report``, ``wrong``, ``attributions``, ``note``.

    Raises:
        ValueError: when a feature map vanishes on the data actually loaded.
    """
    device = start(cfg)
    data = load_split(cfg)
    k = len(data.classes)
    cnn, mlp = build_models(cfg, data.in_shape, k)
    models = [watch(cnn.to(device))] + ([mlp.to(device)] if cfg.baseline else [])  # diagnostics
    opts = [make_optimizer(cfg, m) for m in models]
    xtr, ytr = data.x_train.to(device), data.y_train.to(device)
    data.x_test, data.y_test = data.x_test.to(device), data.y_test.to(device)
    probes = probe_indices(data.y_test.cpu(), k)
    gen = torch.Generator().manual_seed(cfg.seed)
    per_epoch = math.ceil(len(ytr) / cfg.batch_size)
    total = cfg.epochs * per_epoch
    static = {"plan": layer_plan(cfg, data.in_shape, k), "params": count_params(cnn),
              "mlp_params": count_params(mlp), "mlp_hidden": mlp[1].out_features,
              "classes": data.classes, "note": data.note, "dataset": data.name,
              "probes": data.x_test[probes].cpu().half().numpy(),
              "probe_labels": data.y_test[probes].cpu().numpy()}
    tick, budget, copies = Ticker(total=total), EvalBudget(share=0.25), CopyCadence(every_s=3)
    live, losses = Live(), RunningMean()
    step = 0
    for epoch in range(cfg.epochs + 1):
        if epoch > 0:
            for idx in torch.randperm(len(ytr), generator=gen).split(cfg.batch_size):
                xb = random_shift(xtr[idx.to(device)], cfg.augment, gen)
                res = train_step(models, opts, xb, ytr[idx.to(device)])
                losses.add(loss=res[0][0], train_acc=res[0][1])
                if cfg.baseline:
                    losses.add(mlp_loss=res[1][0], mlp_train_acc=res[1][1])
                step += 1
                epoch_end = step == epoch * per_epoch
                if tick(step) or epoch_end:
                    yield _snapshot(cfg, step, epoch, total, tick, budget, copies, live,
                                    losses, static, cnn, mlp, data, probes, epoch_end)
        else:
            yield _snapshot(cfg, 0, 0, total, tick, budget, copies, live, losses, static, cnn,
                            mlp, data, probes, True)
            _prefetch_libraries()  # after the first snapshot: its imports take seconds


def _snapshot(cfg: CnnConfig, step: int, epoch: int, total: int, tick: Ticker,
              budget: EvalBudget, copies: CopyCadence, live: Live, losses: RunningMean,
              static: dict, cnn: CNN, mlp: nn.Module, data: Split, probes: list[int],
              epoch_end: bool) -> Snapshot:
    """One snapshot: the running training metrics, plus an evaluation when one is due."""
    final = step == total
    metrics = {**losses.pop(), "epoch": step / total * cfg.epochs if total else 0.0}
    if budget.due(final) or epoch_end:
        with budget.timed():
            m, art = evaluate(cnn, mlp if cfg.baseline else None, data, probes, full=step > 0)
        metrics.update(m)
        live.art.update(art)
        if epoch_end:
            live.film = _thin(live.film + [_film_frame(epoch, art)])
    return Snapshot(step, tick.elapsed, metrics, {**static, **live.art, "film": live.film},
                    total_steps=total, final=final, model=copies(cnn, final),
                    phase=f"epoch {min(epoch, cfg.epochs)}/{cfg.epochs}, step {step}/{total}")


DEMOS = [Demo("cnn", CnnConfig, train, title="Convolutional networks",
              description="A CNN and an MLP of equal size learn translated digits side by side; "
                          "filters, feature maps, Grad-CAM and a formula view update live.")]
