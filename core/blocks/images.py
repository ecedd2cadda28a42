"""Images for snapshots and pages: uint8 conversion, grids, animated GIFs, latent interpolation.

One grid for every page (:func:`image_grid`, torchvision's ``make_grid``), one GIF encoder
(:func:`gif_bytes`), one pair of interpolations (:func:`lerp`, :func:`slerp`).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

import numpy as np
import torch

__all__ = ["to_uint8_image", "image_grid", "gif_bytes", "lerp", "slerp"]


def to_uint8_image(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """An image in [0, 1] (``(C, H, W)`` tensor, ``(H, W)`` or ``(H, W, C)`` array) as an
    ``(H, W)`` or ``(H, W, 3)`` uint8 array (one channel stays two-dimensional)."""
    if isinstance(x, torch.Tensor):
        x = x.detach().float().cpu()
        if x.ndim == 3:
            x = x.permute(1, 2, 0)
        x = x.numpy()
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 3 and x.shape[2] == 1:
        x = x[:, :, 0]
    return (np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def image_grid(images: torch.Tensor | np.ndarray | Sequence[np.ndarray], ncol: int = 8,
               pad: int = 2, scale: int = 1) -> np.ndarray:
    """Tile images into one uint8 image with white gutters (torchvision ``make_grid``).

    Args:
        images: ``(N, C, H, W)`` tensor in [0, 1], or arrays ``(N, H, W)`` / ``(N, H, W, 3)``
            (uint8, or float in [0, 1]).
        ncol: images per row (at most ``N``).
        pad: gutter in pixels; scale: nearest-neighbour upscaling factor.

    Returns:
        ``(H', W')`` for one channel, else ``(H', W', 3)``, uint8.
    """
    from torchvision.utils import make_grid

    if isinstance(images, torch.Tensor):
        x = images.detach().float().cpu().clamp(0, 1)
    else:
        a = np.asarray(images)
        a = a.astype(np.float32) / 255.0 if a.dtype == np.uint8 else a.astype(np.float32)
        x = torch.from_numpy(a[:, None] if a.ndim == 3 else a.transpose(0, 3, 1, 2))
    grid = make_grid(x, nrow=max(1, min(ncol, len(x))), padding=pad, pad_value=1.0)
    img = to_uint8_image(grid[:1] if x.shape[1] == 1 else grid)
    if scale > 1:
        img = img.repeat(scale, 0).repeat(scale, 1)
    return img


def title_strip(img: np.ndarray, titles: Sequence[str], centers: Sequence[float],
                height: int = 16) -> np.ndarray:
    """``img`` with a white strip on top holding each title, centred at its x pixel.

    Args:
        img: ``(H, W, 3)`` uint8 (a grid from :func:`image_grid`).
        titles: one short text per column; centers: each title's x centre in pixels.
        height: the strip's height in pixels (the font is ``height - 4`` pixels).

    Returns:
        ``(H + height, W, 3)`` uint8; a title wider than the space between its neighbours'
        centres is cut short with an ellipsis, never drawn over them.
    """
    from PIL import Image, ImageDraw, ImageFont

    strip = Image.new("RGB", (img.shape[1], height), "white")
    draw, font = ImageDraw.Draw(strip), ImageFont.load_default(size=max(6, height - 4))
    gap = float(np.min(np.diff(centers))) if len(centers) > 1 else float(img.shape[1])
    for text, x in zip(titles, centers, strict=True):
        while len(text) > 1 and draw.textlength(text, font=font) > gap - 4:
            text = text[:-2] + "…"
        draw.text((x, height / 2), text, fill=(60, 60, 60), font=font, anchor="mm")
    return np.concatenate([np.asarray(strip, dtype=np.uint8), img], axis=0)


def gif_bytes(frames: np.ndarray | Sequence[np.ndarray], duration_ms: int = 120, scale: int = 1,
              boomerang: bool = False) -> bytes:
    """An animated GIF (bytes) of ``frames`` ``(T, H, W[, 3])`` uint8, ``duration_ms`` per frame,
    upscaled ``scale`` times (nearest neighbour); ``boomerang`` plays forth and back."""
    from PIL import Image

    seq = list(frames)
    if boomerang:
        seq += seq[-2:0:-1]
    imgs = [Image.fromarray(f) for f in seq]
    if scale > 1:
        imgs = [im.resize((im.width * scale, im.height * scale), Image.NEAREST) for im in imgs]
    buf = io.BytesIO()
    imgs[0].save(buf, format="GIF", save_all=True, append_images=imgs[1:], duration=duration_ms,
                 loop=0)
    return buf.getvalue()


def random_shift(x: torch.Tensor, max_shift: int, gen: torch.Generator) -> torch.Tensor:
    """Shift every image of ``x`` ``(N, C, H, W)`` by its own random offset in ``[-max_shift,
    max_shift]`` pixels along each axis, filling with zeros: the "random shifts" augmentation
    (offsets drawn from the CPU generator ``gen``, ``(N, 2)`` of them).
    """
    if max_shift <= 0:
        return x
    n, c, h, w = x.shape
    padded = torch.nn.functional.pad(x, (max_shift,) * 4)
    off = torch.randint(0, 2 * max_shift + 1, (n, 2), generator=gen).to(x.device)
    rows = (off[:, :1] + torch.arange(h, device=x.device))[:, None, :, None]  # (N, 1, H, 1)
    cols = (off[:, 1:] + torch.arange(w, device=x.device))[:, None, None, :]  # (N, 1, 1, W)
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    channel = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[batch, channel, rows, cols]


def lerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """Linear interpolation ``(1 - t) z0 + t z1``; ``z0, z1`` of shape ``(D,)``, ``t`` scalar or
    ``(T,)`` -> ``(D,)`` or ``(T, D)``."""
    t = torch.as_tensor(t, dtype=z0.dtype)
    if t.ndim == 1:
        t = t[:, None]
    return (1 - t) * z0 + t * z1


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
    """Spherical interpolation along the great circle between ``z0`` and ``z1`` (White, "Sampling
    Generative Networks", 2016): keeps the norm typical of N(0, I) samples, which linear
    interpolation shrinks in the middle. Shapes as :func:`lerp`; falls back to :func:`lerp` for
    (anti)parallel vectors."""
    t = torch.as_tensor(t, dtype=z0.dtype)
    if t.ndim == 1:
        t = t[:, None]
    cos = torch.dot(z0, z1) / (z0.norm() * z1.norm()).clamp_min(1e-12)
    omega = torch.arccos(cos.clamp(-1.0, 1.0))
    if omega.abs() < 1e-4 or (math.pi - omega).abs() < 1e-4:
        return lerp(z0, z1, t.squeeze(-1) if t.ndim else t)
    s = torch.sin(omega)
    return torch.sin((1 - t) * omega) / s * z0 + torch.sin(t * omega) / s * z1
