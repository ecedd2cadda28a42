"""A tiny CLIP trained from scratch: images and captions meet in one embedding space.

An image encoder (a small CNN, :class:`core.blocks.convnet.ConvEncoder`, global-average pooled) and a
text encoder (a small causal Transformer over caption tokens, the shared pre-LN
:class:`core.blocks.attention.Block`; its output at the ``<eos>`` token, as in CLIP) are each
followed by a linear projection to a shared space of ``proj_dim`` dimensions; both embeddings
are L2-normalised. A batch of ``B`` (image, caption) pairs gives the ``B x B`` cosine-similarity
matrix; scaled by a learnable ``exp(t) = 1 / temperature`` it is read as logits, row-wise
(image -> which caption) and column-wise (caption -> which image), and the loss is the mean of
the two cross-entropies (symmetric InfoNCE). Following the paper's pseudocode (Radford et al.,
"Learning Transferable Visual Models From Natural Language Supervision", ICML 2021, Fig. 3)::

    I_e = l2_normalize(image_encoder(I) @ W_i);  T_e = l2_normalize(text_encoder(T) @ W_t)
    logits = I_e @ T_e.T * exp(t)
    loss = (cross_entropy(logits, labels, axis=0) + cross_entropy(logits, labels, axis=1)) / 2

Three target choices (``loss``):

* ``identity`` — the paper: pair ``i`` is the only positive of row and column ``i``.
* ``soft`` — the targets of the popular "OpenAI CLIP simple implementation" tutorial
  (M. Shariatnia, 2021): ``softmax((I_e I_e^T + T_e T_e^T) / 2 * exp(t))`` computed from the
  model's own embeddings, gradients included.
* ``multi_positive`` — pairs whose captions are identical are all positives (targets spread
  evenly over them), so a caption repeated in a batch is not pushed away from its own kind.

Data (:func:`core.data.scenes.object_scenes`): 32x32 scenes of one coloured shape with captions
such as ``a big red circle on the left``. Four colour x shape compositions (:data:`HELD_OUT`)
never appear in training. Zero-shot classification embeds one prompt per composition
(``a red circle``) and picks the most similar for each test image.

Shapes: images (B, 3, 32, 32) in [0, 1]; tokens (B, MAX_WORDS + 2) int64 (``<bos> words <eos>
<pad>...``); embeddings (B, proj_dim), unit norm; logits (B, B).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from core import handoff
from core.blocks.attention import Block
from core.blocks.convnet import ConvEncoder
from core.blocks.images import image_grid
from core.blocks.projection import pca_2d
from core.data.captions import COLORS, SHAPES, SIZES, Vocab
from core.data.scenes import COMBOS, SIDES, composition_name, object_captions, object_scenes
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

LOSSES = ("identity", "soft", "multi_positive")
HELD_OUT = (("red", "triangle"), ("green", "cross"), ("blue", "circle"), ("yellow", "square"))
SEEN = tuple(c for c in COMBOS if c not in HELD_OUT)
MAX_WORDS = 8  # words per caption or prompt
IMAGE_SIZE = 32
DEPTH = 3  # CNN stages
N_TRAIN = 4000  # training scenes in the pool
PER_COMBO_TEST = 20  # held-out test scenes per composition
MAX_SCALE = 100.0  # the paper clips exp(t) at 100
VOCAB = Vocab([w for col in COLORS for shp in SHAPES for size in SIZES for side in SIDES
               for cap in object_captions(size, col, shp, side) for w in cap.split()])
PROMPTS = tuple(f"a {composition_name(c)}" for c in COMBOS)  # one zero-shot prompt per class


@dataclass(frozen=True)
class ClipConfig(RunOptions):
    """Every setting of one CLIP run."""

    proj_dim: int = param(32, choices=(4, 8, 16, 32, 64, 128), label="Embedding size",
                          help="dimensions of the shared image-text space")
    width: int = param(16, choices=(8, 16, 32), label="Image encoder width",
                       help="channels of the CNN's first stage (doubled at each of its 3 "
                       "stages)")
    d_model: int = param(32, choices=(16, 32, 64, 128), label="Text encoder width")
    n_layers: int = param(1, lo=1, hi=4, label="Text encoder layers")
    n_heads: int = param(2, choices=(1, 2, 4), label="Attention heads")
    batch_size: int = param(64, choices=(4, 8, 16, 32, 64, 128, 256), label="Batch size",
                            help="pairs per batch: each pair is contrasted with the other "
                            "B - 1 captions and images")
    temperature: float = param(0.07, lo=0.01, hi=1.0, log=True, label="Temperature (initial)",
                               help="logits are cosine similarities divided by it; the paper "
                               "starts at 0.07")
    learn_temperature: bool = param(True, label="Learn the temperature")
    loss: str = param("identity", choices=LOSSES, label="Targets",
                      help="identity: only pair i matches pair i (the paper); soft: targets "
                      "from the model's own similarities (a popular tutorial); multi_positive: "
                      "identical captions are all positives")
    lr: float = param(1e-3, lo=1e-5, hi=1e-1, log=True, label="Learning rate")
    steps: int = param(300, lo=10, hi=20_000, step=10, label="Training steps")


# ------------------------------------------------------------------------------- model


class TextEncoder(nn.Module):
    """Token + learned position embeddings, ``n_layers`` causal pre-LN blocks, a final
    LayerNorm; the sequence is summarised by the features at its ``<eos>`` token (CLIP).
    tokens (B, L) int64 -> (B, d_model)."""

    def __init__(self, vocab_size: int, d_model: int, n_layers: int, n_heads: int,
                 max_len: int = MAX_WORDS + 2) -> None:
        super().__init__()
        self.tok_emb = nn.Embedding(vocab_size, d_model)
        self.pos_emb = nn.Parameter(torch.randn(max_len, d_model) * 0.01)
        self.blocks = nn.ModuleList(Block(d_model, n_heads) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d_model)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.tok_emb(tokens) + self.pos_emb[: tokens.shape[1]]
        for block in self.blocks:
            x, _ = block(x, causal=True)
        eos = (tokens == Vocab.eos).int().argmax(1)  # (B,)
        return self.ln_f(x[torch.arange(len(x)), eos])


class Clip(nn.Module):
    """Image and text encoders with linear projections (no bias, as ``W_i, W_t``) and the
    log inverse temperature ``t`` (``logit_scale``)."""

    def __init__(self, cfg: ClipConfig) -> None:
        super().__init__()
        self.image_encoder = ConvEncoder(cfg.width, DEPTH)
        self.image_proj = nn.Linear(self.image_encoder.channels[-1], cfg.proj_dim, bias=False)
        self.text_encoder = TextEncoder(len(VOCAB), cfg.d_model, cfg.n_layers, cfg.n_heads)
        self.text_proj = nn.Linear(cfg.d_model, cfg.proj_dim, bias=False)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / cfg.temperature)),
                                        requires_grad=cfg.learn_temperature)

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, 3, H, W) -> unit embeddings (B, proj_dim)."""
        feats = self.image_encoder(images)[-1].mean((2, 3))
        return F.normalize(self.image_proj(feats), dim=-1)

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens (B, L) -> unit embeddings (B, proj_dim)."""
        return F.normalize(self.text_proj(self.text_encoder(tokens)), dim=-1)

    @property
    def scale(self) -> torch.Tensor:
        """``exp(t)``, at most :data:`MAX_SCALE`."""
        return self.logit_scale.exp().clamp(max=MAX_SCALE)


def clip_loss(img: torch.Tensor, txt: torch.Tensor, scale: torch.Tensor, kind: str,
              tokens: torch.Tensor | None = None) -> torch.Tensor:
    """Symmetric InfoNCE of unit embeddings ``img, txt`` (B, D) with logits
    ``scale * img @ txt.T`` (B, B) and the targets of ``kind`` (see the module docstring);
    ``tokens`` (B, L) are needed for ``multi_positive``.

    Raises:
        ValueError: for an unknown kind, or ``multi_positive`` without tokens.
    """
    logits = scale * img @ txt.T
    if kind == "identity":
        labels = torch.arange(len(img), device=img.device)
        return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
    if kind == "soft":
        targets = F.softmax((img @ img.T + txt @ txt.T) / 2 * scale, dim=-1)
    elif kind == "multi_positive":
        if tokens is None:
            raise ValueError("multi_positive targets need the caption tokens")
        same = (tokens[:, None, :] == tokens[None, :, :]).all(-1).float()
        targets = same / same.sum(1, keepdim=True)
    else:
        raise ValueError(f"unknown loss {kind!r}; allowed: {', '.join(LOSSES)}")
    return (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets.T)) / 2


# -------------------------------------------------------------------------------- data


def encode_captions(captions: list[list[str]]) -> torch.Tensor:
    """Each scene's caption variants -> tokens (N, V, MAX_WORDS + 2)."""
    return torch.tensor([[VOCAB.encode(c, MAX_WORDS) for c in caps] for caps in captions],
                        dtype=torch.int64)


