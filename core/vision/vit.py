"""A small Vision Transformer against a CNN of about the same size, on the same data and batches.

ViT (Dosovitskiy et al. 2021): cut the image into ``P x P`` patches, embed each linearly, add a
position embedding, prepend a learnable [CLS] token, run pre-LN Transformer blocks
(:class:`core.blocks.attention.Block`, bidirectional) and classify the [CLS] output (or the
mean of the patch outputs)::

    z_0 = [x_cls; x_p^1 E; ...; x_p^N E] + E_pos,   z_l = Block(z_{l-1}),   y = W LN(z_L^0)

Small-data remedies: *shifted patch tokenisation* (Lee, Lee & Song 2021: the image and four
copies shifted by half a patch diagonally are patched together) or a *conv stem* (Xiao et al.
2021: a 3x3 convolution before a stride-P patch convolution), and *locality self-attention*
(Lee et al.: a learned softmax temperature and no token attending to itself; the shared
block's ``locality=True``).

Live views: attention from [CLS] per layer and head, *attention rollout* (Abnar & Zuidema 2020:
``R = prod_l (0.5 A_l + 0.5 I)`` with ``A_l`` the head-averaged attention, rows renormalised),
the cosine similarity of the position embeddings (ViT paper, Fig. 7), and an inductive-bias
probe: accuracy on shifted and on patch-shuffled test images.

Shapes: images ``(B, C, H, W)`` in [0, 1]; tokens ``(B, 1 + N, d_model)`` with ``N = (H/P)(W/P)``
after padding H and W up to multiples of P; attention ``(B, n_heads, 1 + N, 1 + N)``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from core.blocks.attention import Block
from core.data import load_images
from core.protocol import Demo, Progress, RunOptions, Snapshot, eval_mode, param, start

DATASETS = ("mnist", "fashion_mnist", "cifar10")
SHIFT_PX = 4  # pixels of the shift probe (each test image moved by up to this many pixels)


@dataclass(frozen=True)
class VitConfig(RunOptions):
    """Every setting of one ViT-vs-CNN run."""

    dataset: str = param("mnist", choices=DATASETS,
                         help="bundled MNIST works offline; the others fall back to it")
    data_fraction: float = param(1.0, lo=0.05, hi=1.0, step=0.05, label="Training data used",
                                 help="share of the training set both models see")
    patch_size: int = param(7, choices=(2, 4, 7, 8), label="Patch size P",
                            help="pixels per patch side (the image is zero-padded to a multiple)")
    n_layers: int = param(3, lo=1, hi=8, label="Depth", help="Transformer blocks")
    n_heads: int = param(4, choices=(1, 2, 4, 8), label="Heads")
    d_model: int = param(64, choices=(32, 48, 64, 96, 128), label="Width d_model")
    pool: str = param("cls", choices=("cls", "mean"), label="Pooling",
                      help="classify the [CLS] token, or the mean of the patch tokens")
    pos_embedding: str = param("learned", choices=("learned", "sinusoidal", "none"),
                               label="Position embedding")
    tokenizer: str = param("patch", choices=("patch", "shifted_patch", "conv_stem"),
                           label="Tokenisation",
                           help="plain linear patches, shifted patch tokenisation (Lee et al. "
                           "2021) or a conv stem (Xiao et al. 2021)")
    locality: bool = param(False, label="Locality self-attention",
                           help="Lee et al. 2021: a learned softmax temperature, and no patch "
                           "attends to itself")
    dropout: float = param(0.0, lo=0.0, hi=0.5, step=0.05)
    lr: float = param(1e-3, lo=1e-5, hi=1e-1, log=True, label="Learning rate")
    batch_size: int = param(64, choices=(16, 32, 64, 128, 256), label="Batch size")
    steps: int = param(1500, lo=10, hi=50000, step=10, help="mini-batch updates of each model")

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads:
            raise ValueError(f"width {self.d_model} must be divisible by the number of heads "
                             f"({self.n_heads})")


# ---------------------------------------------------------------------------- the models


def sinusoidal_2d(grid: int, d_model: int) -> torch.Tensor:
    """Fixed 2-D sine-cosine position embeddings (MAE / ViT-style): (grid*grid, d_model); half
    the channels encode the row, half the column (Vaswani et al. frequencies).

    Raises:
        ValueError: if ``d_model`` is not divisible by 4.
    """
    if d_model % 4:
        raise ValueError(f"d_model={d_model} must be divisible by 4 for 2-D sinusoids")
    quarter = d_model // 4
    freqs = 1.0 / 10000 ** (torch.arange(quarter) / quarter)
    pos = torch.arange(grid, dtype=torch.float32)[:, None] * freqs[None]  # (grid, quarter)
    enc = torch.cat([pos.sin(), pos.cos()], 1)  # (grid, d/2)
    rows = enc[:, None].expand(grid, grid, -1)
    cols = enc[None, :].expand(grid, grid, -1)
    return torch.cat([rows, cols], -1).reshape(grid * grid, d_model)


def shifted_views(x: torch.Tensor, shift: int) -> torch.Tensor:
    """The image and its four diagonal shifts by ``shift`` pixels (zero fill), stacked on the
    channels: (B, C, H, W) -> (B, 5C, H, W) (Lee et al. 2021, shifted patch tokenisation)."""
    views = [x]
    for dy, dx in ((-1, -1), (-1, 1), (1, -1), (1, 1)):
        pad = (max(dx, 0) * shift, max(-dx, 0) * shift, max(dy, 0) * shift, max(-dy, 0) * shift)
        shifted = F.pad(x, pad)
        h0, w0 = max(-dy, 0) * shift, max(-dx, 0) * shift
        views.append(shifted[..., h0:h0 + x.shape[-2], w0:w0 + x.shape[-1]])
    return torch.cat(views, 1)


class PatchEmbed(nn.Module):
    """Images (B, C, H, W) -> patch tokens (B, N, d_model) by ``tokenizer``:
    ``patch`` (a stride-P convolution = a linear map of each flattened patch),
    ``shifted_patch`` (the same on :func:`shifted_views`, then LayerNorm), or ``conv_stem``
    (3x3 conv + BatchNorm + ReLU, then the stride-P convolution)."""

    def __init__(self, in_channels: int, patch: int, d_model: int, tokenizer: str = "patch"
                 ) -> None:
        super().__init__()
        self.patch, self.tokenizer = patch, tokenizer
        c = in_channels * (5 if tokenizer == "shifted_patch" else 1)
        self.stem = nn.Sequential()
        if tokenizer == "conv_stem":
            self.stem = nn.Sequential(nn.Conv2d(c, d_model // 2, 3, padding=1),
                                      nn.BatchNorm2d(d_model // 2), nn.ReLU())
            c = d_model // 2
        self.proj = nn.Conv2d(c, d_model, patch, stride=patch)
        self.norm = nn.LayerNorm(d_model) if tokenizer == "shifted_patch" else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.tokenizer == "shifted_patch":
            x = shifted_views(x, max(1, self.patch // 2))
        return self.norm(self.proj(self.stem(x)).flatten(2).transpose(1, 2))


def pad_to_patches(x: torch.Tensor, patch: int) -> torch.Tensor:
    """Zero-pad (B, C, H, W) on the right and bottom so H and W are multiples of ``patch``."""
    ph, pw = -x.shape[-2] % patch, -x.shape[-1] % patch
    return F.pad(x, (0, pw, 0, ph)) if ph or pw else x


class ViT(nn.Module):
    """A small ViT; ``forward(x, need_weights)`` returns ``(logits (B, n_classes),
    attention weights: a list of n_layers (B, n_heads, T, T) tensors or None)``."""

    def __init__(self, cfg: VitConfig, shape: tuple[int, int, int], n_classes: int) -> None:
        super().__init__()
        c, h, w = shape
        self.patch = cfg.patch_size
        self.grid = (math.ceil(h / self.patch), math.ceil(w / self.patch))
        n = self.grid[0] * self.grid[1]
        self.embed_patches = PatchEmbed(c, self.patch, cfg.d_model, cfg.tokenizer)
        self.pool, self.pos_kind = cfg.pool, cfg.pos_embedding
        self.cls = nn.Parameter(torch.zeros(1, 1, cfg.d_model)) if cfg.pool == "cls" else None
        if cfg.pos_embedding == "learned":
            self.pos = nn.Parameter(torch.randn(1, n, cfg.d_model) * 0.02)
        else:
            table = (sinusoidal_2d(self.grid[0], cfg.d_model) if self.grid[0] == self.grid[1]
                     and cfg.pos_embedding == "sinusoidal" else torch.zeros(n, cfg.d_model))
            self.register_buffer("pos", table[None], persistent=False)
        self.blocks = nn.ModuleList(Block(cfg.d_model, cfg.n_heads, cfg.dropout, "gelu", 2,
                                          locality=cfg.locality) for _ in range(cfg.n_layers))
        self.norm = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, n_classes)

    def tokens(self, x: torch.Tensor) -> torch.Tensor:
        """Images -> tokens (B, [1 +] N, d_model) with position embeddings (and [CLS] first)."""
        t = self.embed_patches(pad_to_patches(x, self.patch)) + self.pos
        if self.cls is not None:
            t = torch.cat([self.cls.expand(len(t), -1, -1), t], 1)
        return t

    def forward(self, x: torch.Tensor, need_weights: bool = False
                ) -> tuple[torch.Tensor, list[torch.Tensor] | None]:
        t, maps = self.tokens(x), []
        for block in self.blocks:
            t, a = block(t, causal=False, need_weights=need_weights)
            maps.append(a)
        t = self.norm(t)
        out = t[:, 0] if self.cls is not None else t.mean(1)
        return self.head(out), (maps if need_weights else None)


def cnn(channels: int, in_channels: int, n_classes: int) -> nn.Sequential:
    """A VGG-style CNN: four 3x3 conv blocks of ``c, 2c, 4c, 4c`` channels (BatchNorm, ReLU; a
    2x2 max-pool after each of the first three), global average pooling and a linear layer:
    (B, C, H, W) -> (B, n_classes). Most parameters sit at low resolution, so it costs only
    about twice a ViT's compute at equal size."""
    widths, layers = (channels, 2 * channels, 4 * channels, 4 * channels), []
    c_in = in_channels
    for i, c in enumerate(widths):
        layers += [nn.Conv2d(c_in, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU()]
        if i < 3:
            layers.append(nn.MaxPool2d(2))
        c_in = c
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(c_in, n_classes))


