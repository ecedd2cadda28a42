"""CLIP's trainer: AdamW with a warm-up and cosine schedule on the symmetric InfoNCE, live
zero-shot evaluation, and the hand-over of the image encoder to the segmentation page."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from core import handoff
from core.blocks.images import image_grid
from core.data.digit_strips import DIGIT_SIDE
from core.data.scenes import attribute_phrases
from core.protocol import Demo, Progress, RunOptions, Snapshot, eval_mode, param, start
from core.representation.clip.data import (
    DATASETS,
    DIGIT_PROMPTS,
    IMAGE_SIZE,
    PROMPTS,
    VOCABS,
    ClipData,
    load_data,
    sample_batch,
    tokenize,
)
from core.representation.clip.model import LOSSES, MAX_SCALE, Clip, clip_loss
from core.representation.clip.zeroshot import (
    SIM_IDX,
    SIM_IDX_STRIPS,
    eval_artifacts,
    strip_metrics,
    zero_shot_metrics,
)

__all__ = ["LR_SCHEDULES", "ClipConfig", "encoder_payload", "lr_factor", "make_optimizer",
           "phrase_embeddings", "train", "train_step"]

LR_SCHEDULES = ("cosine", "constant")


@dataclass(frozen=True)
class ClipConfig(RunOptions):
    """Every setting of one CLIP run."""

    data: str = param("scenes", choices=DATASETS, label="Data",
                      help="scenes: one coloured shape, captions like 'a big red circle on the "
                      "left'; digits: strips of one to three real MNIST digits, captions like "
                      "'three zero seven'")
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
    lr: float = param(3e-3, lo=1e-5, hi=1e-1, log=True, label="Learning rate",
                      help="the peak rate, reached at the end of the warm-up")
    warmup: int = param(30, lo=0, hi=5000, label="Warm-up steps",
                        help="linear learning-rate warm-up from 0 (at most a fifth of the steps)")
    lr_schedule: str = param("cosine", choices=LR_SCHEDULES, label="LR schedule",
                             help="after warm-up: cosine decay to 0 at the last step (the "
                             "paper), or constant")
    steps: int = param(200, lo=10, hi=20_000, step=10, label="Training steps")


def lr_factor(step: int, cfg: ClipConfig) -> float:
    """The learning rate at ``step`` (0-based, the step about to be taken) as a share of
    ``cfg.lr``: a linear warm-up over ``cfg.warmup`` steps (at most a fifth of the run), then
    a cosine decay to 0 at the last step or a constant rate (the paper warms up and decays
    with a cosine)."""
    warmup = min(cfg.warmup, cfg.steps // 5)
    if step < warmup:
        return (step + 1) / warmup
    if cfg.lr_schedule == "constant":
        return 1.0
    done = (step - warmup) / max(1, cfg.steps - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, done)))


def make_optimizer(model: Clip, cfg: ClipConfig
                   ) -> tuple[torch.optim.AdamW, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW (weight decay ``0.1 * lr``) over the trainable parameters and its schedule."""
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.lr,
                            weight_decay=0.1 * cfg.lr)
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, cfg))


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


def phrase_embeddings(model: Clip) -> torch.Tensor:
    """The text encoder's unit embeddings of :func:`core.data.scenes.attribute_phrases`
    (``a red``, ``a big circle``, ...): (n_phrases, proj_dim) float32 on the CPU. What a
    decoder conditioned on CLIP's text (CLIPSeg) reads for a prompt."""
    tokens = tokenize(attribute_phrases()).to(model.logit_scale.device)
    with eval_mode(model):
        return model.encode_text(tokens).float().cpu()


def encoder_payload(model: Clip, zero_shot_seen: float) -> dict:
    """The :data:`core.handoff.IMAGE_ENCODERS` payload of a trained model (CPU tensors);
    ``data`` says what it was trained on (digit strips are 16 pixels high, grey as RGB). A
    model trained on scenes also hands over its text encoder's ``phrase_embeddings``."""
    enc = model.image_encoder
    payload = {"width": enc.width, "depth": enc.depth,
               "image_size": DIGIT_SIDE if model.data == "digits" else IMAGE_SIZE,
               "zero_shot_seen": float(zero_shot_seen), "data": model.data,
               "state_dict": {k: v.detach().cpu().contiguous().clone()
                              for k, v in enc.state_dict().items()}}
    if model.data == "scenes":
        payload["phrase_embeddings"] = phrase_embeddings(model)
    return payload


