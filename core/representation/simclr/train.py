"""SimCLR's config and trainer: pretraining on NT-Xent with a live map and probe of held-out
features, then the few-label evaluation (Chen et al., ICML 2020, arXiv:2002.05709)."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from core.blocks.projection import FeatureMap
from core.data import ImageData, load_images
from core.protocol import (
    Demo,
    Progress,
    RunOptions,
    Snapshot,
    config_to_dict,
    frozen_copy,
    heartbeats,
    param,
    start,
)
from core.representation.simclr.augment import augment_pairs, build_augment, pairs_grid
from core.representation.simclr.evaluation import (
    encode,
    eval_units,
    few_label_eval_steps,
    logistic_accuracy,
    sample_labelled,
)
from core.representation.simclr.loss import batch_metrics, nt_xent_loss
from core.representation.simclr.model import build_model

__all__ = ["DATASETS", "EMBEDDINGS", "LRClock", "LiveMap", "SimCLRConfig", "load_data",
           "pretrain", "pretrain_step", "train"]

DATASETS = ("mnist", "fashion_mnist", "cifar10")
EMBEDDINGS = ("tsne", "pca", "umap", "off")


@dataclass(frozen=True)
class SimCLRConfig(RunOptions):
    """Every setting of one SimCLR run (data, augmentations, model, optimiser, evaluation)."""

    RETIRED_KEYS: ClassVar[tuple[str, ...]] = ("map_every_s",)  # the map now has an EvalBudget

    dataset: str = param("mnist", choices=DATASETS,
                         help="unlabelled training images; Fashion-MNIST and CIFAR-10 fall back "
                         "to bundled MNIST when they are not available")
    encoder: str = param("cnn", choices=("cnn", "resnet"),
                         help="a plain 3-block CNN or a small ResNet with residual blocks")
    channels: int = param(32, choices=(16, 32, 64), label="Encoder width", aliases=("width",),
                          help="channels of the first block (doubled in each later block)")
    proj_dim: int = param(64, choices=(8, 16, 32, 64, 128), label="Projection dimension",
                          help="size of z = g(h), where the loss is computed")
    temperature: float = param(0.2, lo=0.02, hi=2.0, step=0.01, label="Temperature τ",
                               help="NT-Xent temperature: small τ focuses on the hardest "
                               "negatives")
    batch_size: int = param(128, choices=(16, 32, 64, 128, 256, 512), label="Batch size",
                            help="images per batch (each gives 2 views, so 2N - 2 negatives)")
    lr: float = param(1e-2, lo=1e-5, hi=1e-1, log=True, label="Learning rate",
                      help="Adam learning rate (cosine decay to zero)")
    epochs: int = param(20, lo=1, hi=500, help="passes over the unlabelled images")
    max_seconds: float = param(0.0, lo=0.0, hi=3600.0, step=10.0, label="Time limit (s)",
                               help="stop pretraining after this many seconds (0: no limit); "
                               "the learning-rate schedule then follows the clock")
    crop: bool = param(True, label="Random resized crop")
    crop_scale: float = param(0.4, lo=0.08, hi=1.0, step=0.02, label="Crop: smallest area",
                              help="smallest crop as a fraction of the image area")
    affine: bool = param(True, label="Rotation / shift")
    rotation: float = param(15.0, lo=0.0, hi=90.0, step=5.0, label="Rotation (degrees)",
                            help="largest random rotation; with ±10% shift and a small shear")
    blur: bool = param(True, label="Gaussian blur")
    color_jitter: bool = param(True, label="Colour jitter",
                               help="brightness/contrast/saturation/hue jitter and random "
                               "greyscale (colour data only)")
    jitter_strength: float = param(0.5, lo=0.0, hi=1.0, step=0.05, label="Jitter strength")
    flip: bool = param(True, label="Horizontal flip", help="colour data only (digits are not "
                       "mirror-symmetric)")
    embedding: str = param("tsne", choices=EMBEDDINGS, label="Feature map",
                           help="2-D map of held-out features: t-SNE (openTSNE), PCA, UMAP "
                           "(if installed) or off")
    map_points: int = param(1000, choices=(200, 500, 1000, 2000), label="Points in the map")
    evaluate: bool = param(True, label="Few-label evaluation",
                           help="after pretraining, compare probe, scratch and pixels with "
                           "1-100 labels per class (takes a few seconds to a minute)")
    eval_steps: int = param(300, lo=10, hi=5000, help="optimiser steps of each supervised "
                            "baseline (scratch, fine-tune) in the final evaluation")
    finetune: bool = param(False, label="Also fine-tune",
                           help="(d) fine-tune the pretrained encoder on the few labels")
    label_draws: int = param(1, lo=1, hi=5, help="random draws of the labelled images per k; "
                             "accuracies are averaged")


def load_data(cfg: SimCLRConfig) -> tuple[ImageData, ImageData]:
    """(train, held-out test) splits of the configured dataset (bundled MNIST when offline)."""
    return load_images(cfg.dataset, "train"), load_images(cfg.dataset, "test")


def pretrain_step(model: nn.ModuleDict, augment: nn.Module, opt: torch.optim.Optimizer,
                  x: torch.Tensor, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """One SimCLR step on a batch of images x (N, C, H, W): two views, z (2N, P), NT-Xent,
    an optimiser step. Returns ``(loss, z.detach())``."""
    with torch.no_grad():  # one call on the doubled batch: kornia draws parameters per image
        views = augment(torch.cat([x, x]))
    z = model["projector"](model["encoder"](views))
    loss = nt_xent_loss(z, temperature)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.detach(), z.detach()


class LiveMap:
    """The live view of held-out features: a linear probe with 10 labels per class, the features
    of every held-out image (L2-normalised, float16) and a 2-D map of ``map_points`` of them."""

    def __init__(self, cfg: SimCLRConfig, train_d: ImageData, test_d: ImageData) -> None:
        self.train_d, self.test_d = train_d, test_d
        n_map = min(cfg.map_points, len(test_d.x))
        self.index = np.sort(np.random.default_rng(cfg.seed).permutation(len(test_d.x))[:n_map])
        self.fmap = FeatureMap(cfg.embedding, seed=cfg.seed) if cfg.embedding != "off" else None
        self.probe_idx = sample_labelled(train_d.y.numpy(), 10,
                                         np.random.default_rng(cfg.seed + 1))
        self.probe_acc = math.nan

    def update(self, encoder: nn.Module, device: torch.device, step: int) -> dict:
        """Encode, probe and map now: the artifacts ``features``, ``map``, ``map_step``."""
        feats = encode(encoder, self.test_d.x, device).numpy()
        x_lab = encode(encoder, self.train_d.x[torch.from_numpy(self.probe_idx)], device).numpy()
        y_test = self.test_d.y.numpy()[self.index]
        self.probe_acc = logistic_accuracy(x_lab, self.train_d.y.numpy()[self.probe_idx],
                                           feats[self.index], y_test, c=0.1)
        fm = feats / (np.linalg.norm(feats, axis=1, keepdims=True) + 1e-12)
        art = {"features": fm.astype(np.float16)}
        if self.fmap is not None:
            art.update(map=self.fmap.update(fm[self.index]), map_step=step)
        return art


class LRClock:
    """SimCLR's learning-rate factor: 20 warm-up steps, then cosine decay to 0 over the run,
    whose progress is counted in steps or, with ``max_seconds``, on the clock (whichever is
    further); :meth:`out_of_time` ends a time-limited run."""

    def __init__(self, total_steps: int, max_seconds: float) -> None:
        self.total, self.max_seconds = total_steps, max_seconds
        self.t0, self.frac = time.perf_counter(), 0.0

    def tick(self) -> bool:
        """Read the clock; True when the time limit is reached."""
        if self.max_seconds > 0:
            self.frac = (time.perf_counter() - self.t0) / self.max_seconds
        return self.frac >= 1.0

    def __call__(self, step: int) -> float:
        frac = min(1.0, max(step / self.total, self.frac))
        return min(1.0, (step + 1) / 20) * 0.5 * (1 + math.cos(math.pi * frac))

    def expected_total(self, step: int) -> int:
        """Steps the run will take: the planned total, or within the time limit."""
        if self.max_seconds > 0 and self.frac > 0:
            return max(step, min(self.total, int(step / min(1.0, self.frac))))
        return self.total


def pretrain(cfg: SimCLRConfig, x_all: torch.Tensor, model: nn.ModuleDict, live: LiveMap,
             device: torch.device, progress: Progress
             ) -> Iterator[tuple[int, dict, dict, int, bool]]:
    """SimCLR pretraining on images x_all (N, C, H, W); yields ``(step, metrics, artifacts,
    expected total steps, last)`` when a snapshot is due (see :func:`train` for the names);
    the live map and probe run on ``progress``'s evaluation budget."""
    gen = torch.Generator().manual_seed(cfg.seed)
    bs = min(cfg.batch_size, len(x_all))
    steps_per_epoch = max(1, len(x_all) // bs)
    augment = build_augment(cfg, x_all.shape[1], x_all.shape[-1]).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=1e-6)
    clock = LRClock(cfg.epochs * steps_per_epoch, cfg.max_seconds)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, clock)
    sample = x_all[torch.randperm(len(x_all), generator=gen)[:8]]
    art = {"views": pairs_grid(augment_pairs(cfg, sample, cfg.seed))}
    x_dev, step = x_all.to(device), 0
    model.train()
    for epoch in range(cfg.epochs):
        order = torch.randperm(len(x_all), generator=gen).to(device)
        for b in range(steps_per_epoch):
            step += 1
            loss, z = pretrain_step(model, augment, opt, x_dev[order[b * bs:(b + 1) * bs]],
                                    cfg.temperature)
            progress.losses.add(nt_xent=loss)
            last = clock.tick() or step == clock.total
            sched.step()
            progress.tick.total = step if last else clock.total
            if not progress.due(step):
                continue
            # negatives sampled from a generator of this step: not from how many snapshots came
            metrics, pos, neg = batch_metrics(z, torch.Generator().manual_seed(cfg.seed + 2 + step))
            metrics = {**progress.losses.pop(), **metrics, "epoch": epoch + (b + 1) / steps_per_epoch}
            art = {**art, "pos_hist": pos, "neg_hist": neg}
            if math.isfinite(metrics["nt_xent"]) and progress.budget.due(last):
                with progress.budget.timed():
                    art.update(live.update(model["encoder"], device, step))
            metrics["live_probe_k10"] = live.probe_acc
            yield step, metrics, art, clock.expected_total(step), last
            if last:
                return


