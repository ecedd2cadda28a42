"""SimCLR's random views: the kornia augmentation pipeline and the augmentation viewer's pairs."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from core.blocks.images import image_grid

__all__ = ["augment_pairs", "build_augment", "pairs_grid"]

if TYPE_CHECKING:
    from core.representation.simclr.train import SimCLRConfig

def build_augment(cfg: SimCLRConfig, channels: int, size: int) -> nn.Module:
    """The random view generator: a kornia pipeline drawing new parameters for every image.

    Digits (1 channel): random resized crop, rotation/shift/shear, Gaussian blur. Colour data
    (3 channels) adds horizontal flip, colour jitter and random greyscale (SimCLR's recipe).
    Each part can be switched off in the config. Input and output: (N, C, size, size) in [0, 1].
    """
    import kornia.augmentation as K  # noqa: N812 - kornia's usual alias

    ops: list[nn.Module] = []
    if cfg.crop:
        ops.append(K.RandomResizedCrop((size, size), scale=(cfg.crop_scale, 1.0),
                                       ratio=(0.75, 4 / 3)))
    if cfg.affine:
        ops.append(K.RandomAffine(degrees=cfg.rotation, translate=(0.1, 0.1), shear=10.0, p=1.0))
    if channels == 3 and cfg.flip:
        ops.append(K.RandomHorizontalFlip())
    if channels == 3 and cfg.color_jitter and cfg.jitter_strength > 0:
        s = cfg.jitter_strength
        ops.append(K.ColorJitter(0.8 * s, 0.8 * s, 0.8 * s, 0.2 * s, p=0.8))
        ops.append(K.RandomGrayscale(p=0.2))
    if cfg.blur:
        ops.append(K.RandomGaussianBlur((3, 3), (0.1, 1.5), p=0.5))
    return nn.Sequential(*ops) if ops else nn.Identity()


def augment_pairs(cfg: SimCLRConfig, images: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Two random views of each image, for the augmentation viewer.

    Args:
        images: (n, C, H, W) in [0, 1].

    Returns:
        (n, 3, C, H, W): the original, view 1 and view 2 of each image.
    """
    state = torch.get_rng_state()
    torch.manual_seed(seed)
    try:
        aug = build_augment(cfg, images.shape[1], images.shape[-1])
        with torch.no_grad():
            v1, v2 = aug(images), aug(images)
    finally:
        torch.set_rng_state(state)
    return torch.stack([images, v1.clamp(0, 1), v2.clamp(0, 1)], 1)


def pairs_grid(pairs: torch.Tensor) -> np.ndarray:
    """Tile (n, 3, C, H, W) view triples as a uint8 image: one row per image, 3 columns."""
    n = pairs.shape[0]
    return image_grid(pairs.reshape(n * 3, *pairs.shape[2:]), ncol=3, pad=2)
