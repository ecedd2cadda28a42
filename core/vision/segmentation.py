"""Binary segmentation of coloured-shape scenes: three models on the same images and batches.

* ``clip`` — a decoder trained on top of the **frozen** image encoder of a CLIP run (handed over
  by :mod:`core.handoff` as :data:`core.handoff.IMAGE_ENCODERS`): only the decoder learns.
* ``scratch`` — the same encoder-decoder, encoder included, trained from scratch, no skips.
* ``unet`` — a U-Net (Ronneberger, Fischer & Brox, "U-Net: Convolutional Networks for
  Biomedical Image Segmentation", MICCAI 2015): the same encoder, and a decoder that
  concatenates the encoder's feature map of the same resolution before each of its convolutions
  (skip connections), with toggles for each skip (``none`` / ``deepest`` / ``shallowest`` /
  ``all``).

Encoder: :class:`core.blocks.convnet.ConvEncoder` (3 stages of two 3x3 conv-BN-ReLU, widths w, 2w,
4w, max-pool between stages). Decoder: per upward stage, 2x bilinear upsampling, [concatenation
of the skip], two 3x3 conv-BN-ReLU; a 1x1 conv gives one logit per pixel.

Losses: binary cross-entropy on the logits, soft Dice ``1 - (2 Σ p g + 1) / (Σ p + Σ g + 1)``
per image (Milletari et al., "V-Net", 2016), or their sum. Metrics on held-out scenes (the
object pixels are the positive class, pooled over the set): IoU ``TP / (TP + FP + FN)``, mean
IoU over object and background, Dice ``2 TP / (2 TP + FP + FN)``, pixel accuracy, boundary
accuracy (pixel accuracy on pixels within 1 px of a true edge), and the predict-all-background
baseline's pixel accuracy (its IoU is 0).

Shapes: images (B, 3, S, S) in [0, 1]; masks (B, 1, S, S) in {0, 1}; logits (B, 1, S, S).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torchmetrics.functional.classification import binary_accuracy, binary_jaccard_index

from core import handoff
from core.blocks.convnet import ConvEncoder
from core.blocks.images import image_grid
from core.data.scenes import mask_scenes
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

SKIPS = ("none", "deepest", "shallowest", "all")
LOSSES = ("bce", "dice", "mix")
MODELS = ("clip", "scratch", "unet")
MODEL_NAMES = {"clip": "decoder on frozen CLIP encoder", "scratch": "encoder-decoder, no skips",
               "unet": "U-Net"}
CLIP_DEMO = "clip"  # the producer of the frozen encoder (core.handoff.IMAGE_ENCODERS)
DEPTH = 3
N_TRAIN, N_TEST, N_SHOWN = 2000, 64, 4


@dataclass(frozen=True)
class SegConfig(RunOptions):
    """Every setting of one segmentation run (all three models share data and batches)."""

    clip_decoder: bool = param(True, label="Train the decoder on frozen CLIP features",
                               help="needs a finished CLIP run (see clip_run); one is trained "
                               "first when there is none")
    clip_run: str = param("", label="CLIP run",
                          help="the CLIP run whose image encoder is frozen, as its settings "
                          "(k=v pairs, comma separated, empty = default settings; a run "
                          "finished on the CLIP page is reused, otherwise it is trained first) "
                          "or the path of a clip_image_encoder.pt written by "
                          "`python -m core train clip`")
    image_size: int = param(48, choices=(32, 48, 64), label="Image size")
    n_objects: int = param(2, lo=1, hi=6, label="Objects per image")
    noise: float = param(0.05, lo=0.0, hi=0.5, step=0.05, label="Pixel noise")
    clutter: int = param(0, lo=0, hi=12, label="Clutter strokes",
                         help="thin lines in the objects' colours that are background")
    width: int = param(8, choices=(8, 16, 32), label="Width",
                       help="channels of the first stage of the from-scratch encoder and the "
                       "U-Net (doubled at each of 3 stages)")
    skips: str = param("all", choices=SKIPS, label="U-Net skips",
                       help="which encoder feature maps the U-Net's decoder concatenates: the "
                       "deepest (half resolution), the shallowest (full resolution), both")
    loss: str = param("mix", choices=LOSSES, label="Loss", help="bce, dice or their sum")
    lr: float = param(3e-3, lo=1e-5, hi=1e-1, log=True, label="Learning rate")
    batch_size: int = param(16, choices=(4, 8, 16, 32, 64), label="Batch size")
    steps: int = param(400, lo=10, hi=20_000, step=10, label="Training steps")

    def __post_init__(self) -> None:
        if self.clip_decoder:
            handoff.check_run(CLIP_DEMO, self.clip_run)  # raises ValueError naming the problem

    @property
    def skip_stages(self) -> tuple[int, ...]:
        """Encoder stages whose feature maps the U-Net concatenates (0 = full resolution)."""
        return {"none": (), "deepest": (DEPTH - 2,), "shallowest": (0,),
                "all": tuple(range(DEPTH - 1))}[self.skips]


# ------------------------------------------------------------------------------ models


def _double_conv(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
                         nn.ReLU(inplace=True), nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
                         nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class Decoder(nn.Module):
    """The expansive path: from the deepest feature map up to full resolution, concatenating
    the encoder's stage ``k`` map when ``k in skips``; ``channels`` are the encoder's.
    features (list of stage maps) -> logits (B, 1, H, W)."""

    def __init__(self, channels: list[int], skips: tuple[int, ...] = ()) -> None:
        super().__init__()
        self.skips = tuple(skips)
        self.ups = nn.ModuleList()
        for k in range(len(channels) - 2, -1, -1):
            extra = channels[k] if k in self.skips else 0
            self.ups.append(_double_conv(channels[k + 1] + extra, channels[k]))
        self.head = nn.Conv2d(channels[0], 1, 1)

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        x = feats[-1]
        for up, k in zip(self.ups, range(len(feats) - 2, -1, -1)):
            x = F.interpolate(x, size=feats[k].shape[-2:], mode="bilinear", align_corners=False)
            if k in self.skips:
                x = torch.cat([x, feats[k]], 1)  # the U-Net's skip concatenation
            x = up(x)
        return self.head(x)


class SegNet(nn.Module):
    """Encoder + decoder; a ``frozen`` encoder stays in eval mode and gets no gradients."""

    def __init__(self, encoder: ConvEncoder, skips: tuple[int, ...] = (),
                 frozen: bool = False) -> None:
        super().__init__()
        self.encoder, self.frozen = encoder, frozen
        self.decoder = Decoder(encoder.channels, skips)
        if frozen:
            encoder.requires_grad_(False)

    def train(self, mode: bool = True) -> SegNet:
        super().train(mode)
        if self.frozen:
            self.encoder.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            feats = self.encoder(x)
        return self.decoder(feats)


def make_models(cfg: SegConfig, clip_payload: dict | None, device: torch.device
                ) -> dict[str, SegNet]:
    """The enabled models by name (see :data:`MODELS`), on ``device``."""
    models = {}
    if clip_payload is not None:
        models["clip"] = SegNet(handoff.image_encoder(clip_payload), frozen=True)
    models["scratch"] = SegNet(ConvEncoder(cfg.width, DEPTH))
    models["unet"] = SegNet(ConvEncoder(cfg.width, DEPTH), cfg.skip_stages)
    return {k: m.to(device) for k, m in models.items()}


# -------------------------------------------------------------------------- losses, metrics


def dice_loss(logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Soft Dice loss, mean over images: ``1 - (2 Σ p g + 1) / (Σ p + Σ g + 1)``."""
    p = logits.sigmoid().flatten(1)
    g = masks.flatten(1)
    return (1 - (2 * (p * g).sum(1) + 1) / (p.sum(1) + g.sum(1) + 1)).mean()


