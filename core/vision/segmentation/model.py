"""The networks, losses and metrics of ``/segmentation``.

Encoder: :class:`core.blocks.convnet.ConvEncoder` (3 stages of two 3x3 conv-BN-ReLU, widths w,
2w, 4w, max-pool between stages). :class:`Decoder`: per upward stage, 2x bilinear upsampling,
[concatenation of the encoder's map of that resolution: the U-Net's skip, Ronneberger et al.
2015], two 3x3 conv-BN-ReLU; a 1x1 conv gives one logit per pixel. A prompted decoder also
modulates its bottleneck and every stage's output with FiLM (Perez et al., "FiLM: Visual
Reasoning with a General Conditioning Layer", AAAI 2018) from a prompt embedding: the decoder
on CLIP features reads the CLIP text tower's embedding of the prompt's phrase
(:class:`PhrasePromptEncoder`), as CLIPSeg (Lüddecke & Ecker, CVPR 2022) conditions its
decoder on CLIP's text embedding; the from-scratch models learn a bag-of-words embedding
(:class:`PromptEncoder`).

Shapes: images (B, 3, S, S) in [0, 1]; masks (B, 1, S, S) in {0, 1}; logits (B, 1, S, S);
prompts (B, 3) int64 (see :mod:`core.vision.segmentation.data`).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torchmetrics.functional.classification import binary_accuracy, binary_jaccard_index

from core.blocks.convnet import ConvEncoder
from core.data.scenes import phrase_index
from core.vision.segmentation.data import PROMPT_WORDS, WORD_OFFSETS

__all__ = ["LOSSES", "Decoder", "FiLM", "PhrasePromptEncoder", "PromptEncoder", "SegNet",
           "boundary_band", "dice_loss", "mask_sanity", "seg_loss", "seg_metrics"]

LOSSES = ("bce", "dice", "mix")
PROMPT_DIM = 32  # size of the prompt embedding


def _double_conv(c_in: int, c_out: int, last_relu: bool = True) -> nn.Sequential:
    layers = [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out),
              nn.ReLU(inplace=True), nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
              nn.BatchNorm2d(c_out)]
    return nn.Sequential(*layers, *([nn.ReLU(inplace=True)] if last_relu else []))


class PromptEncoder(nn.Module):
    """A bag-of-words prompt encoder: the sum of the named words' embeddings, then an MLP.
    prompts (B, 3) int64 ``(color, shape, size)``, ``-1`` = unnamed -> (B, dim)."""

    def __init__(self, dim: int = PROMPT_DIM) -> None:
        super().__init__()
        self.dim, self.pad = dim, len(PROMPT_WORDS)
        self.words = nn.Embedding(self.pad + 1, dim, padding_idx=self.pad)
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim))
        self.register_buffer("offsets", torch.tensor(WORD_OFFSETS), persistent=False)

    def forward(self, prompts: torch.Tensor) -> torch.Tensor:
        ids = torch.where(prompts >= 0, prompts + self.offsets, self.pad)
        return self.mlp(self.words(ids).sum(1))


class PhrasePromptEncoder(nn.Module):
    """A frozen table of the CLIP text tower's embeddings of every attribute phrase
    (:func:`core.data.scenes.attribute_phrases`; CLIPSeg conditions its decoder on CLIP's text
    embedding): prompts (B, 3) int64 ``(color, shape, size)``, ``-1`` = unnamed -> the embedding
    of the phrase that names them, e.g. ``a big red circle`` (B, d)."""

    def __init__(self, table: torch.Tensor) -> None:
        super().__init__()
        self.dim = table.shape[1]
        self.register_buffer("table", table.detach().float().clone())

    def forward(self, prompts: torch.Tensor) -> torch.Tensor:
        return self.table[phrase_index(prompts)]


class FiLM(nn.Module):
    """Feature-wise linear modulation ``x * (1 + gamma(t)) + beta(t)``, ``gamma`` and ``beta``
    linear in the condition: x (B, C, H, W), t (B, D) -> (B, C, H, W)."""

    def __init__(self, cond_dim: int, channels: int) -> None:
        super().__init__()
        self.proj = nn.Linear(cond_dim, 2 * channels)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.proj(t)[:, :, None, None].chunk(2, 1)
        return x * (1 + gamma) + beta


class Decoder(nn.Module):
    """The expansive path: from the deepest feature map up to full resolution, concatenating
    the encoder's stage ``k`` map when ``k in skips``; ``channels`` are the encoder's. With
    ``cond_dim`` the bottleneck and each stage's output are FiLM-modulated by a condition.
    features (list of stage maps), cond (B, cond_dim) or None -> logits (B, 1, H, W)."""

    def __init__(self, channels: list[int], skips: tuple[int, ...] = (),
                 cond_dim: int = 0) -> None:
        super().__init__()
        self.skips = tuple(skips)
        self.ups = nn.ModuleList()
        for k in range(len(channels) - 2, -1, -1):
            extra = channels[k] if k in self.skips else 0
            self.ups.append(_double_conv(channels[k + 1] + extra, channels[k], not cond_dim))
        self.head = nn.Conv2d(channels[0], 1, 1)
        self.films = nn.ModuleList(
            [FiLM(cond_dim, c) for c in channels[::-1]] if cond_dim else [])

    def forward(self, feats: list[torch.Tensor], cond: torch.Tensor | None = None
                ) -> torch.Tensor:
        x = feats[-1]
        if self.films:
            x = self.films[0](x, cond)
        for i, (up, k) in enumerate(zip(self.ups, range(len(feats) - 2, -1, -1))):
            x = F.interpolate(x, size=feats[k].shape[-2:], mode="bilinear", align_corners=False)
            if k in self.skips:
                x = torch.cat([x, feats[k]], 1)  # the U-Net's skip concatenation
            x = up(x)
            if self.films:  # as in the FiLM paper: after batch norm, before the ReLU
                x = F.relu(self.films[i + 1](x, cond))
        return self.head(x)


class SegNet(nn.Module):
    """Encoder + decoder; a ``frozen`` encoder stays in eval mode and gets no gradients; a
    ``prompt_encoder`` (:class:`PromptEncoder`, :class:`PhrasePromptEncoder`: prompts (B, 3)
    -> (B, its ``dim``)) conditions the decoder (FiLM).
    ``forward(x (B, 3, S, S), prompts (B, 3) or None) -> logits (B, 1, S, S)``.

    Raises:
        ValueError: in ``forward``, when a prompted net gets no prompts.
    """

    def __init__(self, encoder: ConvEncoder, skips: tuple[int, ...] = (),
                 frozen: bool = False, prompt_encoder: nn.Module | None = None) -> None:
        super().__init__()
        self.encoder, self.frozen = encoder, frozen
        self.decoder = Decoder(encoder.channels, skips,
                               prompt_encoder.dim if prompt_encoder is not None else 0)
        self.prompt_encoder = prompt_encoder
        if frozen:
            encoder.requires_grad_(False)

    def train(self, mode: bool = True) -> SegNet:
        super().train(mode)
        if self.frozen:
            self.encoder.eval()
        return self

    def forward(self, x: torch.Tensor, prompts: torch.Tensor | None = None) -> torch.Tensor:
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            feats = self.encoder(x)
        if self.prompt_encoder is None:
            return self.decoder(feats)
        if prompts is None:
            raise ValueError("this network segments what a prompt names: pass prompts (B, 3)")
        return self.decoder(feats, self.prompt_encoder(prompts))


# -------------------------------------------------------------------------- losses, metrics


def dice_loss(logits: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Soft Dice loss, mean over images: ``1 - (2 Σ p g + 1) / (Σ p + Σ g + 1)`` (Milletari et
    al., "V-Net", 2016); the +1 keeps an empty mask's loss finite."""
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
