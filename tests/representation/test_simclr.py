"""SimCLR core: NT-Xent against a direct reference, t-SNE updates, and a short pretraining whose
linear probe beats raw pixels at 10 labels per class (fixed seeds)."""

import math

import numpy as np
import pytest
import torch

from core.blocks.projection import FeatureMap
from core.protocol import config_from_strings
from core.representation import simclr as S


def reference_nt_xent(z: torch.Tensor, tau: float) -> float:
    """NT-Xent written straight from SimCLR eq. (1) with Python loops."""
    n2 = z.shape[0]
    n = n2 // 2
    zn = [v / v.norm() for v in z]
    total = 0.0
    for i in range(n2):
        j = (i + n) % n2
        num = math.exp(float(zn[i] @ zn[j]) / tau)
        den = sum(math.exp(float(zn[i] @ zn[k]) / tau) for k in range(n2) if k != i)
        total += -math.log(num / den)
    return total / n2


@pytest.mark.parametrize("tau", [0.1, 0.5, 1.0])
def test_nt_xent_matches_reference(tau):
    g = torch.Generator().manual_seed(3)
    z = torch.randn(10, 6, generator=g, dtype=torch.float64)
    assert S.nt_xent_loss(z, tau).item() == pytest.approx(reference_nt_xent(z, tau), rel=1e-9)


def test_nt_xent_prefers_aligned_views_and_rejects_bad_input():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(8, 16, generator=g)
    aligned = torch.cat([a, a + 0.01 * torch.randn(8, 16, generator=g)])
    shuffled = torch.cat([a, a[torch.randperm(8, generator=g)]])
    assert S.nt_xent_loss(aligned, 0.2) < S.nt_xent_loss(shuffled, 0.2) - 1.0
    # the minimum possible loss with 2N - 2 negatives at cosine -1 is well below log(2N - 1)
    assert S.nt_xent_loss(aligned, 0.2) < math.log(15)
    with pytest.raises(ValueError):
        S.nt_xent_loss(torch.randn(5, 3), 0.5)
    with pytest.raises(ValueError):
        S.nt_xent_loss(torch.randn(6, 3), 0.0)


def test_pair_similarities_shapes():
    z = torch.randn(12, 4)
    pos, neg = S.pair_similarities(z, max_negatives=20)
    assert pos.shape == (6,) and neg.shape == (20,)
    assert np.all(np.abs(pos) <= 1 + 1e-5) and np.all(np.abs(neg) <= 1 + 1e-5)


def test_tsne_update_on_tiny_set_is_warm_started():
    rng = np.random.default_rng(0)
    centers = rng.normal(0, 5, (3, 8))
    x = np.concatenate([c + rng.normal(0, 0.3, (10, 8)) for c in centers])
    fmap = FeatureMap("tsne", seed=0)
    first = fmap.update(x)
    assert first.shape == (30, 2) and np.isfinite(first).all()
    second = fmap.update(x + rng.normal(0, 0.05, x.shape))
    assert second.shape == (30, 2) and np.isfinite(second).all()
    # warm start: a small change of the features moves the points little
    moved = np.linalg.norm(second - first, axis=1).mean()
    assert moved < 0.5 * first.std()
    # the three clusters stay separated: nearest neighbour in the map is from the same cluster
    labels = np.repeat(np.arange(3), 10)
    d = np.linalg.norm(second[:, None] - second[None], axis=2) + np.eye(30) * 1e9
    assert (labels[d.argmin(1)] == labels).mean() > 0.9
    pca = FeatureMap("pca").update(x)
    assert pca.shape == (30, 2)
    with pytest.raises(ValueError):
        fmap.update(np.full((5, 3), np.nan))


def test_augment_pairs_differ_and_toggles_switch_off():
    x = torch.rand(4, 1, 28, 28)
    cfg = S.SimCLRConfig()
    p = S.augment_pairs(cfg, x, seed=1)
    assert p.shape == (4, 3, 1, 28, 28)
    assert (p[:, 1] - p[:, 2]).abs().mean() > 0.01  # two different views
    off = config_from_strings(S.SimCLRConfig, {"crop": False, "affine": False, "blur": False})
    q = S.augment_pairs(off, x, seed=1)
    assert torch.allclose(q[:, 1], x) and torch.allclose(q[:, 2], x)
    assert S.pairs_grid(p).dtype == np.uint8


def test_nearest_neighbours():
    f = np.array([[1.0, 0], [0.9, 0.1], [0, 1], [-1, 0]])
    assert list(S.nearest_neighbours(f, 0, 2)) == [1, 2]
    with pytest.raises(IndexError):
        S.nearest_neighbours(f, 9)


@pytest.fixture(scope="module")
def short_run():
    """About 60 SimCLR steps on bundled MNIST, then the few-label evaluation."""
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    cfg = config_from_strings(S.SimCLRConfig, {
        "channels": 16, "batch_size": 128, "epochs": 2, "lr": 1e-2, "temperature": 0.2,
        "map_points": 200, "eval_steps": 20, "seed": 0, "device": "cpu"})
    return cfg, list(S.train(cfg))


