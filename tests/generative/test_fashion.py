"""Fashion-MNIST for real: the data layer reads the Debian package's files, its own classifier
judges samples, and /gan and /vae train on it without a fallback note."""

from pathlib import Path

import numpy as np
import pytest
import torch

from core.blocks import image_metrics as clf
from core.data import SYSTEM_DIRS, load_images
from core.generative import gan, vae

pytestmark = pytest.mark.skipif(
    not any((d / "t10k-images-idx3-ubyte.gz").exists() or (d / "t10k-images-idx3-ubyte").exists()
            for d in SYSTEM_DIRS["fashion_mnist"]) and not (
        Path(__file__).resolve().parents[3] / "shared" / "data" / "FashionMNIST").is_dir(),
    reason="Fashion-MNIST is not installed here (apt install dataset-fashion-mnist)")


def test_fashion_mnist_loads_real_images_offline():
    tr, te = load_images("fashion_mnist", "train"), load_images("fashion_mnist", "test")
    assert tr.note is None and tr.name == "fashion_mnist" and te.name == "fashion_mnist"
    assert tr.x.shape == (60000, 1, 28, 28) and te.x.shape == (10000, 1, 28, 28)
    assert np.bincount(te.y.numpy()).tolist() == [1000] * 10
    assert tr.classes[0] == "T-shirt" and tr.classes[9] == "Boot"


def test_fashion_classifier_recognises_held_out_clothes_and_not_noise():
    assert clf.has_classifier("fashion_mnist") and not clf.has_classifier("cifar10")
    te = load_images("fashion_mnist", "test")
    x, y = te.x[:3000], te.y[:3000]
    probs = clf.classifier_probs(x, dataset="fashion_mnist")
    assert float((probs.argmax(1) == y).float().mean()) > 0.8
    assert clf.confident_share(x, dataset="fashion_mnist") > 0.4
    assert clf.confident_share(torch.rand(500, 1, 28, 28), dataset="fashion_mnist") < 0.05
    # the MNIST network is not the one judging clothes
    assert float((clf.classifier_probs(x)[:, :].argmax(1) == y).float().mean()) < 0.5
    with pytest.raises(ValueError, match="no classifier"):
        clf.classifier_features(x[:4], dataset="cifar10")


def test_fashion_fid_separates_real_from_noise_and_one_class():
    tr, te = load_images("fashion_mnist", "train"), load_images("fashion_mnist", "test")
    real = clf.classifier_fid(tr.x[:500], te.x[:2000], dataset="fashion_mnist")
    noise = clf.classifier_fid(torch.rand(500, 1, 28, 28), te.x[:2000], dataset="fashion_mnist")
    one_class = clf.classifier_fid(tr.x[tr.y == 1][:500], te.x[:2000], dataset="fashion_mnist")
    assert noise > 20 * real and one_class > 5 * real


def test_dcgan_on_fashion_reports_every_metric_without_a_note():
    cfg = gan.GanConfig(dataset="fashion_mnist", g_channels=8, d_channels=8, latent_dim=8,
                        batch_size=16, steps=3, ema=0.0, device="cpu")
    last = list(gan.train_gan(cfg))[-1]
    assert last.artifacts["data_note"] is None and last.artifacts["metrics_note"] is None
    assert {"fid", "confident_share"} <= set(last.metrics)
    assert last.artifacts["class_hist"].shape == (10,) and last.artifacts["classes"][0] == "T-shirt"


def test_vae_on_fashion_judges_its_samples():
    cfg = vae.VaeConfig(dataset="fashion_mnist", epochs=1, batch_size=256, channels=8,
                        device="cpu")
    first = next(iter(vae.train(cfg)))
    assert first.artifacts["note"] is None and first.artifacts["dataset"] == "fashion_mnist"
    assert "vae_confident_share" in first.metrics and "ae_confident_share" in first.metrics
