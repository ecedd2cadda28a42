"""Your own images (core.data.uploads): a zip of class folders becomes an image set; zip bombs,
non-images, oversized archives and huge images are refused with one sentence; runs on a
visitor's own data are neither shared nor cached (core.engine.PRIVATE_FIELDS)."""

from __future__ import annotations

import io
import time
import zipfile
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from PIL import Image

from core.data import uploads
from core.data.uploads import UploadError, load_upload, read_image_zip, store_upload


def _png(value: int, size=(20, 30), mode="L") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, value if mode == "L" else (value, 0, 255 - value)).save(buf, "PNG")
    return buf.getvalue()


def _zip(files: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_class_folders_become_labels_resized_grey_or_colour():
    data = _zip({"pets/cats/a.png": _png(10), "pets/cats/b.png": _png(20),
                 "pets/dogs/c.png": _png(200), "pets/dogs/d.jpg": _jpeg(220),
                 "pets/.DS_Store": b"x", "__MACOSX/pets/cats/._a.png": b"x"})
    d = read_image_zip(data, size=16)
    assert d.classes == ["cats", "dogs"] and d.y.tolist() == [0, 0, 1, 1]
    assert d.x.shape == (4, 1, 16, 16) and float(d.x.min()) >= 0 and float(d.x.max()) <= 1
    assert abs(float(d.x[2].mean()) - 200 / 255) < 0.01
    rgb = read_image_zip(_zip({"a/1.png": _png(9, mode="RGB"), "a/2.png": _png(9, mode="RGB"),
                               "b/1.png": _png(99, mode="RGB"), "b/2.png": _png(9, mode="RGB")}),
                         size=8, channels=3)
    assert rgb.x.shape == (4, 3, 8, 8) and float(rgb.x[0, 2].mean()) > 0.9  # blue kept


def _jpeg(value: int) -> bytes:
    buf = io.BytesIO()
    Image.new("L", (40, 40), value).save(buf, "JPEG")
    return buf.getvalue()


@pytest.mark.parametrize("make, message", [
    (lambda: b"PK not really a zip", "not a zip archive"),
    (lambda: _zip({"a/x.png": _png(1), "a/notes.txt": b"hello"}), "'a/notes.txt' is not a PNG"),
    (lambda: _zip({"a/x.png": b"\x89PNG broken", "b/y.png": _png(1)}), "could not be read"),
    (lambda: _zip({"a/bomb.png": b"\0" * (60 * 2**20), "b/y.png": _png(1)}), "zip bomb"),
    (lambda: _zip({"x.png": _png(1), "y.png": _png(2)}), "folder named after its class"),
    (lambda: _zip({"a/x.png": _png(1), "a/y.png": _png(2)}), "at least two class folders"),
    (lambda: _zip({"a/x.png": _png(1), "a/y.png": _png(2), "b/z.png": _png(3)}),
     "'b' has 1 image"),
    (lambda: _zip({}), "no PNG or JPEG"),
])
def test_bad_uploads_are_refused_with_one_sentence(make, message):
    with pytest.raises(UploadError, match=message) as e:
        read_image_zip(make(), size=16)
    assert "\n" not in str(e.value)


def test_oversized_archives_many_files_and_huge_images_are_refused(monkeypatch):
    monkeypatch.setitem(uploads.LIMITS, "max_zip_mb", 0.0001)
    with pytest.raises(UploadError, match="at most 0.0001 MB"):
        read_image_zip(_zip({"a/x.png": _png(1, (200, 200)), "b/x.png": _png(1)}), size=16)
    monkeypatch.setitem(uploads.LIMITS, "max_zip_mb", 40)
    monkeypatch.setitem(uploads.LIMITS, "max_files", 3)
    with pytest.raises(UploadError, match="at most 3 are allowed"):
        read_image_zip(_zip({f"a/{i}.png": _png(i) for i in range(4)}), size=16)
    monkeypatch.setitem(uploads.LIMITS, "max_files", 5000)
    monkeypatch.setitem(uploads.LIMITS, "max_pixels", 100)
    with pytest.raises(UploadError, match="is 20x30 pixels"):
        read_image_zip(_zip({"a/x.png": _png(1), "b/y.png": _png(2)}), size=16)


def test_stored_uploads_load_back_by_id_only(monkeypatch, tmp_path):
    monkeypatch.setenv("LIVEPROP_DATA", str(tmp_path))
    d = read_image_zip(_zip({"a/1.png": _png(10), "a/2.png": _png(30), "b/1.png": _png(200),
                             "b/2.png": _png(250)}), size=8)
    upload_id = store_upload(d)
    back = load_upload(upload_id)
    assert back.classes == d.classes and np.allclose(back.x.numpy(), d.x.numpy(), atol=1 / 255)
    for bad in ("../../etc/passwd", "x" * 64, ""):
        with pytest.raises(UploadError, match="not valid"):
            load_upload(bad)
    with pytest.raises(UploadError, match="no longer on this server"):
        load_upload("0" * 64)


def test_runs_on_a_visitors_own_data_are_neither_shared_nor_cached():
    from core.engine import Run, RunCache, RunPool, RunState, is_private
    from core.protocol import Demo, RunOptions, Snapshot, param

    @dataclass(frozen=True)
    class Cfg(RunOptions):
        upload: str = param("")

    def train(cfg):
        yield Snapshot(1, 0.0, {"loss": 1.0}, total_steps=1, final=True)

    demo = Demo("private_toy", Cfg, train)
    assert is_private(Cfg(upload="ab" * 32)) and not is_private(Cfg())
    from core.executors import ThreadExecutor

    pool = RunPool(max_workers=1, cache=RunCache(), executor=ThreadExecutor())
    try:
        mine = pool.submit(Run(demo, Cfg(upload="ab" * 32), session="a"))
        assert pool.shared(demo, Cfg(upload="ab" * 32)) is None
        assert mine.wait(30) and mine.state == RunState.DONE
        again = pool.submit(Run(demo, Cfg(upload="ab" * 32), session="b"))
        assert not again.from_cache, "another session does not get a private run from the cache"
        public = pool.submit(Run(demo, Cfg(), session="a"))
        assert public.wait(30)
        deadline = time.time() + 10
        while pool.cache.get("private_toy", Cfg()) is None and time.time() < deadline:
            time.sleep(0.05)
        assert pool.submit(Run(demo, Cfg(), session="b")).from_cache
    finally:
        pool.shutdown()


def test_split_upload_holds_out_a_seeded_share_of_each_class():
    from core.data.uploads import split_upload

    labelled = read_image_zip(_zip({**{f"a/{i}.png": _png(i) for i in range(10)},
                                    **{f"b/{i}.png": _png(100 + i) for i in range(5)}}), size=8)
    tr, te = split_upload(labelled, 0.2, seed=0)
    assert te.y.bincount().tolist() == [2, 1] and tr.y.bincount().tolist() == [8, 4]
    assert tr.name == te.name == "your images" and te.classes == ["a", "b"]
    seen = {round(float(v) * 255) for v in torch.cat([tr.x, te.x]).mean((1, 2, 3))}
    assert seen == {*range(10), *range(100, 105)}, "every image lands in exactly one part"
    assert split_upload(labelled, 0.2, seed=0)[1].x.equal(te.x)
    assert not split_upload(labelled, 0.2, seed=1)[1].x.equal(te.x)
    unlabelled = read_image_zip(_zip({f"any/{i}.png": _png(i) for i in range(10)}), size=8,
                                by_folder=False)
    tr, te = split_upload(unlabelled, 0.9, seed=0)
    assert len(tr) == 1 and len(te) == 9, "at least one image is left to train on"
    with pytest.raises(UploadError, match="at least 2 are needed"):
        split_upload(read_image_zip(_zip({"x.png": _png(1)}), size=8, by_folder=False), 0.2, 0)
    with pytest.raises(ValueError, match="between 0 and 1"):
        split_upload(unlabelled, 1.0, seed=0)
