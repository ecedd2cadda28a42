"""Training ``/cnn``: the config, the optimizers and the loop that trains the CNN and its
equal-size MLP baseline on the very same mini-batches (see the package docstring)."""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from core.blocks.images import random_shift
from core.diagnostics import watch
from core.protocol import Demo, Progress, RunOptions, Snapshot, param, start
from core.vision.cnn.data import DATASETS, IN_SHAPES, Split, load_split, probe_indices
from core.vision.cnn.evaluation import (
    accuracy_and_loss,
    attributions,
    class_report,
    confidently_wrong,
    feature_map_grids,
    filters_image,
    predict_logits,
)
from core.vision.cnn.model import ACTIVATIONS, CNN, build_models, count_params
from core.vision.cnn.plan import layer_plan, plan_problems

__all__ = ["MAX_FRAMES", "CnnConfig", "Live", "evaluate", "make_optimizer", "train", "train_step"]

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


def make_optimizer(cfg: CnnConfig, model: nn.Module) -> torch.optim.Optimizer:
    """Adam, SGD with momentum 0.9, or Adadelta at ``cfg.lr``."""
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=0.9)
    if cfg.optimizer == "adadelta":
        return torch.optim.Adadelta(model.parameters(), lr=cfg.lr)
    return torch.optim.Adam(model.parameters(), lr=cfg.lr)


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


_IMPORTS: dict[str, threading.Thread] = {}


def _prefetch_libraries() -> None:
    """Import torchmetrics and captum (seconds) in the background while the first steps train."""
    def work() -> None:
        import captum.attr  # noqa: F401
        import torchmetrics  # noqa: F401

    if "libs" not in _IMPORTS:
        _IMPORTS["libs"] = threading.Thread(target=work, daemon=True, name="cnn-imports")
        _IMPORTS["libs"].start()


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
    progress, live = Progress(total, copy_every_s=3, eval_share=0.25), Live()
    step = 0
    for epoch in range(cfg.epochs + 1):
        if epoch > 0:
            for idx in torch.randperm(len(ytr), generator=gen).split(cfg.batch_size):
                xb = random_shift(xtr[idx.to(device)], cfg.augment, gen)
                res = train_step(models, opts, xb, ytr[idx.to(device)])
                progress.losses.add(loss=res[0][0], train_acc=res[0][1])
                if cfg.baseline:
                    progress.losses.add(mlp_loss=res[1][0], mlp_train_acc=res[1][1])
                step += 1
                epoch_end = step == epoch * per_epoch
                if progress.due(step) or epoch_end:
                    yield _snapshot(cfg, step, epoch, total, progress, live, static, cnn, mlp,
                                    data, probes, epoch_end)
        else:
            yield _snapshot(cfg, 0, 0, total, progress, live, static, cnn, mlp, data, probes,
                            True)
            _prefetch_libraries()  # after the first snapshot: its imports take seconds


def _snapshot(cfg: CnnConfig, step: int, epoch: int, total: int, progress: Progress,
              live: Live, static: dict, cnn: CNN, mlp: nn.Module, data: Split,
              probes: list[int], epoch_end: bool) -> Snapshot:
    """One snapshot: the running training metrics, plus an evaluation when one is due."""
    metrics = {**progress.losses.pop(), "epoch": step / total * cfg.epochs if total else 0.0}
    if progress.evaluation_due(step) or epoch_end:
        with progress.budget.timed():
            m, art = evaluate(cnn, mlp if cfg.baseline else None, data, probes, full=step > 0)
        metrics.update(m)
        live.art.update(art)
        if epoch_end:
            live.film = _thin(live.film + [_film_frame(epoch, art)])
    return progress.snapshot(step, metrics, {**static, **live.art, "film": live.film}, model=cnn,
                             phase=f"epoch {min(epoch, cfg.epochs)}/{cfg.epochs}, step {step}/{total}")


DEMOS = [Demo("cnn", CnnConfig, train, title="Convolutional networks",
              description="A CNN and an MLP of equal size learn translated digits side by side; "
                          "filters, feature maps, Grad-CAM and a formula view update live.")]