def test_short_pretraining_probe_beats_pixels_at_10_labels(short_run):
    cfg, snaps = short_run
    final = snaps[-1]
    assert final.final and all(not s.final for s in snaps[:-1])
    m = final.metrics
    for k in (1, 10, 100):
        for name in ("probe", "scratch", "pixels"):
            assert 0.0 <= m[f"{name}_acc_k{k}"] <= 1.0
    # the threshold: frozen SimCLR features + linear probe beat raw-pixel logistic
    # regression with the same 10 labels per class, on the held-out images
    assert m["probe_acc_k10"] > m["pixels_acc_k10"] + 0.02, m
    assert m["probe_acc_k10"] > 0.5  # far above chance (10%)
    # more labels help the probe
    assert m["probe_acc_k100"] > m["probe_acc_k1"]


def test_short_pretraining_loss_falls_and_artifacts(short_run):
    cfg, snaps = short_run
    losses = [s.metrics["nt_xent"] for s in snaps if not s.final and not s.heartbeat]
    assert len(losses) >= 3
    # log(2N - 1) is the loss of random features: training must get clearly below it
    assert losses[-1] < losses[0] - 0.5
    # chance is 1 / (2N - 1) = 0.4%: the positive is found among 255 views far more often
    assert snaps[-1].metrics["contrast_acc"] > 0.2
    art = snaps[-1].artifacts
    assert art["map"].shape == (200, 2) and np.isfinite(art["map"]).all()
    assert art["features"].shape[0] == len(S.load_data(cfg)[1].y)
    assert art["views"].dtype == np.uint8
    assert set(art["eval"]) == {"probe", "scratch", "pixels"}
    model = snaps[-1].model
    assert set(model.keys()) == {"encoder", "projector"}
    assert model.simclr_config["channels"] == 16
    h = model["encoder"](torch.rand(3, 1, 28, 28))
    assert h.shape == (3, 64)


def test_the_evaluation_yields_heartbeats_so_it_can_be_stopped(monkeypatch):
    """The few-label evaluation (minutes with many eval steps) yields heartbeats as it goes
    (every ~0.5 s; here every unit), with the share of the whole run done."""
    import functools
    import importlib

    from core.protocol import heartbeats

    trainer = importlib.import_module("core.representation.simclr.train")  # S.train: the function
    monkeypatch.setattr(trainer, "heartbeats", functools.partial(heartbeats, interval_s=0.0))
    cfg = config_from_strings(S.SimCLRConfig, {
        "channels": 16, "batch_size": 64, "epochs": 1, "max_seconds": 1.0, "embedding": "off",
        "eval_steps": 10, "seed": 0, "device": "cpu"})
    snaps = list(S.train(cfg))
    beats = [s for s in snaps if s.heartbeat]
    assert len(beats) == S.eval_units(cfg, ("probe", "scratch", "pixels"))
    assert beats, "the evaluation never yielded"
    assert all("evaluating with few labels" in s.phase for s in beats)
    fractions = [s.step / s.total_steps for s in beats]
    assert fractions == sorted(fractions) and 0 < fractions[0] < fractions[-1] <= 1


def test_time_limit_and_no_evaluation():
    cfg = config_from_strings(S.SimCLRConfig, {
        "channels": 16, "batch_size": 64, "epochs": 100, "max_seconds": 1.0, "embedding": "off",
        "evaluate": False, "device": "cpu"})
    snaps = list(S.train(cfg))
    assert snaps[-1].final and snaps[-1].model is not None
    assert snaps[-1].step < 100 * (4000 // 64)  # stopped by the clock, not the epochs
    assert "probe_acc_k10" not in snaps[-1].metrics


def test_old_link_keys_still_work():
    """``width`` (now ``channels``) still sets the field; ``map_every_s`` (retired: the map has
    an evaluation budget) is accepted and ignored."""
    cfg = config_from_strings(S.SimCLRConfig, {"width": "64", "map_every_s": "5"})
    assert cfg.channels == 64 and not hasattr(cfg, "map_every_s")
    assert S.build_model(cfg, 1)["encoder"].feat_dim == 256


def test_live_map_budget_keeps_evaluation_to_a_share_of_the_time(short_run):
    """The map, features and live probe come with the first snapshot, the final pretraining
    one, and in between at most every few seconds."""
    _, snaps = short_run
    pre = [s for s in snaps if s.artifacts.get("phase") == "pretraining"]
    steps = sorted({s.artifacts["map_step"] for s in pre})
    assert steps[0] == pre[0].step and steps[-1] == pre[-1].step
    assert len(steps) < len(pre) or len(pre) <= 2
    assert all(np.isfinite(s.metrics["live_probe_k10"]) for s in pre)


def test_bad_config_rejected():
    with pytest.raises(ValueError):
        config_from_strings(S.SimCLRConfig, {"temperature": "hot"})
    with pytest.raises(ValueError):
        config_from_strings(S.SimCLRConfig, {"batch_size": 7})


def test_an_unknown_evaluation_method_is_refused_by_name():
    from core.representation.simclr.evaluation import METHODS, few_label_eval_steps

    steps = few_label_eval_steps(None, None, None, None, None, None, methods=("probe", "knn"))
    with pytest.raises(ValueError, match=r"\['knn'\]"):
        next(steps)
    assert set(METHODS) == {"probe", "scratch", "pixels", "finetune"}