def n_params(model: nn.Module) -> int:
    """Trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def matched_cnn(target: int, in_channels: int, n_classes: int) -> nn.Sequential:
    """The :func:`cnn` whose parameter count is closest to ``target``."""
    best = min(range(2, 65), key=lambda c: abs(n_params(cnn(c, in_channels, n_classes))
                                                - target))
    return cnn(best, in_channels, n_classes)


def build_models(cfg: VitConfig, shape: tuple[int, int, int], n_classes: int
                 ) -> tuple[ViT, nn.Sequential]:
    """The ViT of ``cfg`` and a CNN with about as many parameters."""
    vit = ViT(cfg, shape, n_classes)
    return vit, matched_cnn(n_params(vit), shape[0], n_classes)


# --------------------------------------------------------------------- views and probes


def attention_rollout(maps: list[torch.Tensor]) -> torch.Tensor:
    """Attention rollout (Abnar & Zuidema 2020) of one image: ``maps`` are per-layer weights
    (H, T, T); returns (T, T) ``prod_l norm(0.5 mean_h A_l + 0.5 I)`` (row l applied last).
    Row ``i`` says how much each input token flows into output token ``i``."""
    T = maps[0].shape[-1]
    eye = torch.eye(T)
    rollout = eye
    for a in maps:
        a = 0.5 * a.mean(0).cpu() + 0.5 * eye
        rollout = (a / a.sum(-1, keepdim=True)) @ rollout
    return rollout


def cls_views(vit: ViT, x: torch.Tensor) -> dict[str, np.ndarray]:
    """What the page draws for one image x (1, C, H, W).

    Returns:
        ``attention`` (L, heads, gh, gw): from [CLS] (or averaged over the patch queries with
        mean pooling) to every patch; ``rollout`` (gh, gw): the rollout's [CLS] (or mean) row
        over the patches, each map normalised to sum 1.
    """
    with eval_mode(vit):
        _, maps = vit(x, need_weights=True)
    gh, gw = vit.grid
    off = 1 if vit.cls is not None else 0
    per_layer = [m[0].cpu() for m in maps]  # (H, T, T) each
    if off:
        att = torch.stack([m[:, 0, off:] for m in per_layer])
    else:
        att = torch.stack([m.mean(1) for m in per_layer])  # mean over queries
    roll = attention_rollout(per_layer)
    row = roll[0, off:] if off else roll.mean(0)
    att = att / att.sum(-1, keepdim=True).clamp_min(1e-12)
    return {"attention": att.reshape(len(maps), -1, gh, gw).numpy(),
            "rollout": (row / row.sum()).reshape(gh, gw).numpy()}


def position_similarity(vit: ViT) -> np.ndarray | None:
    """Cosine similarity of every patch's position embedding with every other's:
    (gh, gw, gh, gw) (ViT paper, Fig. 7 centre), or None without position embeddings."""
    if vit.pos_kind == "none":
        return None
    p = F.normalize(vit.pos[0].detach().float().cpu(), dim=-1)
    gh, gw = vit.grid
    return (p @ p.T).reshape(gh, gw, gh, gw).numpy()


def embedding_filters(vit: ViT, k: int = 16) -> np.ndarray | None:
    """The first ``k`` principal components of the linear patch-embedding filters as images
    (k, P, P) scaled to [0, 1] (ViT paper, Fig. 7 left); None for the conv stem / shifted
    patches / colour images (their filters are not single-channel patches)."""
    emb = vit.embed_patches
    if emb.tokenizer != "patch" or emb.proj.in_channels != 1:
        return None
    w = emb.proj.weight.detach().float().cpu().flatten(1)  # (d_model, P*P)
    _, _, vh = torch.linalg.svd(w - w.mean(0), full_matrices=False)
    comps = vh[:k].reshape(-1, vit.patch, vit.patch)
    lo = comps.amin((1, 2), keepdim=True)
    hi = comps.amax((1, 2), keepdim=True)
    return ((comps - lo) / (hi - lo).clamp_min(1e-8)).numpy()


def shift_images(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Each image (N, C, H, W) moved by a random offset in ``[-max_shift, max_shift]^2`` with
    zero fill (content leaving the frame is lost)."""
    out = torch.zeros_like(x)
    H, W = x.shape[-2:]
    offs = torch.randint(-max_shift, max_shift + 1, (len(x), 2), generator=generator)
    for i, (dy, dx) in enumerate(offs.tolist()):
        out[i, :, max(dy, 0):H + min(dy, 0), max(dx, 0):W + min(dx, 0)] = \
            x[i, :, max(-dy, 0):H + min(-dy, 0), max(-dx, 0):W + min(-dx, 0)]
    return out


