"""What ``/cnn`` shows of a trained network: held-out accuracy and loss, the per-class report,
the most confidently wrong images, the first layer's filters, feature maps, and Grad-CAM and
saliency (Selvaraju et al. 2017; Simonyan, Vedaldi & Zisserman 2014)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from core.blocks.images import image_grid, to_uint8_image
from core.protocol import eval_mode
from core.vision.cnn.model import CNN

__all__ = ["MAX_MAPS", "N_WRONG", "accuracy_and_loss", "attributions", "class_report",
           "confidently_wrong", "feature_map_grids", "filters_image", "heat_overlay",
           "predict_logits"]

MAX_MAPS = 16  # feature maps drawn per layer
N_WRONG = 8  # most confidently wrong test images kept


def predict_logits(model: nn.Module, x: torch.Tensor, chunk: int = 500) -> torch.Tensor:
    """Logits (N, K) of ``model`` in eval mode, ``chunk`` images at a time."""
    with eval_mode(model):
        return torch.cat([model(x[i:i + chunk]) for i in range(0, len(x), chunk)])


def accuracy_and_loss(logits: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(accuracy in [0, 1], mean cross-entropy in nats)."""
    return (float((logits.argmax(1) == y).float().mean()),
            float(nn.functional.cross_entropy(logits, y)))


def class_report(logits: torch.Tensor, y: torch.Tensor, n_classes: int) -> dict[str, np.ndarray]:
    """Per-class precision, recall and F1 (torchmetrics, ``average=None``) and the confusion
    matrix (rows: true class, columns: predicted), each a NumPy array; ``support`` (K,) counts
    the test images of each class."""
    from torchmetrics.functional.classification import (
        multiclass_confusion_matrix,
        multiclass_f1_score,
        multiclass_precision,
        multiclass_recall,
    )

    pred = logits.argmax(1).cpu()
    y = y.cpu()
    kw = {"num_classes": n_classes, "average": None, "zero_division": 0}
    return {"precision": multiclass_precision(pred, y, **kw).numpy(),
            "recall": multiclass_recall(pred, y, **kw).numpy(),
            "f1": multiclass_f1_score(pred, y, **kw).numpy(),
            "confusion": multiclass_confusion_matrix(pred, y, n_classes).numpy(),
            "support": torch.bincount(y, minlength=n_classes).numpy()}


def confidently_wrong(logits: torch.Tensor, x: torch.Tensor, y: torch.Tensor,
                      n: int = N_WRONG) -> list[dict]:
    """The ``n`` misclassified images with the highest predicted probability: ``{"index",
    "image" (uint8 HxW or HxWx3), "label", "top3": [(class, probability), ...]}``."""
    p = logits.softmax(1).cpu()
    conf, pred = p.max(1)
    wrong = (pred != y.cpu()).nonzero().flatten()
    order = wrong[conf[wrong].argsort(descending=True)][:n]
    out = []
    for i in order.tolist():
        top = p[i].topk(min(3, p.shape[1]))
        out.append({"index": i, "image": to_uint8_image(x[i]), "label": int(y[i]),
                    "top3": [(int(c), float(v)) for v, c in zip(top.values, top.indices)]})
    return out


def _normalise(a: torch.Tensor) -> torch.Tensor:
    lo, hi = a.min(), a.max()
    return (a - lo) / (hi - lo) if hi > lo else torch.zeros_like(a)


def filters_image(cnn: CNN) -> np.ndarray:
    """The first layer's kernels as one uint8 grid (grey 0.5 = weight 0; each kernel scaled by
    its largest |w|; RGB for 3 input channels, else the first input channel)."""
    w = cnn.blocks[0].conv.weight.detach().cpu()  # (C1, C_in, k, k)
    w = w if w.shape[1] == 3 else w[:, :1]
    m = w.abs().amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-8)
    return image_grid(0.5 + 0.5 * w / m, ncol=8, pad=1)


def feature_map_grids(cnn: CNN, x: torch.Tensor) -> list[list[np.ndarray]]:
    """For each image of ``x`` (N, C, H, W): one uint8 grid per block of its first
    :data:`MAX_MAPS` feature maps, scaled to the block's range for that image."""
    with eval_mode(cnn):
        maps = cnn.feature_maps(x)
    out = []
    for i in range(len(x)):
        grids = []
        for m in maps:
            a = _normalise(m[i, :MAX_MAPS].float())
            grids.append(image_grid(a[:, None], ncol=8, pad=1))
        out.append(grids)
    return out


def attributions(cnn: CNN, x: torch.Tensor) -> dict[str, np.ndarray]:
    """Grad-CAM on the last conv layer and vanilla-gradient saliency (captum) for the images
    ``x`` (N, C, H, W), for the class the model predicts: ``gradcam`` and ``saliency`` (N, H, W)
    float32 in [0, 1] (each image scaled to its maximum), ``pred`` (N,)."""
    from captum.attr import LayerAttribution, LayerGradCam, Saliency

    with eval_mode(cnn, no_grad=False):
        pred = cnn(x).argmax(1)
        cam = LayerGradCam(cnn, cnn.blocks[-1].conv).attribute(x, target=pred,
                                                                relu_attributions=True)
        cam = LayerAttribution.interpolate(cam, tuple(x.shape[2:]), "bilinear")[:, 0]
        sal = Saliency(cnn).attribute(x.clone().requires_grad_(True), target=pred, abs=True)
    sal = sal.amax(1)
    cam = cam / cam.flatten(1).amax(1).clamp_min(1e-12)[:, None, None]
    sal = sal / sal.flatten(1).amax(1).clamp_min(1e-12)[:, None, None]
    return {"gradcam": cam.detach().cpu().numpy().astype(np.float32),
            "saliency": sal.detach().cpu().numpy().astype(np.float32),
            "pred": pred.cpu().numpy()}


_HOT = np.array([[0, 0, 0], [180, 0, 0], [255, 140, 0], [255, 255, 120]], dtype=np.float32)


def heat_overlay(image: np.ndarray | torch.Tensor, heat: np.ndarray, alpha: float = 0.6
                 ) -> np.ndarray:
    """Blend a heat map (H, W) in [0, 1] (black-red-yellow) over an image ((C, H, W) tensor or
    uint8 array); returns (H, W, 3) uint8."""
    img = to_uint8_image(image) if isinstance(image, torch.Tensor) else np.asarray(image)
    img = np.repeat(img[..., None], 3, 2) if img.ndim == 2 else img
    t = np.clip(np.nan_to_num(heat), 0, 1) * (len(_HOT) - 1)
    lo = np.floor(t).astype(int).clip(0, len(_HOT) - 2)
    rgb = _HOT[lo] + (_HOT[lo + 1] - _HOT[lo]) * (t - lo)[..., None]
    return ((1 - alpha) * img + alpha * rgb).clip(0, 255).astype(np.uint8)

