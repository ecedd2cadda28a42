"""Training ``/segmentation``: three models on the same images and batches (see the package
docstring), for the ``binary`` task (every object) or the ``prompted`` task (the objects a
prompt names)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields, replace

import numpy as np
import torch
from torch import nn

from core import handoff
from core.blocks.convnet import ConvEncoder
from core.blocks.images import image_grid
from core.protocol import Demo, Progress, RunOptions, Snapshot, eval_mode, param, start
from core.vision.segmentation.data import (
    make_binary_data,
    parse_prompt,
    prompt_masks,
    prompt_text,
    prompted_scenes,
    sample_prompts,
)
from core.vision.segmentation.model import (
    LOSSES,
    PhrasePromptEncoder,
    PromptEncoder,
    SegNet,
    mask_sanity,
    seg_loss,
    seg_metrics,
)

__all__ = ["CLIP_DEMO", "MODEL_NAMES", "MODELS", "N_SHOWN", "SKIPS", "TASKS", "SegConfig",
           "SegData", "clip_prompts", "evaluate", "make_data", "make_models", "preview",
           "prompt_gallery", "segment_prompt", "train", "train_step"]

TASKS = ("binary", "prompted")
SKIPS = ("none", "deepest", "shallowest", "all")
MODELS = ("clip", "scratch", "unet")
MODEL_NAMES = {"clip": "decoder on frozen CLIP encoder", "scratch": "encoder-decoder, no skips",
               "unet": "U-Net"}
CLIP_DEMO = "clip"  # the producer of the frozen encoder (core.handoff.IMAGE_ENCODERS)
DEPTH = 3
N_TRAIN, N_TEST, N_SHOWN, N_GALLERY = 2000, 64, 4, 8


@dataclass(frozen=True)
class SegConfig(RunOptions):
    """Every setting of one segmentation run (all three models share data and batches)."""

    task: str = param("binary", choices=TASKS, label="Task",
                      help="binary: segment every object; prompted: segment only the objects "
                      "a prompt names (a color, a shape, a size), CLIPSeg-style")
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
    n_objects: int = param(4, lo=1, hi=6, label="Objects per image")
    noise: float = param(0.3, lo=0.0, hi=0.5, step=0.05, label="Pixel noise")
    clutter: int = param(8, lo=0, hi=12, label="Clutter strokes",
                         help="thin lines in the objects' colors that are background")
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


def make_models(cfg: SegConfig, clip_payload: dict | None, device: torch.device
                ) -> dict[str, SegNet]:
    """The enabled models by name (see :data:`MODELS`), on ``device``; prompted ones for the
    ``prompted`` task."""
    prompted = cfg.task == "prompted"
    models = {}
    if clip_payload is not None:
        models["clip"] = SegNet(handoff.image_encoder(clip_payload), frozen=True,
                                prompt_encoder=clip_prompts(clip_payload) if prompted else None)
    models["scratch"] = SegNet(ConvEncoder(cfg.width, DEPTH),
                               prompt_encoder=PromptEncoder() if prompted else None)
    models["unet"] = SegNet(ConvEncoder(cfg.width, DEPTH), cfg.skip_stages,
                            prompt_encoder=PromptEncoder() if prompted else None)
    return {k: m.to(device) for k, m in models.items()}


def clip_prompts(clip_payload: dict) -> PhrasePromptEncoder:
    """The CLIP run's text-tower embeddings of the prompt phrases, as a prompt encoder.

    Raises:
        ValueError: for a CLIP run trained on digit strips (its words name no colors or
            shapes).
    """
    table = handoff.phrase_embeddings(clip_payload)
    if table is None and clip_payload.get("data") == "digits":
        raise ValueError("the CLIP run was trained on digit strips, so its text encoder knows "
                         "no colors or shapes: pick a CLIP run on scenes for the prompted task")
    if table is None:
        raise ValueError("this CLIP export holds no text embeddings (it was written by an "
                         "older version): train the CLIP run again for the prompted task")
    return PhrasePromptEncoder(table)


# ----------------------------------------------------------------------------------- data


@dataclass
class SegData:
    """One run's scenes. ``x_*``: images (N, 3, S, S). Binary task: ``y_train`` masks
    (N, 1, S, S), ``attrs_train`` and ``prompts_test`` None. Prompted task: ``y_train`` the
    object on top per pixel (N, S, S), ``attrs_train`` (N, K, 3) object attributes (kept on the
    CPU), ``prompts_test`` (n_test, 3). ``y_test``: the test targets (n_test, 1, S, S);
    ``all_test``: the masks of every test object."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    all_test: torch.Tensor
    attrs_train: torch.Tensor | None = None
    prompts_test: torch.Tensor | None = None

    def to(self, device: torch.device) -> SegData:
        moved = {f.name: getattr(self, f.name) for f in fields(self)}
        return SegData(**{k: v if v is None or k == "attrs_train" else v.to(device)
                          for k, v in moved.items()})

    def batch(self, batch_size: int, gen: torch.Generator
              ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """A random batch ``(images, targets, prompts or None)``, drawn from ``gen``."""
        idx = torch.randint(len(self.x_train), (batch_size,), generator=gen)
        on = idx.to(self.x_train.device)
        if self.attrs_train is None:
            return self.x_train[on], self.y_train[on], None
        attrs = self.attrs_train[idx]
        prompts = sample_prompts(attrs, gen).to(on.device)
        return self.x_train[on], prompt_masks(self.y_train[on], attrs.to(on.device),
                                              prompts), prompts


def make_data(cfg: SegConfig, n_train: int = N_TRAIN, n_test: int = N_TEST) -> SegData:
    """The run's scenes (CPU): test scenes use seed ``seed + 10_000``, test prompts are drawn
    with seed ``seed + 20_000``."""
    kw = {"size": cfg.image_size, "n_objects": cfg.n_objects, "noise": cfg.noise,
          "clutter": cfg.clutter}
    if cfg.task == "binary":
        xtr, ytr, xte, yte = make_binary_data(**kw, seed=cfg.seed, n_train=n_train,
                                              n_test=n_test)
        return SegData(xtr, ytr, xte, yte, yte)
    xtr, idtr, atr = prompted_scenes(n_train, seed=cfg.seed, **kw)
    xte, idte, ate = prompted_scenes(n_test, seed=cfg.seed + 10_000, **kw)
    pte = sample_prompts(ate, torch.Generator().manual_seed(cfg.seed + 20_000))
    return SegData(xtr, idtr, xte, prompt_masks(idte, ate, pte), (idte >= 0)[:, None].float(),
                   atr, pte)


# ----------------------------------------------------------------------------- training


def train_step(model: SegNet, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
               kind: str, prompts: torch.Tensor | None = None) -> torch.Tensor:
    """One Adam step on one model; returns the detached loss."""
    loss = seg_loss(model(x, prompts), y, kind)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.detach()


def evaluate(models: dict[str, SegNet], x: torch.Tensor, y: torch.Tensor,
             prompts: torch.Tensor | None = None
             ) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Metrics ``{model}_{metric}`` on the test set and each model's probability maps of the
    first :data:`N_SHOWN` test scenes as a uint8 strip."""
    metrics, shown = {}, {}
    with eval_mode(*models.values()):
        for name, m in models.items():
            logits = m(x, prompts)
            metrics.update({f"{name}_{k}": v for k, v in seg_metrics(logits > 0, y).items()})
            shown[name] = image_grid(logits[:N_SHOWN].sigmoid().cpu(), ncol=N_SHOWN, pad=2)
    return metrics, shown


def first_artifacts(data: SegData) -> dict:
    """What every snapshot shows before the models: the mask sanity line, the test inputs and
    targets, and (prompted task) the test prompts."""
    sane = data.y_train if data.attrs_train is None else data.y_test
    art = {"sanity": mask_sanity(sane), "shown": {
        "input": image_grid(data.x_test[:N_SHOWN].cpu(), ncol=N_SHOWN, pad=2),
        "truth": image_grid(data.y_test[:N_SHOWN].cpu(), ncol=N_SHOWN, pad=2)}}
    if data.prompts_test is not None:
        art["prompts"] = [prompt_text(p) for p in data.prompts_test[:N_SHOWN].cpu()]
    return art


def baselines(data: SegData) -> dict[str, float]:
    """``baseline_pixel_acc`` (predict all background) and, prompted, ``all_objects_iou``
    (ignore the prompt and mark every object)."""
    base = {"baseline_pixel_acc": 1.0 - float(data.y_test.mean())}
    if data.prompts_test is not None:
        base["all_objects_iou"] = seg_metrics(data.all_test > 0, data.y_test)["iou"]
    return base


def train(cfg: SegConfig) -> Iterator[Snapshot]:
    """Train the three models side by side on the same batches (and prompts).

    Steps are optimization steps (one per model). Metrics: ``{model}_loss`` (mean of the last
    32 steps) and, when evaluated, ``{model}_iou``, ``_miou``, ``_dice``, ``_pixel_acc``,
    ``_boundary_acc`` on the held-out scenes, ``baseline_pixel_acc``, ``test_acc`` (the U-Net's
    pixel accuracy) and, prompted, ``all_objects_iou``. Artifacts: see :func:`first_artifacts`,
    plus one strip per model in ``shown``. ``model``: a ModuleDict of the models. When
    ``clip_decoder`` is on and the CLIP run is not finished yet, it is trained first (heartbeat
    snapshots).

    Raises:
        ValueError: for an unusable device or CLIP run (a plain sentence).
    """
    device = start(cfg)
    yield Snapshot(0, 0.0, {}, total_steps=cfg.steps, phase="drawing the scenes")
    payload = None
    if cfg.clip_decoder:  # a CLIP run not finished yet trains first, yielding heartbeats
        payload = yield from handoff.obtain_steps(handoff.IMAGE_ENCODERS, CLIP_DEMO, cfg.clip_run)
        start(cfg)  # again: training CLIP moved the global RNGs
    data = make_data(cfg).to(device)
    models = make_models(cfg, payload, device)
    opts = {k: torch.optim.Adam([p for p in m.parameters() if p.requires_grad], lr=cfg.lr)
            for k, m in models.items()}
    gen = torch.Generator().manual_seed(cfg.seed)
    art, base = first_artifacts(data), baselines(data)
    progress = Progress(cfg.steps, copy_every_s=0 if cfg.task == "binary" else 5.0,
                        eval_share=0.2)
    evals: dict[str, float] = {}
    for step in range(1, cfg.steps + 1):
        x, y, prompts = data.batch(cfg.batch_size, gen)
        for name, m in models.items():
            loss = train_step(m, opts[name], x, y, cfg.loss, prompts)
            progress.losses.add(**{f"{name}_loss": loss})
        if progress.due(step):
            metrics = progress.losses.pop()
            if progress.evaluation_due(step):
                with progress.budget.timed():
                    evals, shown = evaluate(models, data.x_test, data.y_test, data.prompts_test)
                    evals["test_acc"] = evals["unet_pixel_acc"]
                art = {**art, "shown": {**art["shown"], **shown}}
            yield progress.snapshot(step, {**metrics, **evals, **base}, art,
                                    model=nn.ModuleDict(models))


# ------------------------------------------------------------------------ typed prompts


def prompt_gallery(cfg: SegConfig, n: int = N_GALLERY) -> torch.Tensor:
    """The first ``n`` held-out scenes of the prompted task with ``cfg``'s settings: images
    (n, 3, S, S) for typed prompts."""
    return prompted_scenes(n, cfg.image_size, cfg.n_objects, cfg.noise, cfg.clutter,
                           seed=cfg.seed + 10_000)[0]


@torch.no_grad()
def segment_prompt(models: nn.ModuleDict | dict[str, SegNet], images: torch.Tensor,
                   text: str) -> dict[str, np.ndarray]:
    """Each prompted model's probability map of what the typed ``text`` names, for ``images``
    (n, 3, S, S): ``{model: uint8 strip of n maps}``.

    Raises:
        UnknownWords: for words outside the prompt vocabulary (listing the known ones).
        ValueError: for a prompt that names no color and no shape, or two of one kind.
    """
    prompts = torch.tensor([parse_prompt(text)]).expand(len(images), 3)
    with eval_mode(*models.values()):
        return {name: image_grid(m(images, prompts).sigmoid(), ncol=len(images), pad=2)
                for name, m in models.items()}


def preview(cfg: SegConfig, n_scenes: int = 64, seed: int = 123) -> dict:
    """Scenes of ``cfg``'s task before any run (seed ``seed``): ``input`` and ``truth`` uint8
    strips of :data:`N_SHOWN` scenes, ``sanity`` (:func:`mask_sanity` of ``n_scenes`` scenes)
    and, prompted, their ``prompts``."""
    data = make_data(replace(cfg, seed=seed, clip_decoder=False), n_train=1, n_test=n_scenes)
    art = first_artifacts(data)
    return {**art["shown"], "sanity": mask_sanity(data.y_test), "prompts": art.get("prompts")}


DEMOS = [
    Demo("segmentation", SegConfig, train, title="Segmentation: CLIP decoder vs U-Net",
              description="A decoder on frozen CLIP features, the same network from scratch, "
                          "and a U-Net with skip toggles segment shapes live, or only the "
                          "shapes a typed prompt names."),
]
