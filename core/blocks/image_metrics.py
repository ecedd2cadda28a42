"""Sample-quality metrics for 28x28 grey images, built on small classifiers (LeNet-5): one for
MNIST digits, one for Fashion-MNIST clothes (``dataset=`` on every function; :func:`has_classifier`).

Generative topics (``core.generative.gan``, ``core.generative.vae``) judge their samples with this
network, the way Inception-based FID judges ImageNet samples:

* :func:`classifier_fid` — the Fréchet distance between Gaussians fitted to the classifier's
  penultimate-layer features of generated and of real images (Heusel et al., "GANs Trained by a
  Two Time-Scale Update Rule Converge to a Local Nash Equilibrium", NeurIPS 2017), computed on
  our LeNet instead of Inception-v3: lower is better; two real samples of 1,000-2,000 digits
  differ by about 1 to 8.
* :func:`confident_share` — the share of samples the classifier labels with p > 0.9.
* :func:`class_histogram` — the share of samples per predicted class (mode coverage).
* :func:`probs_from_features` — class probabilities from features already computed (one LeNet
  pass gives both the FID features and the confidence).

The weights ``assets/mnist_lenet.pt`` (a ``state_dict``, ~250 kB, 97.3% accurate on the real
MNIST test set) are trained by ``assets/train_classifier.py`` on the 4,000 bundled MNIST
training digits; LeCun et al.,
"Gradient-based learning applied to document recognition", Proc. IEEE 1998. Its class head is
then fine-tuned with outlier exposure (Hendrycks et al., ICLR 2019) so that noise and untrained
generators' samples get near-uniform predictions: 0% of them are labelled with p > 0.9, against
91% of real test digits.

The Fashion-MNIST network ``assets/fashion_lenet.pt`` (same architecture) is trained by
``assets/train_classifier.py --dataset fashion_mnist`` on the 60,000 real Fashion-MNIST training
images, with the same outlier exposure; its test accuracy and the real-vs-real FID floor are in
``bench/results/fashion_classifier.md``. Other sets (CIFAR-10) have no classifier: callers check
:func:`has_classifier` and say so.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import torch
from torch import nn

__all__ = ["LeNet", "WEIGHTS", "CLASSIFIER_WEIGHTS", "has_classifier", "load_classifier",
           "classifier_features", "classifier_probs",
           "probs_from_features", "frechet_distance", "classifier_fid", "confident_share",
           "class_histogram", "FEATURE_DIM", "CONFIDENT_P"]

ASSETS = Path(__file__).resolve().parents[2] / "assets"
WEIGHTS = ASSETS / "mnist_lenet.pt"
# which shipped network judges which data set (the keys are core.data dataset names)
CLASSIFIER_WEIGHTS = {"mnist": WEIGHTS, "mnist_full": WEIGHTS,
                      "fashion_mnist": ASSETS / "fashion_lenet.pt"}
FEATURE_DIM = 84
CONFIDENT_P = 0.9  # a sample is "confident" when its largest class probability exceeds this


class LeNet(nn.Module):
    """LeNet-5: two 5x5 conv + max-pool stages, then 120 -> 84 -> 10 fully connected.

    Input ``(N, 1, 28, 28)`` in [0, 1]; :meth:`features` gives the 84-d penultimate layer
    ``(N, 84)`` (after ReLU); ``forward`` gives the class logits ``(N, 10)``.
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),   # (N, 6, 14, 14)
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),             # (N, 16, 5, 5)
        )
        self.fc = nn.Sequential(nn.Flatten(), nn.Linear(16 * 5 * 5, 120), nn.ReLU(),
                                nn.Linear(120, FEATURE_DIM), nn.ReLU())
        self.head = nn.Linear(FEATURE_DIM, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer features ``(N, 84)`` of images ``(N, 1, 28, 28)`` in [0, 1]."""
        return self.fc(self.conv(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def has_classifier(dataset: str) -> bool:
    """True when a shipped classifier judges ``dataset`` (its weights file exists)."""
    path = CLASSIFIER_WEIGHTS.get(dataset)
    return path is not None and path.exists()


def _weights(dataset: str) -> Path:
    if dataset not in CLASSIFIER_WEIGHTS:
        raise ValueError(f"no classifier for {dataset!r}; available for: "
                         f"{', '.join(CLASSIFIER_WEIGHTS)}")
    return CLASSIFIER_WEIGHTS[dataset]


@functools.lru_cache(maxsize=8)
def _load(device: str, path: Path) -> LeNet:
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing; run `python assets/train_classifier.py`")
    with torch.random.fork_rng(devices=[]):  # building it must not move a training's RNG
        model = LeNet()
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model.to(device)


def load_classifier(device: str | torch.device = "cpu", dataset: str = "mnist") -> LeNet:
    """The shipped LeNet for ``dataset`` in eval mode on ``device`` (cached; do not train it).

    Raises:
        FileNotFoundError: when its weights file (e.g. ``assets/mnist_lenet.pt``) is missing.
        ValueError: for a dataset without a classifier (see :data:`CLASSIFIER_WEIGHTS`).
    """
    return _load(str(torch.device(device)), _weights(dataset))


def _prepare(images: torch.Tensor) -> torch.Tensor:
    """Check and convert images to float ``(N, 1, 28, 28)`` in [0, 1] on the CPU."""
    if not isinstance(images, torch.Tensor):
        images = torch.as_tensor(np.asarray(images))
    x = images.detach().float().cpu()
    if x.ndim == 3:
        x = x.unsqueeze(1)
    if x.ndim != 4 or x.shape[1:] != (1, 28, 28):
        raise ValueError(f"expected images of shape (N, 1, 28, 28), got {tuple(images.shape)}")
    return x.clamp(0.0, 1.0)


@torch.no_grad()
def _batched(fn, x: torch.Tensor, batch: int = 1000) -> torch.Tensor:
    return torch.cat([fn(x[i:i + batch]) for i in range(0, len(x), batch)]) if len(x) else \
        fn(x)


def classifier_features(images: torch.Tensor, dataset: str = "mnist") -> torch.Tensor:
    """Penultimate-layer LeNet features of images.

    Args:
        images: ``(N, 1, 28, 28)`` (or ``(N, 28, 28)``) in [0, 1]; any device.
        dataset: whose classifier (``"mnist"``, ``"fashion_mnist"``, ...).

    Returns:
        float32 CPU tensor ``(N, 84)``.

    Raises:
        ValueError: for another image shape (e.g. 32x32x3 CIFAR images) or a dataset without
            a classifier.
    """
    model = load_classifier("cpu", dataset)
    return _batched(model.features, _prepare(images))


def classifier_probs(images: torch.Tensor, dataset: str = "mnist") -> torch.Tensor:
    """Class probabilities ``(N, 10)`` of images ``(N, 1, 28, 28)`` in [0, 1]."""
    model = load_classifier("cpu", dataset)
    return _batched(lambda b: model(b).softmax(1), _prepare(images))


@torch.no_grad()
def probs_from_features(features: torch.Tensor, dataset: str = "mnist") -> torch.Tensor:
    """Class probabilities ``(N, 10)`` from :func:`classifier_features` ``(N, 84)`` (the class
    head only, so a caller that needs features and probabilities pays one LeNet pass)."""
    return load_classifier("cpu", dataset).head(features.float().cpu()).softmax(1)


def frechet_distance(feat_a: torch.Tensor, feat_b: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (the FID formula).

    ``d² = |mu_a - mu_b|² + Tr(S_a + S_b - 2 (S_a S_b)^{1/2})`` (Heusel et al. 2017). The
    matrix square root's trace is computed from the eigenvalues of ``S_a^{1/2} S_b S_a^{1/2}``
    (symmetric, so stable in float64).

    Args:
        feat_a: ``(N, D)`` features, N >= 2.
        feat_b: ``(M, D)`` features, M >= 2.

    Returns:
        the squared Fréchet distance (a float >= 0; in feature units squared).

    Raises:
        ValueError: for fewer than 2 rows or different feature sizes.
    """
    a = torch.as_tensor(feat_a).double().cpu()
    b = torch.as_tensor(feat_b).double().cpu()
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sets must be (N, D) and (M, D); got {tuple(a.shape)} and "
                         f"{tuple(b.shape)}")
    if len(a) < 2 or len(b) < 2:
        raise ValueError("need at least 2 samples in each feature set")
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = torch.cov(a.T), torch.cov(b.T)
    ev_a, vec_a = torch.linalg.eigh(cov_a)
    sqrt_a = (vec_a * ev_a.clamp_min(0).sqrt()) @ vec_a.T
    middle = sqrt_a @ cov_b @ sqrt_a
    tr_sqrt = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp_min(0).sqrt().sum()
    d2 = (mu_a - mu_b).pow(2).sum() + torch.trace(cov_a) + torch.trace(cov_b) - 2 * tr_sqrt
    return float(max(d2.item(), 0.0))


