"""The ViT and its size-matched CNN learn; rollout, probes and tokenisers do what they say."""

import pytest
import torch

from core.vision import vit as V


def test_vit_and_cnn_both_learn_well_above_chance():
    cfg = V.VitConfig(steps=120, d_model=32, n_layers=2, n_heads=2, batch_size=32, lr=3e-3)
    last = list(V.train(cfg))[-1]
    m = last.metrics
    assert last.final and m["test_acc"] > 0.4 and m["test_acc_cnn"] > 0.4  # chance: 0.1
    p = last.artifacts["params"]
    assert abs(p["vit"] - p["cnn"]) / p["vit"] < 0.1  # about the same size
    assert last.artifacts["attention"].shape == (2, 2, 4, 4)
    assert last.artifacts["rollout"].shape == (4, 4)
    assert last.artifacts["rollout"].sum() == pytest.approx(1.0, abs=1e-4)
    assert last.artifacts["pos_similarity"].shape == (4, 4, 4, 4)
    for k in ("shift_acc_vit", "shift_acc_cnn", "shuffle_acc_vit", "shuffle_acc_cnn"):
        assert 0.0 <= m[k] <= 1.0


@pytest.mark.parametrize("kw", [dict(tokenizer="shifted_patch", pool="mean",
                                     pos_embedding="sinusoidal", patch_size=4),
                                dict(tokenizer="conv_stem", pos_embedding="none", patch_size=8),
                                dict(tokenizer="shifted_patch", locality=True, patch_size=7)])
def test_every_tokeniser_and_pooling_runs(kw):
    cfg = V.VitConfig(d_model=32, n_layers=1, n_heads=2, **kw)
    vit, conv = V.build_models(cfg, (1, 28, 28), 10)
    x = torch.rand(3, 1, 28, 28)
    logits, maps = vit(x, need_weights=True)
    assert logits.shape == (3, 10) and conv(x).shape == (3, 10)
    g = vit.grid[0]
    assert maps[0].shape == (3, 2, g * g + (cfg.pool == "cls"), g * g + (cfg.pool == "cls"))
    views = V.cls_views(vit, x[:1])
    assert views["attention"].shape == (1, 2, g, g)
    if cfg.locality:  # Lee et al.'s SPT + LSA: no token attends to itself
        assert torch.all(maps[0].diagonal(dim1=-2, dim2=-1) == 0)


def test_without_position_embeddings_a_mean_pooled_vit_ignores_patch_order():
    cfg = V.VitConfig(d_model=32, n_layers=2, n_heads=2, pos_embedding="none", pool="mean")
    vit, _ = V.build_models(cfg, (1, 28, 28), 10)
    x = torch.rand(4, 1, 28, 28)
    shuffled = V.shuffle_patches(x, 7, torch.Generator().manual_seed(0))
    assert not torch.equal(x, shuffled)
    assert torch.equal(x.flatten(1).sort(1).values, shuffled.flatten(1).sort(1).values)
    vit.eval()
    assert torch.allclose(vit(x)[0], vit(shuffled)[0], atol=1e-5)


def test_rollout_rows_are_distributions_and_identity_attention_is_identity():
    T = 5
    maps = [torch.softmax(torch.randn(2, T, T), -1) for _ in range(3)]
    r = V.attention_rollout(maps)
    assert torch.allclose(r.sum(-1), torch.ones(T), atol=1e-5)
    assert torch.allclose(V.attention_rollout([torch.eye(T)[None]] * 2), torch.eye(T))


def test_shift_moves_content_and_sinusoids_are_distinct():
    x = torch.zeros(1, 1, 8, 8)
    x[0, 0, 4, 4] = 1
    y = V.shift_images(x, 2, torch.Generator().manual_seed(3))
    assert y.sum() == 1
    pe = V.sinusoidal_2d(4, 32)
    sims = torch.nn.functional.normalize(pe, dim=-1) @ torch.nn.functional.normalize(pe, dim=-1).T
    assert (sims - torch.eye(16)).max() < 0.999


def test_data_fraction_keeps_that_share_of_the_training_set():
    full = V.load_split(V.VitConfig(), torch.device("cpu"))
    quarter = V.load_split(V.VitConfig(data_fraction=0.25), torch.device("cpu"))
    assert len(quarter[0]) == round(0.25 * len(full[0]))
    assert len(quarter[2]) == len(full[2])  # the test set is never cut