def static_artifacts(cfg: ClipConfig, data: ClipData) -> dict:
    """What every snapshot shows unchanged: the similarity matrix's 16 test images as one
    uint8 strip, their captions, the prompts and the data set's name."""
    digits = cfg.data == "digits"
    idx = SIM_IDX_STRIPS if digits else SIM_IDX
    return {"sim_images": image_grid(data.x_test[idx], ncol=8 if digits else 16, pad=1),
            "sim_captions": [VOCABS[cfg.data].decode(t) for t in data.tok_test[idx, -1]],
            "prompts": list(DIGIT_PROMPTS if digits else PROMPTS), "data": cfg.data}


def evaluate(model: Clip, data: ClipData, axes) -> tuple[dict, dict]:
    """Metrics (``test_acc`` = ``zero_shot_seen``) and artifacts of one evaluation."""
    measure = strip_metrics if model.data == "digits" else zero_shot_metrics
    zs, img, txt = measure(model, data)
    return {**zs, "test_acc": zs["zero_shot_seen"]}, eval_artifacts(model, data, img, txt, axes)


def train(cfg: ClipConfig) -> Iterator[Snapshot]:
    """Train CLIP on one-object scenes of the seen compositions, or on digit strips.

    Metrics: ``loss`` (symmetric InfoNCE, nats, mean of the last 32 steps), ``temperature``,
    ``lr``, and when evaluated ``zero_shot_seen`` (= ``test_acc``), ``zero_shot_heldout``,
    ``zero_shot_heldout_only`` (accuracies in [0, 1]; chance 1/20, 1/20, 1/4 for scenes,
    1/1000, 1/1000, 1/100 for strips), ``zero_shot_digit`` (strips only: single digits among
    ten words, chance 1/10), ``mean_cos``, ``mean_cos_text`` (the collapse meters).
    Artifacts: ``similarity`` (16, 16), ``sim_images`` (uint8 grid of those 16 test images),
    ``sim_captions``, ``map_images`` (200 or 100, 2), ``map_labels``, ``map_prompts``
    (20 or 10, 2); on the final snapshot ``clip_image_encoder`` (published through
    :mod:`core.handoff`).
    """
    device = start(cfg)
    yield Snapshot(0, 0.0, {}, total_steps=cfg.steps, phase="drawing the training data")
    gen = torch.Generator().manual_seed(cfg.seed)
    data = load_data(cfg.data, cfg.seed)
    static = static_artifacts(cfg, data)
    data = data.to(device)
    model = Clip(cfg).to(device)
    opt, sched = make_optimizer(model, cfg)
    progress = Progress(cfg.steps, copy_every_s=3.0, eval_share=0.2)
    evals, axes = {}, None
    for step in range(1, cfg.steps + 1):
        images, tokens = sample_batch(data, cfg.batch_size, gen)
        progress.losses.add(**train_step(model, opt, images, tokens, cfg.loss))
        sched.step()
        if progress.due(step):
            metrics = {**progress.losses.pop(), "temperature": float(1.0 / model.scale.detach()),
                       "lr": cfg.lr * lr_factor(step - 1, cfg)}
            if progress.evaluation_due(step) or step == 1:
                with progress.evaluating(model):
                    evals, art = evaluate(model, data, axes)
                    axes = art.pop("axes")
                static.update(art)
            artifacts = dict(static)
            if progress.is_final(step):
                payload = encoder_payload(model, evals["zero_shot_seen"])
                artifacts[handoff.IMAGE_ENCODERS] = payload
                handoff.publish(handoff.IMAGE_ENCODERS, "clip", cfg, payload)
            yield progress.snapshot(step, {**metrics, **evals}, artifacts, model=model)


DEMOS = [
    Demo("clip", ClipConfig, train, title="CLIP",
              description="Contrastive image-text pre-training from scratch; zero-shot "
                          "classification of seen and unseen colour x shape compositions, or "
                          "reading strips of real MNIST digits aloud."),
]
