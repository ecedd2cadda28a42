"""Zero-shot classification and retrieval with a CLIP model, and the live evaluation of a run:
accuracies on seen and held-out compositions (scenes) or sequences (digit strips), the
collapse meters, the similarity matrix and the 2-D map of the shared space."""

from __future__ import annotations

import numpy as np
import torch

from core.blocks.projection import pca_2d
from core.data.scenes import COMBOS
from core.representation.clip.data import (
    DIGIT_PROMPTS,
    HELD_OUT,
    HELD_OUT_STRIPS,
    N_STRIP_TEST,
    PER_COMBO_TEST,
    PER_DIGIT_TEST,
    PROMPTS,
    STRIP_CAPTIONS,
    ClipData,
    tokenize,
)
from core.representation.clip.model import Clip, mean_cosine

__all__ = ["SIM_IDX", "eval_artifacts", "retrieve", "strip_metrics", "zero_shot_metrics",
           "zero_shot_probs"]


@torch.no_grad()
def zero_shot_probs(model: Clip, images: torch.Tensor, prompts: list[str]) -> np.ndarray:
    """Softmax over ``prompts`` of ``scale * cos(image, prompt)``: (n_images, n_prompts)."""
    txt = model.encode_text(tokenize(prompts, model.vocab))
    logits = model.scale * model.encode_image(images) @ txt.T
    return logits.softmax(-1).numpy()


@torch.no_grad()
def retrieve(model: Clip, images: torch.Tensor, query: str, k: int = 8
             ) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` images most similar to one query: ``(indices (k,), cosines (k,))``."""
    sims = (model.encode_image(images) @ model.encode_text(tokenize([query], model.vocab)).T)[:, 0]
    top = sims.topk(min(k, len(sims)))
    return top.indices.numpy(), top.values.numpy()


def _accuracy(pred: torch.Tensor, truth: torch.Tensor) -> float:
    return float((pred == truth).float().mean())


def zero_shot_metrics(model: Clip, data: ClipData) -> tuple[dict[str, float], torch.Tensor,
                                                            torch.Tensor]:
    """Scenes: zero-shot accuracy on seen and held-out compositions (prompts for all 20, and
    held-out images among the held-out prompts only) and the collapse meters; also returns
    the test image embeddings and the prompt embeddings."""
    img = model.encode_image(data.x_test)
    txt = model.encode_text(tokenize(list(PROMPTS)).to(img.device))
    pred = (img @ txt.T).argmax(1)
    held = torch.tensor([COMBOS.index(c) for c in HELD_OUT], device=img.device)
    is_held = torch.isin(data.y_test, held)
    only = held[(img[is_held] @ txt[held].T).argmax(1)]
    caps = model.encode_text(data.tok_test[:, -1])
    return ({"zero_shot_seen": _accuracy(pred[~is_held], data.y_test[~is_held]),
             "zero_shot_heldout": _accuracy(pred[is_held], data.y_test[is_held]),
             "zero_shot_heldout_only": _accuracy(only, data.y_test[is_held]),
             "mean_cos": mean_cosine(img), "mean_cos_text": mean_cosine(caps)}, img, txt)


def strip_metrics(model: Clip, data: ClipData) -> tuple[dict[str, float], torch.Tensor,
                                                        torch.Tensor]:
    """Digit strips: zero-shot reading of 3-digit test strips among all 1,000 spoken
    3-digit captions (seen and held-out sequences; chance 0.1%), of held-out ones among the
    100 held-out captions only (chance 1%), and of single digits among ``zero`` ... ``nine``
    (``zero_shot_digit``, chance 10%); the collapse meters. Also returns the single digits'
    image embeddings and the ten digit prompts' embeddings."""
    dev = data.x_test.device
    img = model.encode_image(data.x_test)
    caps = model.encode_text(tokenize(list(STRIP_CAPTIONS), model.vocab).to(dev))
    pred = (img @ caps.T).argmax(1)
    held = torch.tensor([100 * a + 10 * b + c for a, b, c in HELD_OUT_STRIPS], device=dev)
    is_held = torch.arange(len(img), device=dev) >= N_STRIP_TEST
    only = held[(img[is_held] @ caps[held].T).argmax(1)]
    single = model.encode_image(data.x_digit)
    words = model.encode_text(tokenize(list(DIGIT_PROMPTS), model.vocab).to(dev))
    return ({"zero_shot_seen": _accuracy(pred[~is_held], data.y_test[~is_held]),
             "zero_shot_heldout": _accuracy(pred[is_held], data.y_test[is_held]),
             "zero_shot_heldout_only": _accuracy(only, data.y_test[is_held]),
             "zero_shot_digit": _accuracy((single @ words.T).argmax(1), data.y_digit),
             "mean_cos": mean_cosine(img), "mean_cos_text": mean_cosine(caps[data.y_test])},
            single, words)


SIM_IDX = [COMBOS.index(c) * PER_COMBO_TEST for c in COMBOS[::5] + COMBOS[1::5]
           + COMBOS[2::5] + COMBOS[3::5]][:16]  # 16 test scenes of different compositions
SIM_IDX_STRIPS = list(range(0, 2 * N_STRIP_TEST, 2 * N_STRIP_TEST // 16))  # 8 seen, 8 held out


def eval_artifacts(model: Clip, data: ClipData, img: torch.Tensor, txt: torch.Tensor,
                   axes: np.ndarray | None) -> dict:
    """The similarity matrix of 16 fixed test pairs and the 2-D PCA map of test image
    embeddings with the prompts' embeddings: for scenes 10 images per composition and the 20
    prompts, for strips the single digits and the ten digit words (``img``, ``txt`` as
    returned by :func:`zero_shot_metrics` / :func:`strip_metrics`)."""
    digits = model.data == "digits"
    idx = torch.tensor(SIM_IDX_STRIPS if digits else SIM_IDX, device=img.device)
    pair_img = model.encode_image(data.x_test[idx]) if digits else img[idx]
    sim = (pair_img @ model.encode_text(data.tok_test[idx, -1]).T).cpu().numpy()
    if digits:
        keep = torch.cat([torch.arange(k * PER_DIGIT_TEST, k * PER_DIGIT_TEST + 10)
                          for k in range(10)]).to(img.device)
        labels = data.y_digit
    else:
        keep = torch.cat([torch.arange(k * PER_COMBO_TEST, k * PER_COMBO_TEST + 10)
                          for k in range(len(COMBOS))]).to(img.device)
        labels = data.y_test
    (pts, stars), axes = pca_2d(img[keep].cpu().numpy(), txt.cpu().numpy(), ref_axes=axes)
    return {"similarity": sim, "map_images": pts.astype(np.float32),
            "map_labels": labels[keep].cpu().numpy(), "map_prompts": stars.astype(np.float32),
            "axes": axes}