def classifier_fid(fake: torch.Tensor, real: torch.Tensor, dataset: str = "mnist") -> float:
    """Classifier-FID: :func:`frechet_distance` of the LeNet features of two image sets.

    Args:
        fake: generated images ``(N, 1, 28, 28)`` in [0, 1], N >= 2.
        real: real images ``(M, 1, 28, 28)`` in [0, 1], M >= 2.

    Returns:
        the distance (lower is better; 0 for identical distributions).

    Raises:
        ValueError: for a wrong image shape or fewer than 2 images.
    """
    return frechet_distance(classifier_features(fake, dataset), classifier_features(real, dataset))


def confident_share(images: torch.Tensor, threshold: float = CONFIDENT_P,
                    dataset: str = "mnist") -> float:
    """Share in [0, 1] of images whose largest class probability exceeds ``threshold``."""
    p = classifier_probs(images, dataset)
    return float((p.max(1).values > threshold).float().mean()) if len(p) else 0.0


def class_histogram(images: torch.Tensor, dataset: str = "mnist") -> np.ndarray:
    """Share of images per predicted class: float64 array of shape (10,), summing to 1."""
    p = classifier_probs(images, dataset)
    counts = np.bincount(p.argmax(1).numpy(), minlength=10).astype(np.float64)
    return counts / max(1, counts.sum())
