"""Core tests for the GAN demos (core/generative/gan/) and the classifier behind their metrics."""

import json

import numpy as np
import pytest
import torch

from core.blocks import image_metrics as clf
from core.data import load_images
from core.generative import gan
from core.protocol import config_from_strings, resolve_keys


def run_to_end(train, cfg):
    snaps = list(train(cfg))
    assert snaps[-1].final
    return snaps


# ------------------------------------------------------------------ classifier and FID


def test_classifier_recognises_held_out_digits():
    test = load_images("mnist", "test")
    probs = clf.classifier_probs(test.x)
    assert float((probs.argmax(1) == test.y).float().mean()) > 0.95
    assert clf.confident_share(test.x) > 0.85
    hist = clf.class_histogram(test.x)
    assert hist.shape == (10,) and abs(hist.sum() - 1) < 1e-9 and hist.min() > 0.05


def test_classifier_is_not_confident_on_noise_or_an_untrained_generator():
    # outlier exposure of the head (assets/train_classifier.py): before it, 100% of both were
    # labelled with p > 0.9, so the GAN page's "confident" share said nothing at step 0
    torch.manual_seed(0)
    G = gan.Generator(64, 32)
    G.apply(gan.dcgan_init)
    with torch.no_grad():
        untrained = gan.generate(G, torch.randn(500, 64))
    assert clf.confident_share(torch.rand(500, 1, 28, 28)) < 0.05
    assert clf.confident_share(untrained) < 0.05
    assert clf.confident_share(load_images("mnist", "test").x) > 0.85


def test_fid_separates_real_from_noise():
    train, test = load_images("mnist", "train"), load_images("mnist", "test")
    real_vs_real = clf.classifier_fid(train.x[:500], test.x)
    noise = clf.classifier_fid(torch.rand(500, 1, 28, 28), test.x)
    one_class = clf.classifier_fid(train.x[train.y == 1][:300], test.x)
    assert real_vs_real < 10
    assert noise > 20 * real_vs_real
    assert one_class > 5 * real_vs_real  # a collapsed generator is penalised
    feats = clf.classifier_features(test.x[:200])
    assert feats.shape == (200, clf.FEATURE_DIM)
    assert clf.frechet_distance(feats, feats) < 1e-6
    with pytest.raises(ValueError):
        clf.classifier_features(torch.rand(4, 3, 32, 32))


# ------------------------------------------------------------------ interpolation, metric


def test_slerp_keeps_norm_and_hits_endpoints():
    g = torch.Generator().manual_seed(0)
    z0, z1 = torch.randn(64, generator=g), torch.randn(64, generator=g)
    z1 = z1 / z1.norm() * z0.norm()
    t = torch.linspace(0, 1, 7)
    s, lin = gan.interpolate(z0, z1, t, "slerp"), gan.interpolate(z0, z1, t, "lerp")
    assert torch.allclose(s[0], z0, atol=1e-5) and torch.allclose(s[-1], z1, atol=1e-5)
    assert torch.allclose(s.norm(dim=1), z0.norm().expand(7), rtol=1e-4)
    assert lin[3].norm() < 0.9 * z0.norm()  # linear interpolation shrinks the middle
    with pytest.raises(ValueError, match="lerp or slerp"):
        gan.interpolate(z0, z1, t, "cubic")
    assert torch.equal(gan.seed_latent(3, 8), gan.seed_latent(3, 8))


def test_mode_metrics_counts_modes_and_quality():
    gen = torch.Generator().manual_seed(0)
    exact = gan.sample_target("ring8", 2000, gen).numpy()
    m = gan.mode_metrics(exact, "ring8")
    assert m["modes_covered"] == 8 and m["high_quality"] > 0.98
    modes, _ = gan.target_modes("ring8")
    collapsed = np.repeat(modes[:2], 500, axis=0) + 0.01
    m = gan.mode_metrics(collapsed, "ring8")
    assert m["modes_covered"] == 2 and m["high_quality"] == 1.0
    m = gan.mode_metrics(np.zeros((100, 2)), "ring8")  # the ring's centre is no mode
    assert m["modes_covered"] == 0 and m["high_quality"] == 0.0
    assert gan.mode_metrics(gan.sample_target("grid25", 2500, gen).numpy(),
                            "grid25")["modes_covered"] == 25


# ------------------------------------------------------------------ the 2-D lab


def test_gan2d_default_covers_ring_modes():
    cfg = gan.Gan2dConfig(device="cpu")
    snaps = run_to_end(gan.train_gan2d, cfg)
    first, last = snaps[0].metrics, snaps[-1].metrics
    assert first["modes_covered"] == 0
    assert last["modes_covered"] >= 6, last
    assert last["high_quality"] > 0.5, last
    art = snaps[-1].artifacts
    assert art["fake"].shape == (gan.N_VIS, 2) and art["d_map"].shape == (gan.GRID_RES,) * 2
    assert art["trail"].shape[1:] == (gan.N_VIS, 2) and len(art["trail"]) >= 1
    assert np.isclose(np.linalg.norm(art["grad"], axis=1).max(), 1.0)
    assert set(snaps[-1].model.keys()) == {"G", "D"}


# ------------------------------------------------------------------ DCGAN


