"""Optimizers: every torch optimizer converges on the convex quadratic at a stable learning rate,
Distill's rates match the measured ones, the LR range test falls then diverges, the sweep and the
loss slice behave."""

import math

import numpy as np
import pytest
import torch

from core.foundations import optimizers as O

STABLE = {"lr_sgd": 0.1, "lr_momentum": 0.05, "lr_nesterov": 0.05, "lr_rmsprop": 0.03,
          "lr_adagrad": 0.5, "lr_adam": 0.05, "lr_adamw": 0.05}


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """The tiny models here run fastest on one thread (the test machine is shared)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def last(gen):
    return list(gen)[-1]


def test_every_optimizer_converges_on_the_convex_quadratic():
    cfg = O.RaceConfig(surface="quadratic", kappa=10.0, steps=300, animate_s=0, **STABLE)
    snap = last(O.train_race(cfg))
    assert snap.final
    start = float(O.surface("quadratic", 10.0).f(torch.tensor([cfg.x0, cfg.y0])))
    for name in O.OPTIMIZERS:
        assert snap.artifacts["diverged"][name] is None, name
        assert snap.metrics[f"loss_{name}"] < 1e-3 * start, (name, snap.metrics)


def test_gradient_descent_diverges_past_two_over_lambda_max():
    theory = O.quadratic_theory(10.0)
    assert theory["lr_max"] == pytest.approx(0.2)
    cfg = O.RaceConfig(surface="quadratic", kappa=10.0, steps=400, animate_s=0,
                       optimizers="sgd", lr_sgd=0.3)
    snap = last(O.train_race(cfg))
    assert snap.artifacts["diverged"]["sgd"] is not None
    assert "loss_sgd" not in snap.metrics  # a diverged racer drops out, the run does not fail
    row = snap.artifacts["analysis"][0]
    assert row["converges"] is False and row["theory_rate"] > 1


def test_measured_rates_match_distill():
    th = O.quadratic_theory(10.0)
    cfg = O.RaceConfig(surface="quadratic", kappa=10.0, steps=150, animate_s=0,
                       optimizers="sgd,momentum", lr_sgd=th["gd_lr"], lr_momentum=th["mom_lr"],
                       momentum=th["mom_beta"])
    rows = {r["optimizer"]: r for r in last(O.train_race(cfg)).artifacts["analysis"]}
    assert rows["SGD"]["theory_rate"] == pytest.approx(th["gd_rate"], abs=1e-9)
    assert rows["SGD"]["measured_rate"] == pytest.approx(th["gd_rate"], abs=0.01)
    assert rows["Momentum"]["theory_rate"] == pytest.approx(th["mom_rate"], abs=1e-6)
    # the momentum iteration matrix is defective at the optimum: the measured rate
    # approaches the theory from above (a polynomial factor k * rate^k)
    assert th["mom_rate"] - 0.01 < rows["Momentum"]["measured_rate"] < th["mom_rate"] + 0.06
    assert rows["Momentum"]["measured_rate"] < rows["SGD"]["measured_rate"]


def test_every_surface_runs_and_rejects_unknown_names():
    for name in O.SURFACES:
        s = O.surface(name)
        xs, ys, z = O.surface_grid(s, 20)
        assert z.shape == (20, 20) and np.isfinite(z).all()
        for m in s.minima:
            assert float(s.f(torch.tensor(m, dtype=torch.float64))) == pytest.approx(s.f_min,
                                                                                   abs=1e-4)
    with pytest.raises(ValueError, match="unknown surface"):
        O.surface("nope")
    with pytest.raises(ValueError, match="unknown optimizer"):
        O.RaceConfig(optimizers="adam,__import__")


def test_lr_range_test_falls_then_diverges():
    cfg = O.LrFinderConfig(steps=20, num_it=100)
    device = torch.device("cpu")
    torch.manual_seed(0)
    xtr, ytr, *_ = O.mnist_tensors(device, n_train=2000)
    model = O.mnist_net(cfg.hidden)
    opt = O.make_optimizer("adam", model.parameters(), cfg.start_lr)
    gen = torch.Generator().manual_seed(0)
    curve = list(O.range_test(model, opt, O.batches(xtr, ytr, 64, gen), cfg.start_lr,
                              cfg.end_lr, cfg.num_it))
    lrs, losses = np.array(curve).T
    assert lrs[0] == pytest.approx(1e-7)
    assert losses.min() < losses[0] - 0.3           # falls ... (β = 0.98 smooths a lot)
    assert losses[-1] > losses.min() + 0.3         # ... then rises again (divergence)
    assert lrs[np.argmin(losses)] < lrs[-1]
    sugg = O.suggestions(lrs, losses)
    assert set(sugg) == set(O.RULES)
    for rule, lr in sugg.items():
        assert 1e-5 < lr < lrs[-1], (rule, lr)


def test_suggestions_follow_fastai_on_a_known_curve():
    lrs = np.geomspace(1e-7, 10, 100)
    x = np.log10(lrs)
    losses = 2.3 - 2.0 / (1 + np.exp(-(x + 3) * 3)) + np.exp(np.clip(x, -10, 2) * 3) * 0.001
    sugg = O.suggestions(lrs, losses)
    assert sugg["steep"] == pytest.approx(1e-3, rel=0.3)  # the logistic falls fastest at 1e-3
    assert sugg["minimum"] == pytest.approx(lrs[10:95][np.argmin(losses[10:95])] / 10)
    with pytest.raises(ValueError, match="too early"):
        O.suggestions(lrs[:20], losses[:20])


def test_sweep_scores_every_optimizer_and_momentum_beats_sgd_when_ill_conditioned():
    cfg = O.SweepConfig(surface="quadratic", kappa=100.0, steps=100, n_lrs=5, n_starts=3,
                        lr_lo=1e-3, lr_hi=1.0)
    snap = last(O.train_sweep(cfg))
    assert snap.final
    assert len(snap.artifacts["table"]) == len(O.OPTIMIZERS) * 5
    assert snap.metrics["best_auc_momentum"] < snap.metrics["best_auc_sgd"] - 0.5
    diverged = [r for r in snap.artifacts["table"] if r["optimizer"] == "SGD" and r["lr"] == 1.0]
    assert math.isinf(diverged[0]["final_gap"])  # lr 1 > 2/100: SGD diverges


def test_filter_normalization_and_projection():
    torch.manual_seed(0)
    ref = O.mnist_net(16)
    d = O.filter_normalize(torch.randn(O.flat(ref).numel()), ref)
    w = ref[0].weight.detach()
    chunk = d[:w.numel()].view_as(w)
    assert torch.allclose(chunk.norm(dim=1), w.norm(dim=1), rtol=1e-4)
    assert d[w.numel():w.numel() + 16].abs().sum() == 0  # biases are ignored
    w0 = O.flat(ref)
    dirs = torch.stack([d, O.filter_normalize(torch.randn_like(d), ref)])
    path = w0 + torch.tensor([[0.5, -1.0], [2.0, 0.25]]) @ dirs
    assert np.allclose(O.project(path, w0, dirs), [[0.5, -1.0], [2.0, 0.25]], atol=1e-4)


def test_landscape_trains_and_slices():
    cfg = O.LandscapeConfig(optimizers="sgd,adam", steps=40, grid=9)
    snap = last(O.train_landscape(cfg))
    assert snap.final and snap.metrics["test_acc"] > 0.5
    coords, z = snap.artifacts["slice"]
    assert z.shape == (9, 9) and np.isfinite(z).all()
    center = z[4, 4]
    assert center == pytest.approx(math.log(10), abs=0.2)  # the untrained start: chance
    for p in snap.artifacts["paths"].values():
        assert np.allclose(p[0], 0, atol=1e-6) and np.abs(p[-1]).max() > 0


def test_momentum_zero_races_nesterov_as_plain_sgd():
    """β = 0 from the slider: Nesterov is SGD (torch alone refuses it) and the race still runs."""
    cfg = O.RaceConfig(surface="quadratic", optimizers="sgd,nesterov", momentum=0.0, steps=50,
                       lr_sgd=0.1, lr_nesterov=0.1, animate_s=0.0)
    snap = last(O.train_race(cfg))
    paths = snap.artifacts["paths"]
    np.testing.assert_allclose(paths["nesterov"], paths["sgd"], rtol=1e-5, atol=1e-6)