def train(cfg: SimCLRConfig) -> Iterator[Snapshot]:
    """Pretrain with SimCLR, then evaluate with few labels; yields live snapshots.

    Metrics: ``nt_xent`` (nats, mean of the last 32 steps), ``pos_sim`` / ``neg_sim``
    (mean cosine of positive and negative pairs in the batch), ``contrast_acc`` (fraction of
    views whose most similar other view is their positive), ``live_probe_k10`` (linear-probe
    accuracy on the mapped held-out images with 10 labels per class, at each map update), and at
    the end ``probe_acc_k{k}``, ``scratch_acc_k{k}``, ``pixels_acc_k{k}`` (and
    ``finetune_acc_k{k}``) for k in :data:`K_SHOTS`. Artifacts: ``views`` (uint8 grid of
    augmented pairs), ``pos_hist`` / ``neg_hist`` (similarity samples), ``map`` (n, 2) with
    ``map_labels``/``map_index``, ``features`` of all held-out images (for nearest neighbours),
    ``eval`` (final accuracies) and ``phase`` (a sentence). The map, the features and the live
    probe take at most a quarter of the time (:class:`core.protocol.EvalBudget`, at most every
    3 s). The final snapshot carries the trained encoder and head (``model``, with
    ``model.simclr_config``) so other pages can reuse it.
    """
    device = start(cfg)
    progress = Progress(eval_share=0.25, eval_every_s=3.0)  # the total comes on the clock
    train_d, test_d = load_data(cfg)
    model = build_model(cfg, train_d.x.shape[1]).to(device)
    live = LiveMap(cfg, train_d, test_d)
    fixed = {"map_index": live.index, "map_labels": test_d.y.numpy()[live.index],
             "classes": list(train_d.classes), "phase": "pretraining",
             "note": train_d.note or (live.fmap.note if live.fmap else None)}
    for step, metrics, art, expected, _ in pretrain(cfg, train_d.x, model, live, device,
                                                    progress):
        yield progress.snapshot(step, metrics, {**fixed, **art}, total_steps=expected,
                                final=False)
    art = {**fixed, **art, "config": config_to_dict(cfg)}
    frozen = frozen_copy(model)  # the pretrained encoder and head, for other pages
    frozen.simclr_config = config_to_dict(cfg)
    if cfg.evaluate:
        art["phase"] = "evaluating with few labels (probe, scratch, pixels)"
        yield progress.snapshot(step, metrics, dict(art), total_steps=step, final=False)
        methods = ("probe", "scratch", "pixels") + (("finetune",) if cfg.finetune else ())
        # heartbeats every ~0.5 s: Stop and the server's budgets act during the evaluation
        units = eval_units(cfg, methods)
        _, art["eval"] = yield from heartbeats(
            few_label_eval_steps(model, cfg, train_d, test_d.x, test_d.y, device,
                                 draws=cfg.label_draws, methods=methods),
            total=step + units, done=step, phase="evaluating with few labels: {units} of "
            f"{units} steps")
        metrics = {**metrics, **{f"{m}_acc_k{k}": acc for m, per in art["eval"].items()
                                 for k, acc in per.items()}}
    art["phase"] = "done"
    yield Snapshot(step, progress.elapsed, metrics, art, total_steps=step, final=True,
                   model=frozen)


DEMOS = [Demo("simclr", SimCLRConfig, train, title="SimCLR",
              description="Contrastive self-supervised features (NT-Xent), a live t-SNE of them, "
              "and a few-label linear probe against training from scratch and raw pixels.")]
