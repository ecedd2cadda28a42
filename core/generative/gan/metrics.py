"""The DCGAN's sample quality: classifier-FID against the test images, the share of samples the
classifier is sure of and its class histogram (:mod:`core.blocks.image_metrics`)."""

from __future__ import annotations

import numpy as np
import torch

from core.blocks import image_metrics
from core.data.uploads import UPLOAD_NAME

__all__ = ["SampleQuality", "metrics_note"]


class SampleQuality:
    """Classifier-FID of generated images against ``real`` (``(M, 1, 28, 28)`` sets with a shipped
    classifier: MNIST and Fashion-MNIST; :mod:`core.blocks.image_metrics`), the share of samples
    the classifier is sure of, and its class histogram. ``dataset`` names the classifier (the
    loaded set's name). The real images' features are computed on the first call."""

    def __init__(self, real: torch.Tensor, dataset: str) -> None:
        self.real, self.dataset = real, dataset
        self._feat: torch.Tensor | None = None

    @property
    def available(self) -> bool:
        return (tuple(self.real.shape[1:]) == (1, 28, 28)
                and image_metrics.has_classifier(self.dataset))

    def __call__(self, fake: torch.Tensor) -> tuple[dict[str, float], np.ndarray]:
        """``({"fid", "confident_share"}, class histogram (10,))`` of ``fake``
        ``(N, 1, 28, 28)`` in [0, 1].

        Raises:
            ValueError: when no classifier judges this dataset (check :attr:`available`).
        """
        if self._feat is None:
            self._feat = image_metrics.classifier_features(self.real, self.dataset)
        feat = image_metrics.classifier_features(fake, self.dataset)  # one pass for all three
        out = {"fid": image_metrics.frechet_distance(feat, self._feat)}
        p = image_metrics.probs_from_features(feat, self.dataset)
        out["confident_share"] = float((p.max(1).values > image_metrics.CONFIDENT_P).float().mean())
        return out, np.bincount(p.argmax(1).numpy(), minlength=10) / len(p)


def metrics_note(quality: SampleQuality) -> str | None:
    """One sentence on why FID and the "sure" share are missing for a set, or None."""
    if quality.available:
        return None
    what = "your own images" if quality.dataset == UPLOAD_NAME else f"{quality.dataset} images"
    return (f"FID and the \"sure\" share need a classifier of {what}; only MNIST and "
            "Fashion-MNIST have one here, so they are not shown for this set.")