def shuffle_patches(x: torch.Tensor, patch: int, generator: torch.Generator) -> torch.Tensor:
    """The ``patch x patch`` tiles of each image permuted at random (one permutation per image);
    the image is zero-padded to a multiple of ``patch`` first, so the result may be larger."""
    x = pad_to_patches(x, patch)
    B, C, H, W = x.shape
    gh, gw = H // patch, W // patch
    tiles = x.reshape(B, C, gh, patch, gw, patch).permute(0, 2, 4, 1, 3, 5).reshape(
        B, gh * gw, C, patch, patch)
    perm = torch.argsort(torch.rand(B, gh * gw, generator=generator), 1).to(x.device)
    tiles = tiles[torch.arange(B)[:, None], perm]
    return tiles.reshape(B, gh, gw, C, patch, patch).permute(0, 3, 1, 4, 2, 5).reshape(B, C, H, W)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 500) -> float:
    """Share of ``x`` (N, C, H, W) classified as ``y`` (N,), in eval mode."""
    correct = 0
    with eval_mode(model):
        for i in range(0, len(x), batch):
            out = model(x[i:i + batch])
            out = out[0] if isinstance(out, tuple) else out
            correct += int((out.argmax(-1) == y[i:i + batch]).sum())
    return correct / max(1, len(x))


