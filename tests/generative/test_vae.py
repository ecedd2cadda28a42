"""Core tests of the VAE and the plain-autoencoder (AE) baseline (fixed seeds, small configs)."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from core.blocks.projection import pca_2d
from core.data import load_images
from core.generative.vae import (
    AE,
    MANIFOLD_N,
    VAE,
    AEConfig,
    VaeConfig,
    decode_images,
    evaluate_vae,
    kl_std_normal,
    make_optimizer,
    posterior_logvar,
    prior_quantile_grid,
    recon_nll,
    train,
    train_ae,
    vae_loss,
    weight_averages,
)
from core.protocol import config_from_strings, ema_decay_at


def run(cfg, trainer=train):
    snaps = list(trainer(cfg))
    assert snaps[-1].final
    return snaps


@pytest.fixture(scope="module")
def mlp16():
    """VAE and AE side by side: MLP nets, 16-d latent, 8 epochs of the 4,000 bundled digits."""
    torch.set_num_threads(1)
    cfg = VaeConfig(architecture="mlp", latent_dim=16, epochs=8, batch_size=64, seed=0,
                    device="cpu")
    return run(cfg)


def test_neg_elbo_falls_well_below_step_zero(mlp16):
    first, last = mlp16[0].metrics, mlp16[-1].metrics
    assert mlp16[0].step == 0
    assert first["neg_elbo"] > 400  # an untrained decoder: about 784 * log 2 nats minus a bit
    assert last["neg_elbo"] < 0.35 * first["neg_elbo"], (first["neg_elbo"], last["neg_elbo"])
    assert last["neg_elbo"] < 150
    assert last["neg_elbo"] == pytest.approx(last["recon"] + last["kl"], rel=1e-6)
    assert last["kl"] > 1.0  # the code carries information


def test_ae_reconstructs_better_but_vae_samples_are_better(mlp16):
    """Theory: the AE has no KL price, so it reconstructs better at equal latent size; but its
    codes do not fill N(0, I), so decoding prior samples gives worse images than the VAE's."""
    from core.blocks.image_metrics import confident_share

    last = mlp16[-1]
    assert last.metrics["ae_recon"] < last.metrics["recon"] - 5.0
    nets = last.model
    z = torch.randn(500, 16, generator=torch.Generator().manual_seed(1))
    vae_s, ae_s = decode_images(nets["vae"], z), decode_images(nets["ae"], z)
    assert vae_s.shape == (500, 1, 28, 28) and vae_s.min() >= 0 and vae_s.max() <= 1
    assert torch.equal(ae_s, torch.sigmoid(nets["ae"].decode(z)))
    vae_share, ae_share = confident_share(vae_s), confident_share(ae_s)
    assert vae_share > ae_share + 0.1, (vae_share, ae_share)


def test_snapshot_artifacts(mlp16):
    art = mlp16[-1].artifacts
    assert art["recon_pairs"].dtype == np.uint8 and art["recon_rows"] == ["input", "VAE", "AE"]
    lat = art["vae_latent"]
    assert lat["pca"] and lat["z"].shape == (1000, 2) and lat["prior"].shape == (32, 2)
    assert "vae_manifold" not in art  # only for a 2-D latent
    assert {"train_neg_elbo", "ae_train_recon", "vae_confident_share",
            "ae_confident_share"} <= set(mlp16[-1].metrics)
    assert set(mlp16[-1].model.keys()) == {"vae", "ae"}


def test_conv_2d_latent_manifold_and_ae_demo():
    torch.set_num_threads(1)
    snaps = run(VaeConfig(latent_dim=2, epochs=1, batch_size=256, baseline=False, device="cpu"))
    art = snaps[-1].artifacts
    assert art["vae_manifold"].shape == (MANIFOLD_N * 28, MANIFOLD_N * 28)
    assert not art["vae_latent"]["pca"] and "ae_samples" not in art
    assert snaps[-1].metrics["neg_elbo"] < snaps[0].metrics["neg_elbo"] - 100
    ae = run(AEConfig(architecture="mlp", epochs=1, batch_size=128, device="cpu"), train_ae)
    assert ae[-1].metrics["recon"] < ae[0].metrics["recon"] - 100
    assert ae[-1].artifacts["recon_rows"] == ["input", "AE"]
    assert "train_recon" in ae[-1].metrics and "ae_samples" in ae[-1].artifacts


def test_losses_match_their_definitions():
    torch.manual_seed(0)
    mu, logvar = torch.randn(4, 3), torch.randn(4, 3) * 0.5
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros(3), torch.ones(3))
    ref = torch.distributions.kl_divergence(q, p).sum(1)
    assert torch.allclose(kl_std_normal(mu, logvar), ref, atol=1e-5)
    x = torch.rand(2, 1, 28, 28)
    logits = torch.zeros_like(x)  # p = 0.5 everywhere: -log p(x|z) = 784 log 2 for any x
    assert torch.allclose(recon_nll(logits, x), torch.full((2,), 784 * np.log(2)), atol=1e-3)


def test_vae_loss_parts_and_beta():
    torch.manual_seed(0)
    model, x = VAE((1, 28, 28), 4, "mlp"), torch.rand(8, 1, 28, 28)
    torch.manual_seed(1)
    loss1, parts = vae_loss(model, x, beta=1.0)
    assert float(parts["neg_elbo"]) == pytest.approx(float(parts["recon"] + parts["kl"]))
    assert loss1.item() == pytest.approx(float(parts["neg_elbo"]), rel=1e-5)
    torch.manual_seed(1)  # the same z sample: beta only scales the KL term of the loss
    loss0, _ = vae_loss(model, x, beta=0.0)
    assert loss0.item() == pytest.approx(float(parts["recon"]), rel=1e-5)


def test_old_links_keep_their_settings():
    assert config_from_strings(VaeConfig, {"width": "32"}).channels == 32
    assert config_from_strings(AEConfig, {"width": "8"}).channels == 8


def test_shapes_and_gradient_through_sampling():
    for arch in ("conv", "mlp"):
        vae, ae = VAE((1, 28, 28), 4, arch), AE((3, 32, 32), 4, arch)
        logits, mu, logvar = vae(torch.rand(5, 1, 28, 28))
        assert logits.shape == (5, 1, 28, 28) and mu.shape == logvar.shape == (5, 4)
        assert ae(torch.rand(2, 3, 32, 32)).shape == (2, 3, 32, 32)
        logits.sum().backward()  # the reparameterization trick lets gradients reach the encoder
        assert next(vae.encoder.parameters()).grad.abs().sum() > 0


def test_prior_grid_and_pca():
    g = prior_quantile_grid(5)
    assert g.shape == (25, 2) and g[0, 0] < 0 < g[0, 1]  # top-left: low z1, high z2
    z = np.random.default_rng(0).normal(size=(100, 5)) * [5, 2, 1, 1, 1]
    (proj, other), _ = pca_2d(z, z[:3])
    assert proj.shape == (100, 2) and np.allclose(proj[:3], other)
    assert proj[:, 0].var() > proj[:, 1].var()


def test_bad_settings_are_rejected_with_a_message():
    with pytest.raises(ValueError, match="latent_dim"):
        config_from_strings(VaeConfig, {"latent_dim": "64"})
    with pytest.raises(ValueError, match="beta"):
        config_from_strings(VaeConfig, {"beta": "lots"})


def test_cli_writes_metrics(tmp_path):
    from core.__main__ import main

    main(["train", "ae", "--set", "architecture=mlp", "--set", "epochs=1", "--set",
          "batch_size=256", "--out", str(tmp_path), "--quiet"])
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert "recon" in rows[-1] and rows[-1]["recon"] < rows[0]["recon"]
    assert (tmp_path / "ae_samples.png").exists() and (tmp_path / "model.pt").exists()


def test_weight_average_warms_up_then_keeps_the_decay():
    """EMA with the warmed-up decay min(decay, (1 + n) / (10 + n)): the first update copies the
    weights, the second moves 9/11 of the way to the new weights, late ones use ``decay``."""
    assert weight_averages({"vae": VAE((1, 28, 28), 2, "mlp")}, 0.0) == {}
    assert float(ema_decay_at(0.999, torch.tensor(1))) == pytest.approx(2 / 11)
    assert float(ema_decay_at(0.999, torch.tensor(10**6))) == pytest.approx(0.999)
    model = nn.Linear(3, 2)
    avg = weight_averages({"m": model}, 0.999)["m"]
    w0 = model.weight.detach().clone()
    avg.update_parameters(model)  # n = 0: a copy
    assert torch.equal(avg.module.weight, w0)
    with torch.no_grad():
        model.weight.add_(1.0)
    avg.update_parameters(model)  # n = 1: decay 2/11
    assert torch.allclose(avg.module.weight, w0 + 9 / 11, atol=1e-6)


