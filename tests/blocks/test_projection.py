"""core.blocks.projection.pca_2d: the one PCA projection the live 2-D maps share (VAE, GNN, SimCLR)."""

import numpy as np
import pytest

from core.blocks.projection import FeatureMap, pca_2d


def test_pca_projects_on_the_widest_axes_and_keeps_signs_stable():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 6)) * [6, 3, 1, 1, 1, 1]
    (y,), axes = pca_2d(x)
    assert y.shape == (200, 2) and axes.shape == (6, 2)
    assert 2 < y[:, 0].var() / y[:, 1].var() < 8  # variances about 36 : 9
    assert np.allclose(np.abs(axes[0, 0]), 1, atol=0.05)  # the first axis is feature 0
    # the same data with a flipped reference axis: the projection follows the reference
    (y_ref,), axes_ref = pca_2d(x, ref_axes=axes * [-1, 1])
    assert np.allclose(y_ref, y * [-1, 1]) and np.allclose(axes_ref, axes * [-1, 1])
    # slightly changed data (the next snapshot) keeps the previous orientation
    (y2,), _ = pca_2d(x + rng.normal(scale=0.01, size=x.shape), ref_axes=axes_ref)
    assert (np.sign(y2[:, 0]) == np.sign(y_ref[:, 0])).mean() > 0.95


def test_pca_of_low_dimensional_points_returns_them_as_they_are():
    x2 = np.arange(10.0).reshape(5, 2)
    (y2, o2), _ = pca_2d(x2, x2[:2])
    assert np.array_equal(y2, x2) and np.array_equal(o2, x2[:2])
    (y1,), axes = pca_2d(np.arange(4.0)[:, None])
    assert y1.shape == (4, 2) and not y1[:, 1].any() and axes.shape == (1, 2)
    with pytest.raises(ValueError, match="shape"):
        pca_2d(np.zeros(5))


def test_feature_map_pca_does_not_mirror_between_updates():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(50, 8)) * np.linspace(4, 1, 8)
    fm = FeatureMap("pca")
    a = fm.update(x)
    b = fm.update(x * 1.01 + rng.normal(scale=0.01, size=x.shape))
    assert a.dtype == np.float32 and np.corrcoef(a[:, 0], b[:, 0])[0, 1] > 0.99
    assert np.corrcoef(a[:, 1], b[:, 1])[0, 1] > 0.99


def test_features_of_a_diverged_model_get_a_plain_divergence_not_a_linalg_error():
    import pytest

    from core.protocol import Diverged

    bad = np.ones((20, 5))
    bad[3, 2] = np.inf
    with pytest.raises(Diverged, match="training diverged"):
        pca_2d(bad)