def probe(models: dict[str, nn.Module], x: torch.Tensor, y: torch.Tensor, patch: int,
          seed: int) -> dict[str, float]:
    """Inductive-bias probe: ``test_acc``-style accuracy of each model on clean, shifted
    (:data:`SHIFT_PX`) and patch-shuffled test images: ``{f"{kind}_acc_{model}": ...}``."""
    gen = torch.Generator().manual_seed(seed)
    sets = {"shift": shift_images(x.cpu(), SHIFT_PX, gen).to(x.device),
            "shuffle": shuffle_patches(x.cpu(), patch, gen).to(x.device)}
    return {f"{kind}_acc_{name}": accuracy(m, xs, y)
            for kind, xs in sets.items() for name, m in models.items()}


# ------------------------------------------------------------------------------ training


def load_split(cfg: VitConfig, device: torch.device) -> tuple[torch.Tensor, ...]:
    """``(x_train, y_train, x_test, y_test, n_classes, note)``; the training set is cut to
    ``data_fraction`` (a fixed random subset of the seed, at least one batch)."""
    tr, te = load_images(cfg.dataset, "train"), load_images(cfg.dataset, "test")
    n = max(cfg.batch_size, int(round(len(tr) * cfg.data_fraction)))
    keep = torch.randperm(len(tr), generator=torch.Generator().manual_seed(cfg.seed))[:n]
    return (tr.x[keep].to(device), tr.y[keep].to(device), te.x.to(device), te.y.to(device),
            len(tr.classes), tr.note)


