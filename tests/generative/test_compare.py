"""Core tests for GAN vs VAE vs AE (core/generative/compare.py): real nearest neighbours, a
fair shared budget, every metric of the page."""

import numpy as np
import pytest
import torch

from core.data import load_images
from core.generative import compare as C


def test_nearest_train_is_the_exact_nearest_neighbour():
    train = load_images("mnist", "train").x[:1500]
    test = load_images("mnist", "test").x[:40]
    dist, idx = C.nearest_train(test, train, chunk=512)  # several chunks
    brute = torch.cdist(test.flatten(1), train.flatten(1))
    assert torch.equal(idx, brute.argmin(1))
    assert torch.allclose(dist, brute.min(1).values, atol=1e-3)
    # a training image is its own nearest neighbour, at distance 0
    d0, i0 = C.nearest_train(train[[7, 300]], train)
    assert i0.tolist() == [7, 300] and float(d0.max()) < 1e-2
    d, grid = C.memorisation(test[:10], train, n_show=4)
    assert d.shape == (10,) and grid.dtype == np.uint8 and grid.shape[1] > grid.shape[0]


def test_batches_are_shared_and_the_least_used_model_trains_next():
    a = C.batch_indices(5, 4000, 64, seed=0)
    assert torch.equal(a, C.batch_indices(5, 4000, 64, seed=0)) and len(a) == 64
    epoch = torch.cat([C.batch_indices(i, 200, 64, seed=0) for i in range(4)])
    assert sorted(epoch.tolist()) == list(range(200))  # one epoch is a permutation
    seen = {"ae": 10, "vae": 6, "gan": 9}
    assert C.pick_model({"ae": 1.0, "vae": 0.5, "gan": 0.7}, seen, None) == "vae"
    # with batches pinned: the model furthest from its target, None once all reached theirs
    assert C.pick_model({"ae": 1.0, "vae": 0.5, "gan": 0.7}, seen,
                        {"ae": 20, "vae": 6, "gan": 10}) == "ae"
    assert C.pick_model(dict.fromkeys(C.MODELS, 0.0), seen, seen) is None


def test_pinned_batches_repeat_a_wall_clock_run_exactly():
    """The bundle of a wall-clock run pins each model's batches; that config trains each model
    on exactly those batches and ends with the same numbers, however the steps interleave."""
    cfg = C.GanVaeAeConfig(seconds=3, channels=8, latent_dim=4, batch_size=16, device="cpu")
    last = list(C.train(cfg))[-1]
    pinned = cfg.reproducible(last.metrics)
    assert pinned.batches == ",".join(str(int(last.metrics[f"steps_{m}"])) for m in C.MODELS)
    again = list(C.train(pinned))[-1].metrics
    # the final evaluation, and the loss means of the models trained since the last snapshot
    keys = {"steps_ae", "steps_vae", "steps_gan", "fid_ae", "fid_vae", "fid_gan", "recon_ae",
            "recon_vae", "nn_dist_gan"} | (again.keys() & last.metrics.keys() & {
            "loss_ae", "loss_vae", "loss_d", "loss_g"})
    for k in sorted(keys):
        assert again[k] == pytest.approx(last.metrics[k], rel=1e-5), k
    assert pinned.reproducible(again) is pinned  # already pinned
    with pytest.raises(ValueError, match="whole numbers"):
        C.GanVaeAeConfig(batches="10,x,3")


def test_three_models_train_side_by_side_with_every_metric():
    cfg = C.GanVaeAeConfig(seconds=3, channels=8, latent_dim=8, batch_size=32, device="cpu")
    snaps = list(C.train(cfg))
    first, last = snaps[0], snaps[-1]
    assert last.final and last.step == 30 and last.total_steps == 30
    m = last.metrics
    for k in C.MODELS:
        assert m[f"steps_{k}"] > 0, m
        assert 0 <= m[f"sure_{k}"] <= 1 and m[f"fid_{k}"] > 0
        assert last.artifacts[f"nn_{k}"].shape == (C.N_MEM,)
        assert last.artifacts[f"samples_{k}"].dtype == np.uint8
    assert "recon_gan" not in m and m["recon_vae"] > 0 and m["recon_ae"] > 0
    # held-out real images are new: none sits on a training image
    assert m["nn_dist_test"] > 1.0 and last.artifacts["nn_test"].min() > 0.5
    assert first.step == 0 and "fid_ae" in first.metrics  # untrained models, judged at once
    assert last.artifacts["fid_note"] is None and last.artifacts["data_note"] is None


def test_each_model_learns_from_the_shared_batches():
    torch.manual_seed(0)
    cfg = C.GanVaeAeConfig(channels=8, latent_dim=8, device="cpu")
    x = load_images("mnist", "train").x
    models = C.make_models(cfg, (1, 28, 28), torch.device("cpu"))
    opts = C.make_optimizers(cfg, models)
    held = load_images("mnist", "test").x[:300]
    before = {k: C.held_out_recon(models[k], held) for k in ("ae", "vae")}
    for i in range(40):
        xb = x[C.batch_indices(i, len(x), 32, seed=0)]
        for k in ("ae", "vae") if i < 38 else C.MODELS:
            out = C.train_step(k, models[k], opts, xb)
    after = {k: C.held_out_recon(models[k], held) for k in ("ae", "vae")}
    assert after["ae"] < 0.85 * before["ae"] and after["vae"] < 0.85 * before["vae"], (before, after)
    assert np.isfinite(float(out["loss_d"])) and np.isfinite(float(out["loss_g"]))
    samples = C.decode(models["gan"], torch.randn(16, 8))
    assert samples.shape == (16, 1, 28, 28) and samples.min() >= 0 and samples.max() <= 1
