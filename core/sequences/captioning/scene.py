"""Your own scene: compose two shapes and caption the picture with every trained decoder of
a ``shapes`` run (the page's model calls: :func:`vocabulary`, :func:`caption_scene`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from core.data.captions import Vocab, compose_scene, scene_caption
from core.protocol import eval_mode
from core.sequences.captioning.decoding import decode

if TYPE_CHECKING:
    from core.sequences.captioning.train import CaptioningConfig

__all__ = ["SCENE_MAX_WORDS", "SceneCaptions", "caption_scene", "vocabulary"]

SCENE_MAX_WORDS = 14  # decoding limit for a composed scene


def vocabulary(itos: list[str]) -> Vocab:
    """The :class:`Vocab` of a run, from its words by id (the ``vocab`` artifact)."""
    vocab = Vocab([w for w in itos if not w.startswith("<")])
    if vocab.itos != list(itos):
        raise ValueError("these words are not a captioning vocabulary (special tokens first, "
                         "then the words in sorted order)")
    return vocab


@dataclass
class SceneCaptions:
    """A composed scene and what each trained decoder says about it."""

    image: np.ndarray  # (3, 32, 32) float in [0, 1]
    truth: str  # the caption the shapes grammar gives it
    captions: dict[str, str]  # {decoder: generated caption}


def caption_scene(models: nn.ModuleDict, cfg: CaptioningConfig, itos: list[str],
                  first: tuple[str, str, str], second: tuple[str, str, str],
                  relation: str) -> SceneCaptions:
    """Draw two objects ``(size, color, shape)`` at fixed places (``first`` left of or above
    ``second``) and caption the scene with every trained captioner of a ``shapes`` run
    (``cfg.decoding``, ``cfg.beam_size``); ``itos`` is the run's ``vocab`` artifact.

    Raises:
        ValueError: for an unknown relation, size, color or shape, or a run not on shapes.
    """
    if cfg.dataset != "shapes":
        raise ValueError("only runs on the shapes scenes can caption a composed scene")
    vocab = vocabulary(itos)
    image = compose_scene(first, second, relation)
    x = torch.from_numpy(image)[None]
    captions = {}
    for k, model in models.items():
        with eval_mode(model):
            toks = decode(model, x, SCENE_MAX_WORDS, cfg.decoding, cfg.beam_size)
        captions[k] = vocab.decode(toks[0])
    return SceneCaptions(image, scene_caption(first, second, relation, cfg.style), captions)