def test_dcgan_fid_falls_and_grid_is_fixed():
    cfg = gan.GanConfig(g_channels=16, d_channels=16, latent_dim=32, batch_size=32, steps=200,
                        lr_g=1e-3, lr_d=1e-3, ema=0.99, device="cpu")
    snaps = run_to_end(gan.train_gan, cfg)
    fids = [(s.step, s.metrics["fid"]) for s in snaps if "fid" in s.metrics]
    assert fids[0][0] <= 50 and fids[-1][0] == 200  # the first snapshot after step 0
    assert fids[-1][1] < 0.5 * fids[0][1], fids
    last = snaps[-1]
    assert {"loss_d", "loss_g", "d_real", "d_fake", "confident_share"} <= set(last.metrics)
    assert last.artifacts["samples"].dtype == np.uint8
    assert last.artifacts["samples"].shape == (8 * 30 + 2, 8 * 30 + 2)
    # the page's latent walk runs on the frozen generator and the fixed z's
    z = torch.from_numpy(last.artifacts["z_fixed"])
    assert torch.equal(z, torch.from_numpy(snaps[0].artifacts["z_fixed"]))
    walk = gan.latent_walk(last.model, z[0], z[1], n=5, mode="slerp")
    assert walk.shape == (5, 1, 28, 28) and walk.min() >= 0 and walk.max() <= 1
    ends = gan.generate(last.model, z[:2])
    assert torch.allclose(walk[[0, -1]], ends, atol=1e-4)
    axis = gan.axis_walk(last.model, z[0], 3, torch.linspace(-2, 2, 4))
    assert axis.shape == (4, 1, 28, 28)


@pytest.mark.parametrize("loss", gan.LOSSES)
def test_every_loss_trains_a_few_finite_steps(loss):
    cfg = gan.GanConfig(g_channels=8, d_channels=8, latent_dim=2, batch_size=16, steps=4, loss=loss,
                        d_steps=2, label_smoothing=0.1, ema=0.0, device="cpu")
    last = run_to_end(gan.train_gan, cfg)[-1]
    assert np.isfinite(last.metrics["loss_d"]) and np.isfinite(last.metrics["loss_g"])
    assert 0 <= last.metrics["d_real"] <= 1


def test_32px_colour_generator_and_discriminator_shapes():
    G, D = gan.Generator(16, 8, channels=3, size=32), gan.Discriminator(8, 3, 32)
    x = G(torch.randn(4, 16))
    assert x.shape == (4, 3, 32, 32) and D(x).shape == (4, 1)


def test_cli_writes_the_issue_metric_names(tmp_path):
    from core.__main__ import main

    main(["train", "gan2d", "--set", "steps=30", "--out", str(tmp_path), "--quiet"])
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert {"loss_d", "loss_g", "modes_covered", "high_quality"} <= set(rows[-1])
    with pytest.raises(SystemExit):
        main(["train", "gan", "--set", "latent_dim=500", "--out", str(tmp_path), "--quiet"])


def test_diff_augment_shifts_and_cuts_out_differentiably():
    from core.generative.gan import diff_augment

    torch.manual_seed(0)
    x = torch.ones(8, 1, 28, 28, requires_grad=True)
    y = diff_augment(x)
    assert y.shape == x.shape
    zeroed = (y == 0).flatten(1).float().mean(1)
    # every sample loses its 14x14 cut-out square (a quarter) plus what a shift pushed out
    assert (zeroed >= 0.25 - 1e-6).all() and (zeroed <= 0.25 + 0.25 + 1e-6).all()
    y.sum().backward()
    assert x.grad is not None and 0 < x.grad.sum() < x.numel()  # gradients reach kept pixels


def test_old_links_keep_their_settings():
    # renamed fields: the old key sets the new field; the retired FID cadence is ignored
    cfg = config_from_strings(gan.GanConfig, {"g_width": "16", "d_width": "48",
                                              "fid_every_s": "10"})
    assert (cfg.g_channels, cfg.d_channels) == (16, 48)
    assert resolve_keys(gan.GanConfig, {"fid_every_s": "10"}) == ({}, ["fid_every_s"])
    cfg2 = config_from_strings(gan.Gan2dConfig, {"g_width": "128", "d_width": "32"})
    assert (cfg2.g_hidden, cfg2.d_hidden) == (128, 32)
    # today's name wins over an alias given in the same link
    assert config_from_strings(gan.GanConfig, {"g_width": "8", "g_channels": "64"}).g_channels == 64


def test_fid_budget_spaces_evaluations(monkeypatch):
    """The FID runs on the first step's snapshot, on the final one, and in between only every
    FID_EVERY_S seconds or less often, whatever the snapshot rate."""
    monkeypatch.setenv("LIVEPROP_SNAPSHOT_S", "0")  # a snapshot after every step
    cfg = gan.GanConfig(g_channels=8, d_channels=8, latent_dim=8, batch_size=16, steps=30,
                        ema=0.0, device="cpu")
    snaps = run_to_end(gan.train_gan, cfg)
    with_fid = [s for s in snaps if "fid" in s.metrics]
    assert with_fid[0].step == 1 and with_fid[-1].final
    assert len(snaps) == 31
    times = [s.time_s for s in with_fid]
    assert all(b - a >= gan.FID_EVERY_S for a, b in zip(times[:-2], times[1:-1]))
    assert len(with_fid) <= 2 + snaps[-1].time_s / gan.FID_EVERY_S


def test_a_run_does_not_depend_on_whether_the_classifier_was_loaded_before(monkeypatch):
    """Building the FID classifier (once per process) must not draw from the training's RNG:
    in CI a run evaluated at every step in a fresh process differed from the same run in a
    process that had loaded it already."""
    monkeypatch.setenv("LIVEPROP_EVAL_ALWAYS", "1")  # evaluate at every snapshot
    cfg = gan.GanConfig(g_channels=8, d_channels=8, latent_dim=8, batch_size=16, steps=6,
                        device="cpu")
    finals = []
    for cold in (True, False):
        if cold:
            clf._load.cache_clear()
        finals.append(run_to_end(gan.train_gan, cfg)[-1].metrics)
    assert finals[0]["loss_g"] == finals[1]["loss_g"] and finals[0]["fid"] == finals[1]["fid"]
