"""Convolutional building blocks shared by topics: the U-Net-style encoder of the CLIP and
segmentation pages."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ConvEncoder"]


class ConvEncoder(nn.Module):
    """A small U-Net-style CNN encoder: ``depth`` stages of two 3x3 conv -> BatchNorm -> ReLU,
    each stage after the first starting with a 2x2 max-pool, widths ``width * 2**k``
    (Ronneberger et al., "U-Net", MICCAI 2015, contracting path).

    The CLIP page's image tower (global-average-pooled last stage) and the segmentation page's
    encoders; :data:`core.handoff.IMAGE_ENCODERS` hands its state dict from one to the other.

    ``forward``: x (B, C, H, W) -> list of ``depth`` feature maps, stage ``k`` of shape
    (B, width * 2**k, H / 2**k, W / 2**k) (H, W divisible by ``2**(depth - 1)``).
    """

    def __init__(self, width: int = 16, depth: int = 3, in_channels: int = 3) -> None:
        super().__init__()
        self.width, self.depth = width, depth
        stages, c_in = [], in_channels
        for k in range(depth):
            c = width * 2 ** k
            layers = [nn.MaxPool2d(2)] if k else []
            for a, b in ((c_in, c), (c, c)):
                layers += [nn.Conv2d(a, b, 3, padding=1, bias=False), nn.BatchNorm2d(b),
                           nn.ReLU(inplace=True)]
            stages.append(nn.Sequential(*layers))
            c_in = c
        self.stages = nn.ModuleList(stages)

    @property
    def channels(self) -> list[int]:
        """Channels of each stage's feature map."""
        return [self.width * 2 ** k for k in range(self.depth)]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats
