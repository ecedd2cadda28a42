"""Gumbel-max is exact, the relaxation stays finite, straight-through is one-hot, the trainers
learn (fixed seeds, short runs)."""

import math

import numpy as np
import pytest
import torch

from core.vision import gumbel as gb


def test_gumbel_max_frequencies_match_softmax_within_sampling_error():
    logits = torch.tensor([1.5, 0.0, -0.5, 2.0, -3.0])
    n = 40_000
    freq = gb.gumbel_max_frequencies(logits, n=n, seed=0)
    p = logits.softmax(-1).numpy()
    se = np.sqrt(p * (1 - p) / n)
    assert np.all(np.abs(freq - p) < 4 * se + 1e-4), (freq, p)


def test_straight_through_samples_are_exactly_one_hot_with_soft_gradients():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(256, 6, generator=gen).requires_grad_(True)
    g = gb.sample_gumbel((256, 6), torch.Generator().manual_seed(1))
    y = gb.gumbel_softmax(logits, 0.5, hard=True, gumbels=g)
    assert set(y.detach().unique().tolist()) == {0.0, 1.0}
    assert torch.equal(y.detach().sum(-1), torch.ones(256))
    w = torch.randn(6, generator=gen)
    (grad_hard,) = torch.autograd.grad((y * w).sum(), logits)
    y_soft = gb.gumbel_softmax(logits, 0.5, hard=False, gumbels=g)
    (grad_soft,) = torch.autograd.grad((y_soft * w).sum(), logits)
    assert torch.allclose(grad_hard, grad_soft) and grad_hard.abs().sum() > 0
    assert torch.equal(y.detach().argmax(-1), (logits + g).argmax(-1))  # a Gumbel-max sample


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("tau", [1e-30, 1e-8, 1e-3, 0.01, 1.0, 1e4, 1e30])
def test_gumbel_softmax_is_finite_for_every_tau(dtype, tau):
    logits = torch.tensor([[30.0, -30.0, 0.0, 5.0], [0.0, 0.0, 0.0, 0.0]], dtype=dtype)
    logits.requires_grad_(True)
    for hard in (False, True):
        y = gb.gumbel_softmax(logits, tau, hard, generator=torch.Generator().manual_seed(0))
        assert y.dtype == dtype and torch.isfinite(y).all()
        assert torch.allclose(y.float().sum(-1), torch.ones(2), atol=1e-2)
        (grad,) = torch.autograd.grad((y.float() * torch.arange(4.0)).sum(), logits)
        assert torch.isfinite(grad).all()
    assert torch.isfinite(gb.gumbel_log_softmax(logits, tau).exp()).all()


def test_bad_tau_raises_a_clear_error():
    for tau in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="tau"):
            gb.gumbel_softmax(torch.zeros(3), tau)


def test_tau_limits_one_hot_and_uniform():
    logits = torch.tensor([1.0, 0.0, -1.0])
    cold = gb.relaxed_samples(logits, 1e-3, n=200)
    assert (cold.max(-1) > 0.999).all()
    hot = gb.relaxed_samples(logits, 1e3, n=200)
    assert np.allclose(hot, 1 / 3, atol=0.01)


def test_estimator_bias_and_variance_behave_as_the_theory_says():
    logits, target = torch.tensor([1.0, 0.0, -1.0]), torch.tensor([0.45, 0.3, 0.25])
    s = gb.estimator_stats(logits, target, [0.1, 1.0, 5.0], n=3000, seed=0)
    # REINFORCE is unbiased: its error is sampling noise only
    assert np.all(s["reinforce_bias"] < 4 * np.sqrt(s["reinforce_var"] / 3000) + 1e-3)
    # the relaxation's variance grows as tau falls (gradients scale like 1/tau)
    assert s["relaxed_var"][0] > 10 * s["relaxed_var"][2]
    # at moderate tau the relaxed and straight-through estimators are clearly biased
    sampling = 4 * np.sqrt(s["relaxed_var"][1] / 3000)
    assert s["relaxed_bias"][1] > sampling and s["straight_through_bias"][1] > sampling


def test_annealing_reaches_the_final_temperature():
    assert gb.tau_at(0, 100, 2.0, 0.5, True) == 2.0
    assert gb.tau_at(100, 100, 2.0, 0.5, True) == pytest.approx(0.5)
    assert gb.tau_at(50, 100, 2.0, 0.5, False) == 2.0
    with pytest.raises(ValueError, match="final τ"):
        gb.ClassifierConfig(anneal=True, tau=0.5, tau_min=1.0)


def test_softmax_and_gumbel_classifiers_both_learn():
    cfg = gb.ClassifierConfig(steps=80, channels=8, batch_size=32, lr=3e-3, seed=0)
    last = list(gb.train_classifier(cfg))[-1]
    m = last.metrics
    assert last.final and m["test_acc"] > 0.5 and m["test_acc_softmax"] > 0.5  # chance: 0.1
    assert last.artifacts["probs"].shape == (2, 10)
    hard = gb.ClassifierConfig(steps=80, channels=8, batch_size=32, lr=3e-3, hard=True,
                               anneal=True, tau=2.0, tau_min=0.5)
    m = list(gb.train_classifier(hard))[-1].metrics
    assert m["test_acc"] > 0.3 and m["tau"] == pytest.approx(0.5)


def test_categorical_vae_elbo_falls_and_switching_a_variable_decodes():
    cfg = gb.VaeConfig(steps=120, n_latents=8, n_classes=4, hidden=64, lr=3e-3)
    snaps = list(gb.train_vae(cfg))
    first = snaps[0]  # step 0, evaluated before any update (the training means vary with timing)
    assert first.step == 0 and "test_neg_elbo" in first.metrics
    assert snaps[-1].metrics["test_neg_elbo"] < 0.8 * first.metrics["test_neg_elbo"]
    model, codes = snaps[-1].model, snaps[-1].artifacts["codes"]
    assert codes.shape == (8, 8)
    grid = gb.switch_variable(model, codes[0], 3)
    assert grid.dtype == np.uint8 and grid.shape[1] > grid.shape[0]  # one row of K images
    with pytest.raises(ValueError):
        gb.switch_variable(model, codes[0], 8)