def seg_loss(logits: torch.Tensor, masks: torch.Tensor, kind: str) -> torch.Tensor:
    """``bce``, ``dice`` or ``mix`` (their sum) of logits and masks (B, 1, H, W).

    Raises:
        ValueError: for an unknown kind.
    """
    if kind not in LOSSES:
        raise ValueError(f"unknown loss {kind!r}; allowed: {', '.join(LOSSES)}")
    loss = torch.zeros((), device=logits.device)
    if kind in ("bce", "mix"):
        loss = loss + F.binary_cross_entropy_with_logits(logits, masks)
    if kind in ("dice", "mix"):
        loss = loss + dice_loss(logits, masks)
    return loss


def boundary_band(masks: torch.Tensor) -> torch.Tensor:
    """Pixels within 1 px (3x3 neighbourhood) of an edge of the masks: bool (B, 1, H, W)."""
    dilated = F.max_pool2d(masks, 3, 1, 1)
    eroded = -F.max_pool2d(-masks, 3, 1, 1)
    return dilated != eroded


def seg_metrics(pred: torch.Tensor, masks: torch.Tensor) -> dict[str, float]:
    """IoU, mean IoU (object and background), Dice, pixel and boundary accuracy of binary
    predictions ``pred`` against ``masks`` (B, 1, H, W), pooled over the set."""
    p, g = pred.bool(), masks.bool()
    tp, fp, fn = (p & g).sum().item(), (p & ~g).sum().item(), (~p & g).sum().item()
    tn = p.numel() - tp - fp - fn
    iou = float(binary_jaccard_index(p.long().flatten(), g.long().flatten(), zero_division=0))
    iou_bg = tn / max(tn + fp + fn, 1)
    band = boundary_band(masks.float())
    return {"iou": iou, "miou": (iou + iou_bg) / 2, "dice": 2 * tp / max(2 * tp + fp + fn, 1),
            "pixel_acc": float(binary_accuracy(p.long().flatten(), g.long().flatten())),
            "boundary_acc": float((p == g)[band].float().mean())}


def mask_sanity(masks: torch.Tensor) -> dict[str, float]:
    """What a mask set holds before any training: its unique values, the share of object
    pixels, and the predict-all-background baseline (pixel accuracy = 1 - that share, IoU 0)."""
    share = float(masks.mean())
    return {"unique": sorted(float(v) for v in torch.unique(masks)), "object_share": share,
            "baseline_pixel_acc": 1.0 - share, "baseline_iou": 0.0}