def step_model(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor
               ) -> tuple[torch.Tensor, float]:
    """One Adam step on cross-entropy; returns (loss, seconds it took)."""
    t0 = time.perf_counter()
    out = model(x)
    loss = F.cross_entropy(out[0] if isinstance(out, tuple) else out, y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss.detach(), time.perf_counter() - t0


def _views(vit: ViT, x0: torch.Tensor) -> dict:
    return {**cls_views(vit, x0), "pos_similarity": position_similarity(vit),
            "filters": embedding_filters(vit)}


def train(cfg: VitConfig) -> Iterator[Snapshot]:
    """Train the ViT and its size-matched CNN on the same batches, step for step.

    Metrics: ``loss_vit``, ``loss_cnn`` (training cross-entropy, nats), ``test_acc`` (ViT,
    held-out), ``test_acc_cnn``, ``time_vit`` / ``time_cnn`` (training seconds spent on each
    so far), and from the probe ``shift_acc_vit``, ``shift_acc_cnn``, ``shuffle_acc_vit``,
    ``shuffle_acc_cnn``. Artifacts: ``image`` (C, H, W) test image 0, ``attention``,
    ``rollout``, ``pos_similarity``, ``filters`` (see :func:`cls_views`,
    :func:`position_similarity`, :func:`embedding_filters`; on snapshots where
    :meth:`~core.protocol.Progress.pictures_due`), ``params`` {vit, cnn}, ``note``.
    """
    device = start(cfg)
    xtr, ytr, xte, yte, n_classes, note = load_split(cfg, device)
    vit, conv = build_models(cfg, tuple(xtr.shape[1:]), n_classes)
    models = {"vit": vit.to(device), "cnn": conv.to(device)}
    opts = {k: torch.optim.AdamW(m.parameters(), lr=cfg.lr, weight_decay=0.05)
            for k, m in models.items()}
    gen = torch.Generator().manual_seed(cfg.seed)
    progress = Progress(cfg.steps, copy_every_s=5, eval_share=0.2)
    seconds, evals = {"vit": 0.0, "cnn": 0.0}, {}
    params = {k: n_params(m) for k, m in models.items()}
    for step in range(0, cfg.steps + 1):
        if step > 0:
            idx = torch.randint(0, len(xtr), (cfg.batch_size,), generator=gen).to(device)
            for k in models:  # the same batch for both
                loss, dt = step_model(models[k], opts[k], xtr[idx], ytr[idx])
                seconds[k] += dt
                progress.losses.add(**{f"loss_{k}": loss})
        if progress.due(step):
            if progress.evaluation_due(step):
                with progress.budget.timed():
                    evals = {"test_acc": accuracy(vit, xte, yte),
                             "test_acc_cnn": accuracy(conv, xte, yte),
                             **probe(models, xte[:500], yte[:500], cfg.patch_size, cfg.seed)}
            art = {"params": params, "note": note}
            if progress.pictures_due(step):  # the page redraws once a second
                art |= {**_views(vit, xte[:1]), "image": xte[0].cpu().numpy()}
            metrics = {**progress.losses.pop(), **evals, "time_vit": seconds["vit"],
                       "time_cnn": seconds["cnn"]}
            yield progress.snapshot(step, metrics, art, model=vit)


DEMOS = [Demo("vit", VitConfig, train, title="ViT vs CNN",
              description="A small Vision Transformer and a CNN of equal size on the same data.")]
