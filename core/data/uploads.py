"""Your own images: a zip of PNG/JPEG files (one folder per class for a classifier) becomes an
image set that a trainer reads by its id.

* :func:`read_image_zip` checks the archive before it decodes anything (file count, total and
  per-file size, compression ratio: no zip bombs), decodes each image with Pillow under a
  pixel limit, keeps greyscale or colour (``channels``), and center-crops and resizes every
  image to the page's size. Anything else is refused with one plain sentence
  (:class:`UploadError`).
* :func:`split_upload` holds out a seeded share of each class (of the one class of an
  unlabelled set) for testing.
* :func:`store_upload` writes the tensors under ``<data folder>/uploads/<id>.pt`` (the id is the
  SHA-256 of the tensors, so a config names the data it trained on) and :func:`load_upload` reads
  them back with ``weights_only=True`` in the run's worker process. A config carries the id in a
  field named ``upload``; the run engine neither caches nor shares such runs between sessions
  (:data:`core.engine.PRIVATE_FIELDS`).
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import zipfile
from pathlib import Path, PurePosixPath

import numpy as np
import torch

from core.data import ImageData, data_root

__all__ = ["UploadError", "read_image_zip", "split_upload", "store_upload", "load_upload",
           "LIMITS", "UPLOAD_NAME"]

LIMITS = {
    "max_zip_mb": 40,  # the archive as uploaded
    "max_files": 5000,  # image files in it
    "max_unpacked_mb": 200,  # all files unpacked
    "max_ratio": 50,  # unpacked / packed size of one file (a zip bomb is 1000x and more)
    "max_pixels": 4096 * 4096,  # width x height of one image before it is decoded
    "min_per_class": 2,
}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_ID = re.compile(r"^[0-9a-f]{64}$")
UPLOAD_NAME = "your images"  # the name a trainer gives your images (ImageData.name)


class UploadError(ValueError):
    """An upload that cannot be used; the message is one plain sentence."""


def _members(z: zipfile.ZipFile, by_folder: bool = True) -> list[zipfile.ZipInfo]:
    """The image files of the archive after the size checks (hidden files and folders skipped)."""
    files = []
    where = " (one folder per class)" if by_folder else ""
    for info in z.infolist():
        parts = PurePosixPath(info.filename).parts
        if info.is_dir() or any(p.startswith(".") or p == "__MACOSX" for p in parts):
            continue
        if not info.filename.lower().endswith(IMAGE_SUFFIXES):
            raise UploadError(f"{info.filename!r} is not a PNG or JPEG image; the zip may hold "
                              f"only images{where}.")
        files.append(info)
    if not files:
        raise UploadError("The zip holds no PNG or JPEG images.")
    if len(files) > LIMITS["max_files"]:
        raise UploadError(f"The zip holds {len(files)} images; at most {LIMITS['max_files']} "
                          "are allowed.")
    if sum(i.file_size for i in files) > LIMITS["max_unpacked_mb"] * 2**20:
        raise UploadError(f"The images unpack to more than {LIMITS['max_unpacked_mb']} MB; "
                          "send fewer or smaller images.")
    for i in files:
        if i.file_size > LIMITS["max_ratio"] * max(i.compress_size, 1) and i.file_size > 2**20:
            raise UploadError(f"{i.filename!r} unpacks to {i.file_size / i.compress_size:.0f} "
                              "times its packed size: refused (a zip bomb?).")
    return files


def _classes(files: list[zipfile.ZipInfo], by_folder: bool) -> tuple[list[str], list[int]]:
    """Class names and each file's class: the folder under the archive's common root."""
    parts = [PurePosixPath(i.filename).parts for i in files]
    depth = 0
    while all(len(p) > depth + 1 for p in parts) and len({p[depth] for p in parts}) == 1:
        depth += 1  # skip a common root folder ("cats/" around everything)
    if not by_folder:
        return ["image"], [0] * len(files)
    names = [p[depth] if len(p) > depth + 1 else "" for p in parts]
    if depth and not any(names):  # everything in one folder: that is one class
        raise UploadError(f"A classifier needs at least two class folders; the zip has one "
                          f"({parts[0][depth - 1]!r}).")
    if "" in names:
        raise UploadError("Put every image in a folder named after its class (e.g. "
                          "cats/001.png, dogs/002.png).")
    classes = sorted(set(names))
    if len(classes) < 2:
        raise UploadError("A classifier needs at least two class folders.")
    return classes, [classes.index(n) for n in names]


def _decode(data: bytes, name: str, size: int, channels: int) -> np.ndarray:
    from PIL import Image, ImageOps

    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.width * im.height > LIMITS["max_pixels"]:
                raise UploadError(f"{name!r} is {im.width}x{im.height} pixels; at most "
                                  f"{LIMITS['max_pixels']:,} pixels per image are allowed.")
            im.draft("RGB" if channels == 3 else "L", (size * 2, size * 2))  # JPEG: decode small
            im = ImageOps.exif_transpose(im).convert("RGB" if channels == 3 else "L")
            im = ImageOps.fit(im, (size, size), Image.Resampling.BILINEAR)
            arr = np.asarray(im, dtype=np.uint8)
    except UploadError:
        raise
    except Exception as e:  # Pillow raises many types for broken files
        raise UploadError(f"{name!r} could not be read as an image ({type(e).__name__}).") \
            from None
    return arr[None] if channels == 1 else arr.transpose(2, 0, 1)


def read_image_zip(data: bytes, size: int, channels: int = 1,
                   by_folder: bool = True) -> ImageData:
    """The images of a zip archive as an :class:`ImageData` (x ``(N, channels, size, size)``
    float in [0, 1]; y the class index by folder, or all 0 with ``by_folder=False``).

    Raises:
        UploadError: one plain sentence: not a zip, too big, too many files, a zip bomb, a
            file that is not an image, an image over the pixel limit, a missing class folder,
            fewer than two classes or too few images of a class.
    """
    if channels not in (1, 3) or not 4 <= size <= 256:
        raise ValueError("channels must be 1 or 3 and size 4-256")
    if len(data) > LIMITS["max_zip_mb"] * 2**20:
        raise UploadError(f"The zip is {len(data) / 2**20:.0f} MB; at most "
                          f"{LIMITS['max_zip_mb']} MB are allowed.")
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError):
        raise UploadError("That file is not a zip archive.") from None
    with z:
        files = _members(z, by_folder)
        classes, labels = _classes(files, by_folder)
        images = []
        for info in files:
            try:
                raw = z.read(info)
            except (zipfile.BadZipFile, OSError, RuntimeError, NotImplementedError) as e:
                raise UploadError(f"{info.filename!r} could not be unpacked ({e}).") from None
            images.append(_decode(raw, info.filename, size, channels))
    counts = np.bincount(labels, minlength=len(classes))
    if by_folder and counts.min() < LIMITS["min_per_class"]:
        raise UploadError(f"The class {classes[int(counts.argmin())]!r} has "
                          f"{int(counts.min())} image(s); each needs at least "
                          f"{LIMITS['min_per_class']}.")
    x = torch.from_numpy(np.stack(images)).float() / 255.0
    return ImageData(x, torch.tensor(labels, dtype=torch.int64), classes, "upload")


def split_upload(data: ImageData, test_share: float,
                 seed: int) -> tuple[ImageData, ImageData]:
    """Your images split per class (an unlabelled set is one class): ``test_share`` of each
    class, at least one image and never all of them, held out for testing, the rest shuffled
    for training; the same ``seed`` gives the same split. Both parts keep ``data.classes`` and
    are named :data:`UPLOAD_NAME`; x ``(N_train or N_test, C, H, W)``, y ``(N_...,)``.

    Raises:
        ValueError: for ``test_share`` outside (0, 1).
        UploadError: when a class has fewer than two images (nothing would be left to train on).
    """
    if not 0 < test_share < 1:
        raise ValueError(f"test_share must be between 0 and 1, got {test_share}")
    g = torch.Generator().manual_seed(seed)
    train_idx, test_idx = [], []
    for c in range(len(data.classes)):
        idx = (data.y == c).nonzero().flatten()
        if len(idx) < 2:
            raise UploadError(f"The class {data.classes[c]!r} has {len(idx)} image(s); at least "
                              "2 are needed to hold one out for testing.")
        idx = idx[torch.randperm(len(idx), generator=g)]
        n_test = min(len(idx) - 1, max(1, round(test_share * len(idx))))
        test_idx.append(idx[:n_test])
        train_idx.append(idx[n_test:])
    tr, te = torch.cat(train_idx), torch.cat(test_idx).sort().values
    tr = tr[torch.randperm(len(tr), generator=g)]
    return (ImageData(data.x[tr], data.y[tr], data.classes, UPLOAD_NAME),
            ImageData(data.x[te], data.y[te], data.classes, UPLOAD_NAME))


def _folder() -> Path:
    return data_root() / "uploads"


def store_upload(data: ImageData) -> str:
    """Write ``data`` for the runs' workers; returns its id (64 hex digits).

    Raises:
        OSError: when the data folder cannot be written.
    """
    h = hashlib.sha256()
    for t in (data.x, data.y):
        h.update(t.numpy().tobytes())
    h.update("\n".join(data.classes).encode())
    upload_id = h.hexdigest()
    path = _folder() / f"{upload_id}.pt"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        torch.save({"x": (data.x * 255).round().to(torch.uint8), "y": data.y,
                    "classes": list(data.classes)}, tmp)
        os.replace(tmp, path)
    return upload_id


def load_upload(upload_id: str) -> ImageData:
    """The images stored under ``upload_id``.

    Raises:
        UploadError: for an id that is not 64 hex digits or names no stored upload (e.g. the
            server was restarted with a fresh data folder).
    """
    if not isinstance(upload_id, str) or not _ID.match(upload_id):
        raise UploadError("That upload id is not valid.")
    path = _folder() / f"{upload_id}.pt"
    if not path.is_file():
        raise UploadError("The uploaded images are no longer on this server: upload them again.")
    d = torch.load(path, weights_only=True)
    return ImageData(d["x"].float() / 255.0, d["y"], list(d["classes"]), "upload")