# ----------------------------------------------------------------------------- training


def make_data(cfg: SegConfig, n_train: int = N_TRAIN, n_test: int = N_TEST
              ) -> tuple[torch.Tensor, ...]:
    """``(x_train, y_train, x_test, y_test)`` of :func:`core.data.scenes.mask_scenes`; the test
    scenes use seed ``seed + 10_000``."""
    kw = {"size": cfg.image_size, "n_objects": cfg.n_objects, "noise": cfg.noise,
          "clutter": cfg.clutter}
    xtr, ytr = mask_scenes(n_train, seed=cfg.seed, **kw)
    xte, yte = mask_scenes(n_test, seed=cfg.seed + 10_000, **kw)
    return tuple(torch.from_numpy(a) for a in (xtr, ytr, xte, yte))


def train_step(model: SegNet, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
               kind: str) -> torch.Tensor:
    """One Adam step on one model; returns the detached loss."""
    loss = seg_loss(model(x), y, kind)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.detach()


def evaluate(models: dict[str, SegNet], x: torch.Tensor, y: torch.Tensor
             ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Metrics ``{model}_{metric}`` on the test set and each model's probability maps of the
    first :data:`N_SHOWN` test scenes as a uint8 strip."""
    metrics, shown = {}, {}
    with eval_mode(*models.values()):
        for name, m in models.items():
            logits = m(x)
            metrics.update({f"{name}_{k}": v for k, v in seg_metrics(logits > 0, y).items()})
            shown[name] = image_grid(logits[:N_SHOWN].sigmoid().cpu(), ncol=N_SHOWN, pad=2)
    return metrics, shown


def train(cfg: SegConfig) -> Iterator[Snapshot]:
    """Train the three models side by side on the same batches.

    Steps are optimisation steps (one per model). Metrics: ``{model}_loss`` (mean since the
    last snapshot) and, when evaluated, ``{model}_iou``, ``_miou``, ``_dice``, ``_pixel_acc``,
    ``_boundary_acc`` on the held-out scenes, ``baseline_pixel_acc`` and ``test_acc`` (the
    U-Net's pixel accuracy). Artifacts: ``sanity`` (see :func:`mask_sanity`), ``shown`` (uint8
    strips: ``input``, ``truth`` and one per model). ``model``: a ModuleDict of the models.
    When ``clip_decoder`` is on and the CLIP run is not finished yet, it is trained first
    (heartbeat snapshots).

    Raises:
        ValueError: for an unusable device or CLIP run (a plain sentence).
    """
    device = start(cfg)
    yield Snapshot(0, 0.0, {}, total_steps=cfg.steps, phase="drawing the scenes")
    payload = None
    if cfg.clip_decoder:  # a CLIP run not finished yet trains first, yielding heartbeats
        payload = yield from handoff.obtain_steps(handoff.IMAGE_ENCODERS, CLIP_DEMO, cfg.clip_run)
        start(cfg)  # again: training CLIP moved the global RNGs
    xtr, ytr, xte, yte = (t.to(device) for t in make_data(cfg))
    models = make_models(cfg, payload, device)
    opts = {k: torch.optim.Adam([p for p in m.parameters() if p.requires_grad], lr=cfg.lr)
            for k, m in models.items()}
    gen = torch.Generator().manual_seed(cfg.seed)
    sanity = mask_sanity(ytr)
    art = {"sanity": sanity, "shown": {
        "input": image_grid(xte[:N_SHOWN].cpu(), ncol=N_SHOWN, pad=2),
        "truth": image_grid(yte[:N_SHOWN].cpu(), ncol=N_SHOWN, pad=2)}}
    base = {"baseline_pixel_acc": 1.0 - float(yte.mean())}
    tick, losses, budget, copies = Ticker(total=cfg.steps), RunningMean(), EvalBudget(0.2), \
        CopyCadence(0)
    evals: dict[str, float] = {}
    for step in range(1, cfg.steps + 1):
        idx = torch.randint(len(xtr), (cfg.batch_size,), generator=gen).to(device)
        for name, m in models.items():
            losses.add(**{f"{name}_loss": train_step(m, opts[name], xtr[idx], ytr[idx],
                                                     cfg.loss)})
        if tick(step):
            final = step == cfg.steps
            metrics = losses.pop()
            if budget.due(final):
                with budget.timed():
                    evals, shown = evaluate(models, xte, yte)
                    evals["test_acc"] = evals["unet_pixel_acc"]
                art = {**art, "shown": {**art["shown"], **shown}}
            yield Snapshot(step, tick.elapsed, {**metrics, **evals, **base}, art,
                           total_steps=cfg.steps, final=final,
                           model=copies(nn.ModuleDict(models), final))


DEMOS = [Demo("segmentation", SegConfig, train, title="Segmentation: CLIP decoder vs U-Net",
              description="A decoder on frozen CLIP features, the same network from scratch, "
                          "and a U-Net with skip toggles segment shapes live.")]