@dataclass
class ClipData:
    """Training pool (seen compositions only) and test scenes (every composition)."""

    x_train: torch.Tensor  # (N, 3, 32, 32)
    tok_train: torch.Tensor  # (N, 4, L)
    x_test: torch.Tensor  # (M, 3, 32, 32)
    y_test: torch.Tensor  # (M,) index into COMBOS
    tok_test: torch.Tensor  # (M, 4, L)


def make_data(seed: int, n_train: int = N_TRAIN, per_combo: int = PER_COMBO_TEST) -> ClipData:
    """Training scenes of :data:`SEEN` compositions (seed ``seed``) and ``per_combo`` test
    scenes of each of the 20 compositions (seed ``seed + 10_000``), grouped by composition."""
    x, _, caps = object_scenes(n_train, seed, list(SEEN))
    xs, ys, tcaps = [], [], []
    for k, combo in enumerate(COMBOS):
        xi, _, ci = object_scenes(per_combo, seed + 10_000 + k, [combo])
        xs.append(xi)
        ys += [k] * per_combo
        tcaps += ci
    return ClipData(torch.from_numpy(x), encode_captions(caps), torch.from_numpy(np.concatenate(xs)),
                    torch.tensor(ys), encode_captions(tcaps))


def sample_batch(data: ClipData, batch_size: int, gen: torch.Generator
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """A random batch of training scenes, each with one of its caption variants:
    ``(images (B, 3, 32, 32), tokens (B, L))``."""
    idx = torch.randint(len(data.x_train), (batch_size,), generator=gen).to(data.x_train.device)
    var = torch.randint(data.tok_train.shape[1], (batch_size,), generator=gen).to(idx.device)
    return data.x_train[idx], data.tok_train[idx, var]


# ---------------------------------------------------------------------------- prompts


class UnknownWords(ValueError):
    """Typed text with words outside the page's vocabulary."""


KNOWN_WORDS = tuple(w for w in VOCAB.itos if not w.startswith("<"))


def parse_prompts(text: str, max_prompts: int = 20) -> list[str]:
    """Typed prompts, one per line or comma: lower-cased, punctuation other than commas
    dropped, each checked against the vocabulary. Nothing is evaluated.

    Raises:
        UnknownWords: naming the unknown words and listing the known ones.
        ValueError: for no prompt, too many prompts, or a prompt over MAX_WORDS words.
    """
    prompts = []
    for piece in re.split(r"[,\n;]", str(text)[:2000].lower()):
        words = re.sub(r"[^a-z ]", " ", piece).split()
        if words:
            prompts.append(" ".join(words))
    if not prompts:
        raise ValueError("type at least one description, e.g. a red circle")
    if len(prompts) > max_prompts:
        raise ValueError(f"type at most {max_prompts} descriptions (you typed {len(prompts)})")
    unknown = sorted({w for p in prompts for w in p.split() if w not in VOCAB.stoi})
    if unknown:
        raise UnknownWords(f"the model never saw the word(s) {', '.join(unknown)}; it knows "
                           f"only: {', '.join(KNOWN_WORDS)}")
    long = [p for p in prompts if len(p.split()) > MAX_WORDS]
    if long:
        raise ValueError(f"a description has at most {MAX_WORDS} words ({long[0]!r} has "
                         f"{len(long[0].split())})")
    return prompts


def tokenize(prompts: list[str]) -> torch.Tensor:
    """Prompts (checked by :func:`parse_prompts`) -> tokens (n, MAX_WORDS + 2)."""
    return torch.tensor([VOCAB.encode(p, MAX_WORDS) for p in prompts], dtype=torch.int64)


@torch.no_grad()
def zero_shot_probs(model: Clip, images: torch.Tensor, prompts: list[str]) -> np.ndarray:
    """Softmax over ``prompts`` of ``scale * cos(image, prompt)``: (n_images, n_prompts)."""
    logits = model.scale * model.encode_image(images) @ model.encode_text(tokenize(prompts)).T
    return logits.softmax(-1).numpy()


@torch.no_grad()
def retrieve(model: Clip, images: torch.Tensor, query: str, k: int = 8
             ) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` images most similar to one query: ``(indices (k,), cosines (k,))``."""
    sims = (model.encode_image(images) @ model.encode_text(tokenize([query])).T)[:, 0]
    top = sims.topk(min(k, len(sims)))
    return top.indices.numpy(), top.values.numpy()


def gallery(seed: int = 7, per_combo: int = 2) -> tuple[torch.Tensor, np.ndarray]:
    """Fixed test scenes for typed prompts: ``per_combo`` of every composition,
    ``(images (20 per_combo, 3, 32, 32), combo ids)``."""
    xs, ys = [], []
    for k, combo in enumerate(COMBOS):
        xs.append(object_scenes(per_combo, 50_000 + seed + k, [combo])[0])
        ys += [k] * per_combo
    return torch.from_numpy(np.concatenate(xs)), np.asarray(ys)


# ----------------------------------------------------------------------------- training


def mean_cosine(z: torch.Tensor) -> float:
    """Mean pairwise cosine of unit rows ``z`` (N, D), diagonal excluded: ~0 for spread-out
    embeddings, 1 when they have collapsed to one point (the collapse meter)."""
    n = len(z)
    s = (z @ z.T).sum() - n
    return float(s / (n * (n - 1)))


def zero_shot_metrics(model: Clip, data: ClipData) -> tuple[dict[str, float], torch.Tensor,
                                                            torch.Tensor]:
    """Zero-shot accuracy on seen and held-out compositions (prompts for all 20, and held-out
    images among the held-out prompts only) and the collapse meters; also returns the test
    image embeddings and the prompt embeddings."""
    img = model.encode_image(data.x_test)
    txt = model.encode_text(tokenize(list(PROMPTS)).to(img.device))
    pred = (img @ txt.T).argmax(1)
    held = torch.tensor([COMBOS.index(c) for c in HELD_OUT], device=img.device)
    is_held = torch.isin(data.y_test, held)
    only = held[(img[is_held] @ txt[held].T).argmax(1)]
    caps = model.encode_text(data.tok_test[:, -1])
    return ({"zero_shot_seen": float((pred == data.y_test)[~is_held].float().mean()),
             "zero_shot_heldout": float((pred == data.y_test)[is_held].float().mean()),
             "zero_shot_heldout_only": float((only == data.y_test[is_held]).float().mean()),
             "mean_cos": mean_cosine(img), "mean_cos_text": mean_cosine(caps)}, img, txt)


SIM_IDX = [COMBOS.index(c) * PER_COMBO_TEST for c in COMBOS[::5] + COMBOS[1::5]
           + COMBOS[2::5] + COMBOS[3::5]][:16]  # 16 test scenes of different compositions


def eval_artifacts(model: Clip, data: ClipData, img: torch.Tensor, txt: torch.Tensor,
                   axes: np.ndarray | None) -> dict:
    """The similarity matrix of 16 fixed test pairs and the 2-D PCA map of test image
    embeddings (10 per composition) with the prompts' embeddings."""
    idx = torch.tensor(SIM_IDX, device=img.device)
    sim = (img[idx] @ model.encode_text(data.tok_test[idx, -1]).T).cpu().numpy()
    keep = torch.cat([torch.arange(k * PER_COMBO_TEST, k * PER_COMBO_TEST + 10)
                      for k in range(len(COMBOS))]).to(img.device)
    (pts, stars), axes = pca_2d(img[keep].cpu().numpy(), txt.cpu().numpy(), ref_axes=axes)
    return {"similarity": sim, "map_images": pts.astype(np.float32),
            "map_labels": data.y_test[keep].cpu().numpy(), "map_prompts": stars.astype(np.float32),
            "axes": axes}


def train_step(model: Clip, opt: torch.optim.Optimizer, images: torch.Tensor,
               tokens: torch.Tensor, kind: str) -> dict[str, torch.Tensor]:
    """One AdamW step on the symmetric InfoNCE; ``exp(t)`` is kept at most 100 (the paper)."""
    img, txt = model.encode_image(images), model.encode_text(tokens)
    loss = clip_loss(img, txt, model.scale, kind, tokens)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    with torch.no_grad():
        model.logit_scale.clamp_(max=math.log(MAX_SCALE))
    return {"loss": loss.detach()}


def encoder_payload(model: Clip, zero_shot_seen: float) -> dict:
    """The :data:`core.handoff.IMAGE_ENCODERS` payload of a trained model (CPU tensors)."""
    enc = model.image_encoder
    return {"width": enc.width, "depth": enc.depth, "image_size": IMAGE_SIZE,
            "zero_shot_seen": float(zero_shot_seen),
            "state_dict": {k: v.detach().cpu().clone() for k, v in enc.state_dict().items()}}


def train(cfg: ClipConfig) -> Iterator[Snapshot]:
    """Train CLIP on one-object scenes of the seen compositions.

    Metrics: ``loss`` (symmetric InfoNCE, nats, mean of the last 32 steps), ``temperature``,
    and when evaluated ``zero_shot_seen`` (= ``test_acc``), ``zero_shot_heldout``,
    ``zero_shot_heldout_only`` (accuracies in [0, 1]; chance 1/20, 1/20, 1/4), ``mean_cos``,
    ``mean_cos_text`` (the collapse meters). Artifacts: ``similarity`` (16, 16), ``sim_images``
    (uint8 strip of those 16 scenes), ``sim_captions``, ``map_images`` (200, 2),
    ``map_labels`` (200,), ``map_prompts`` (20, 2); on the final snapshot
    ``clip_image_encoder`` (published through :mod:`core.handoff`).
    """
    device = start(cfg)
    yield Snapshot(0, 0.0, {}, total_steps=cfg.steps, phase="drawing the scenes")
    gen = torch.Generator().manual_seed(cfg.seed)
    data = make_data(cfg.seed)
    static = {"sim_images": image_grid(data.x_test[SIM_IDX], ncol=16, pad=1),
              "sim_captions": [VOCAB.decode(t) for t in data.tok_test[SIM_IDX, -1]],
              "prompts": list(PROMPTS)}
    data = ClipData(*(t.to(device) for t in vars(data).values()))
    model = Clip(cfg).to(device)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr,
                            weight_decay=0.1 * cfg.lr)
    tick, losses, budget, copies = Ticker(total=cfg.steps), RunningMean(), EvalBudget(0.2), \
        CopyCadence(3.0)
    evals, axes = {}, None
    for step in range(1, cfg.steps + 1):
        images, tokens = sample_batch(data, cfg.batch_size, gen)
        losses.add(**train_step(model, opt, images, tokens, cfg.loss))
        if tick(step):
            final = step == cfg.steps
            metrics = {**losses.pop(), "temperature": float(1.0 / model.scale.detach())}
            if budget.due(final) or step == 1:
                with budget.timed(), eval_mode(model):
                    zs, img, txt = zero_shot_metrics(model, data)
                    evals = {**zs, "test_acc": zs["zero_shot_seen"]}
                    art = eval_artifacts(model, data, img, txt, axes)
                    axes = art.pop("axes")
                static.update(art)
            artifacts = dict(static)
            if final:
                payload = encoder_payload(model, evals["zero_shot_seen"])
                artifacts[handoff.IMAGE_ENCODERS] = payload
                handoff.publish(handoff.IMAGE_ENCODERS, "clip", cfg, payload)
            yield Snapshot(step, tick.elapsed, {**metrics, **evals}, artifacts,
                           total_steps=cfg.steps, final=final, model=copies(model, final))


DEMOS = [Demo("clip", ClipConfig, train, title="CLIP",
              description="Contrastive image-text pre-training from scratch; zero-shot "
                          "classification of seen and unseen colour x shape compositions.")]
