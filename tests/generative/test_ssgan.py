"""Core tests for the semi-supervised GAN (core/generative/ssgan.py)."""

import json

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from core.generative import ssgan
from core.protocol import config_from_strings


def test_k_logit_losses_equal_the_explicit_k_plus_1_class_softmax():
    g = torch.Generator().manual_seed(0)
    lab, unl, fake = (torch.randn(6, 10, generator=g) * 3 for _ in range(3))
    y = torch.randint(0, 10, (6,), generator=g)
    l_sup, l_unsup = ssgan.d_losses(lab, y, unl, fake)
    # the (K+1)-th "fake" class has its logit fixed at 0 (Salimans et al. 2016)
    def plus_fake(logits):
        return torch.cat([logits, torch.zeros(len(logits), 1)], 1).log_softmax(1)
    p_unl, p_fake = plus_fake(unl), plus_fake(fake)
    explicit_unsup = (-torch.log1p(-p_unl[:, 10].exp())).mean() - p_fake[:, 10].mean()
    assert torch.allclose(l_unsup, explicit_unsup, atol=1e-5)
    # the supervised part: cross-entropy among the K real classes, given the image is real
    assert torch.allclose(l_sup, F.cross_entropy(lab, y))
    assert torch.allclose(ssgan.real_prob(unl), 1 - p_unl[:, 10].exp(), atol=1e-6)


def test_labelled_subset_and_confusion_matrix():
    y = torch.arange(10).repeat(30)
    idx = ssgan.labelled_subset(y, 3, seed=0)
    assert np.bincount(y[idx].numpy()).tolist() == [3] * 10
    assert torch.equal(idx, ssgan.labelled_subset(y, 3, seed=0))
    with pytest.raises(ValueError, match="at most"):
        ssgan.labelled_subset(y, 31, seed=0)
    conf = ssgan.confusion_matrix(torch.tensor([0, 1, 1, 2]), torch.tensor([0, 1, 2, 2]), 3)
    assert conf.tolist() == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]


def test_ssgan_learns_digits_from_ten_labels_per_class():
    cfg = ssgan.SsganConfig(labels_per_class=10, hidden=250, batch_size=50, steps=120,
                            augment=0, device="cpu")  # shifted images learn slower at first
    snaps = list(ssgan.train(cfg))
    last = snaps[-1]
    assert last.final and {"test_acc", "base_test_acc"} <= set(last.metrics)
    assert last.metrics["test_acc"] > 0.5 and last.metrics["base_test_acc"] > 0.5  # chance: 0.1
    conf = last.artifacts["confusion"]
    assert conf.shape == (10, 10) and conf.sum() == 1000
    assert np.isclose(np.trace(conf) / conf.sum(), last.metrics["test_acc"])
    assert last.artifacts["samples"].dtype == np.uint8
    assert set(last.model.keys()) == {"G", "D", "D_base"}
    assert {"loss_sup", "loss_unsup", "loss_g", "loss_base"} <= set(snaps[1].metrics)


def test_the_semi_supervised_discriminator_beats_the_labels_only_network():
    """Issue 19: at 10 labels per class the unlabelled images and G's samples lift D above the
    same network trained on the labelled images alone (same init, shifts, weight average and
    labelled batches; with the unsupervised loss broken the two would train alike). Seed 0, page
    defaults, 2,000 steps (~2 min on one thread): over the last 300 steps' evaluations the SSGAN
    scores ~89.7% against ~87.5% (``bench/results/ssgan.md``); asked here: 1 point."""
    torch.set_num_threads(1)
    cfg = ssgan.SsganConfig(labels_per_class=10, steps=2000, seed=0, device="cpu")
    late = [s.metrics for s in ssgan.train(cfg) if s.step >= 1700 and "test_acc" in s.metrics]
    assert len(late) >= 3, "held-out accuracy is evaluated along the way"
    ssl = float(np.mean([m["test_acc"] for m in late]))
    base = float(np.mean([m["base_test_acc"] for m in late]))
    assert ssl > 0.87, f"SSGAN {ssl:.1%}"
    assert ssl > base + 0.01, f"SSGAN {ssl:.1%} vs labels-only {base:.1%}"


def test_cli_and_bad_settings(tmp_path):
    from core.__main__ import main

    main(["train", "ssgan", "--set", "steps=10", "--set", "hidden=250", "--out", str(tmp_path),
          "--quiet"])
    rows = [json.loads(r) for r in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert "test_acc" in rows[-1] and "base_test_acc" in rows[-1]
    with pytest.raises(ValueError):
        config_from_strings(ssgan.SsganConfig, {"labels_per_class": "500"})


def test_weight_norm_layer_and_its_data_dependent_init():
    torch.manual_seed(0)
    layer = ssgan.WNLinear(20, 7, train_scale=False)
    x = torch.randn(256, 20) * 3 + 1
    # w = g v / ||v|| per output unit (Salimans & Kingma 2016)
    w = layer.v * (layer.g / layer.v.norm(dim=1))[:, None]
    assert torch.allclose(layer(x), x @ w.T + layer.bias, atol=1e-5)
    out = layer.data_init(x)
    pre = layer(x)  # after the init: zero mean, unit variance per unit on that batch
    assert torch.allclose(pre, out, atol=1e-4)
    assert pre.mean(0).abs().max() < 1e-4 and (pre.std(0) - 1).abs().max() < 1e-4
    assert not layer.g.requires_grad and layer.v.requires_grad


def test_discriminator_init_fixed_hidden_scales_and_weight_average():
    cfg = ssgan.SsganConfig(hidden=250, batch_size=25, augment=0, device="cpu")
    from core.data import load_images
    x = load_images("mnist", "train").x[:500]
    torch.manual_seed(0)
    G, D, D_base = ssgan.make_models(cfg, 10, torch.device("cpu"), x)
    first = D.body[2]  # the first weight-normalized layer, after the input noise
    with torch.no_grad():  # with the input noise (std 0.3), as in the init pass
        pre = first(D.body[1](x.flatten(1)))
    assert pre.mean().abs() < 0.1 and (pre.std(0).mean() - 1).abs() < 0.1
    assert all(torch.equal(a, b) for a, b in zip(D.state_dict().values(),
                                                  D_base.state_dict().values()))
    opts = ssgan.make_optimizers(cfg, G, D, D_base)
    avg = ssgan.weight_average(D, 0.999)
    g0, v0, head_g0 = first.g.clone(), first.v.clone(), D.head[1].g.clone()
    gen = torch.Generator().manual_seed(0)
    for _ in range(3):
        ssgan.ssgan_step(cfg, G, D, opts, ssgan.sample_batch(cfg, x, x[:30], torch.arange(30) % 10,
                                                             gen))
        avg.update_parameters(D)
    assert torch.equal(first.g, g0) and not torch.equal(first.v, v0)  # hidden scale stays fixed
    assert not torch.equal(D.head[1].g, head_g0)  # the output layer's scale is learned
    # three updates with the warmed-up decay min(0.999, (1+n)/(10+n)): between start and now
    a_v = avg.module.body[2].v
    assert not torch.equal(a_v, first.v) and not torch.equal(a_v, v0)
    assert ssgan.weight_average(D, 0.0) is None