@pytest.fixture(scope="module")
def ema_pair():
    """The same run (MLP, softplus std, lr 3e-3, batch 32, 3 epochs: noisy weights), with and
    without the weight average; the raw weights follow the same path in both. (The conv nets
    need thousands of steps before the average pays: ``bench/results/vae.md``.)"""
    torch.set_num_threads(1)
    kw = dict(architecture="mlp", latent_dim=8, posterior_std="softplus", lr=3e-3,
              batch_size=32, epochs=3, baseline=False, seed=0, device="cpu")
    return run(VaeConfig(**kw)), run(VaeConfig(**kw, ema_decay=0.999))


def test_weight_average_generalizes_better_than_the_raw_weights(ema_pair):
    raw, ema = ema_pair[0][-1].metrics, ema_pair[1][-1].metrics
    assert raw["neg_elbo"] < 200  # both learned
    assert ema["neg_elbo"] < raw["neg_elbo"] - 2.0, (ema["neg_elbo"], raw["neg_elbo"])


def test_snapshots_carry_the_weight_average(ema_pair):
    raw_model, ema_model = ema_pair[0][-1].model["vae"], ema_pair[1][-1].model["vae"]
    assert type(ema_model) is VAE and ema_model.posterior_std == "softplus"
    assert not torch.equal(raw_model.decoder.net[0].weight, ema_model.decoder.net[0].weight)
    x = load_images("mnist", "test").x[:500]
    assert evaluate_vae(ema_model, x)["neg_elbo"] < evaluate_vae(raw_model, x)["neg_elbo"]


def test_softplus_posterior_std_and_no_hidden_layer():
    h = torch.tensor([[-30.0, 0.0, 50.0]])
    std = torch.exp(0.5 * posterior_logvar(h, "softplus"))
    assert torch.allclose(std, torch.nn.functional.softplus(h) + 1e-6, rtol=1e-5)
    assert float(std[0, 2]) == pytest.approx(50.0)  # linear growth: exp(h / 2) would be 7e10
    assert torch.equal(posterior_logvar(h, "exp"), h)
    with pytest.raises(ValueError, match="posterior_std"):
        VAE((1, 28, 28), 4, posterior_std="relu")
    with pytest.raises(ValueError, match="posterior_std"):
        config_from_strings(VaeConfig, {"posterior_std": "relu"})
    plain, deep = VAE((1, 28, 28), 4, channels=8, hidden=0), VAE((1, 28, 28), 4, channels=8)
    widths = [m.out_features for m in plain.encoder.modules() if isinstance(m, nn.Linear)]
    assert widths == [8] and len(plain.encoder.net) == 6  # convs straight to (mu, h)
    assert sum(p.numel() for p in plain.parameters()) < sum(p.numel() for p in deep.parameters())
    logits, mu, logvar = plain(torch.rand(3, 1, 28, 28))
    assert logits.shape == (3, 1, 28, 28) and logvar.shape == (3, 4)


def test_cli_trains_the_recipe(tmp_path):
    from core.__main__ import main

    main(["train", "vae", "--set", "hidden_fc=false", "--set", "posterior_std=softplus",
          "--set", "ema_decay=0.999", "--set", "epochs=1", "--set", "batch_size=256", "--set",
          "baseline=false", "--out", str(tmp_path), "--quiet"])
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["neg_elbo"] < rows[0]["neg_elbo"] - 100


def test_weight_decay_makes_adamw_shrink_the_weights():
    x = load_images("mnist", "train").x[:64]
    norms = {}
    for decay in (0.0, 0.5):
        cfg = VaeConfig(architecture="mlp", latent_dim=4, lr=1e-2, weight_decay=decay,
                        adam_beta2=0.99)
        torch.manual_seed(0)
        model = VAE((1, 28, 28), 4, "mlp")
        opt = make_optimizer(cfg, model)
        assert type(opt) is (torch.optim.AdamW if decay else torch.optim.Adam)
        assert opt.defaults["betas"] == (0.9, 0.99)
        for _ in range(30):
            loss, _ = vae_loss(model, x)
            opt.zero_grad()
            loss.backward()
            opt.step()
        norms[decay] = torch.cat([p.detach().flatten() for p in model.parameters()]).norm()
    assert norms[0.5] < 0.97 * norms[0.0], norms
