"""SimCLR's networks: the encoder ``f`` (a plain CNN or a small ResNet) and the projection head
``g`` (Chen et al., ICML 2020, Sec. 2.1; the residual block of He et al., CVPR 2016)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F  # noqa: N812 - the usual alias
from torch import nn

__all__ = ["Encoder", "ProjectionHead", "ResidualBlock", "build_model"]

if TYPE_CHECKING:
    from core.representation.simclr.train import SimCLRConfig

def _conv_bn(c_in: int, c_out: int, stride: int = 1, k: int = 3) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, k, stride, k // 2, bias=False),
                         nn.BatchNorm2d(c_out),
                         nn.ReLU(inplace=True))


class ResidualBlock(nn.Module):
    """Basic ResNet block (He et al., CVPR 2016): ``relu(x + bn(conv(relu(bn(conv(x))))))``,
    with a strided 1x1 projection on the shortcut when the shape changes."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True), nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False),
            nn.BatchNorm2d(c_out))
        self.short = nn.Identity() if stride == 1 and c_in == c_out else nn.Sequential(
            nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.short(x))


class Encoder(nn.Module):
    """The encoder ``f``: images (N, C, H, W) -> features ``h`` (N, 4 * channels).

    ``kind="cnn"``: three conv-BN-ReLU blocks (c, 2c, 4c channels; the first two
    with stride 2, so a 28x28 digit becomes 7x7 maps), then global average pooling. Strided
    convolutions instead of max pooling keep a CPU step cheap. ``kind="resnet"``: the same
    stride-2 stem, then three residual blocks (the last two with stride 2), then global average
    pooling.
    """

    def __init__(self, in_channels: int = 1, channels: int = 32, kind: str = "cnn") -> None:
        super().__init__()
        w = channels
        if kind == "cnn":
            self.body = nn.Sequential(
                _conv_bn(in_channels, w, stride=2, k=5), _conv_bn(w, 2 * w, stride=2),
                _conv_bn(2 * w, 4 * w))
        elif kind == "resnet":
            self.body = nn.Sequential(
                _conv_bn(in_channels, w, stride=2, k=5), ResidualBlock(w, w),
                ResidualBlock(w, 2 * w, stride=2), ResidualBlock(2 * w, 4 * w, stride=2))
        else:
            raise ValueError(f"unknown encoder {kind!r}; allowed: cnn, resnet")
        self.feat_dim = 4 * w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).mean(dim=(2, 3))


class ProjectionHead(nn.Module):
    """The projection head ``g``: ``Linear -> BN -> ReLU -> Linear``, h (N, F) -> z (N, P)."""

    def __init__(self, feat_dim: int, proj_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(feat_dim, feat_dim), nn.BatchNorm1d(feat_dim),
                                 nn.ReLU(inplace=True), nn.Linear(feat_dim, proj_dim))

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(h)


def build_model(cfg: SimCLRConfig, in_channels: int) -> nn.ModuleDict:
    """``ModuleDict(encoder=Encoder, projector=ProjectionHead)`` for this config."""
    enc = Encoder(in_channels, cfg.channels, cfg.encoder)
    return nn.ModuleDict({"encoder": enc, "projector": ProjectionHead(enc.feat_dim, cfg.proj_dim)})
