"""core.blocks.attention: one attention for every sequence model. The explicit path (which
returns the weights) and the fused scaled_dot_product_attention path agree; masks do what they
say; the weights are distributions."""

import math

import pytest
import torch

from core.blocks.attention import Block, MultiHeadAttention, attention_mask, gpt2_init_


@pytest.fixture
def mha():
    torch.manual_seed(0)
    return MultiHeadAttention(16, 4).eval()


def test_explicit_and_fused_paths_agree(mha):
    x, mem = torch.randn(3, 7, 16), torch.randn(3, 5, 16)
    pad = torch.zeros(3, 7, dtype=torch.bool)
    pad[1, :3] = True  # left padding
    for kw in ({}, {"causal": True}, {"key_padding_mask": pad},
               {"causal": True, "key_padding_mask": pad}, {"memory": mem}):
        y_explicit, w = mha(x, need_weights=True, **kw)
        y_fused, none = mha(x, **kw)
        assert none is None and w is not None
        assert torch.allclose(y_explicit, y_fused, atol=1e-5), kw


def test_weights_are_distributions_and_follow_the_formula(mha):
    x = torch.randn(2, 6, 16)
    _, w = mha(x, causal=True, need_weights=True)
    assert w.shape == (2, 4, 6, 6)
    assert torch.allclose(w.sum(-1), torch.ones(2, 4, 6))
    q, k, _ = mha.qkv(x)
    scores = q @ k.transpose(-2, -1) / math.sqrt(4)
    scores = scores.masked_fill(torch.ones(6, 6, dtype=torch.bool).triu(1), float("-inf"))
    assert torch.allclose(w, scores.softmax(-1), atol=1e-6)


def test_causal_mask_blocks_the_future(mha):
    x = torch.randn(1, 8, 16)
    y, w = mha(x, causal=True, need_weights=True)
    assert torch.all(w.triu(1) == 0) and torch.all(w[..., 0, 0] == 1)
    x2 = x.clone()
    x2[:, 5:] += 3.0  # change the future: outputs before position 5 must not move
    for need in (True, False):
        y2, _ = mha(x2, causal=True, need_weights=need)
        assert torch.allclose(y[:, :5], y2[:, :5], atol=1e-6)
        assert not torch.allclose(y[:, 5:], y2[:, 5:], atol=1e-3)


def test_padding_is_ignored_and_no_row_is_empty(mha):
    x = torch.randn(1, 6, 16)
    pad = torch.tensor([[True, True, False, False, False, False]])
    y, w = mha(x, causal=True, key_padding_mask=pad, need_weights=True)
    assert torch.isfinite(y).all()
    assert torch.all(w[0, :, 2:, :2] == 0)  # real tokens never look at padding
    assert torch.allclose(w[0, :, 1, 1], torch.ones(4))  # a padded query sees itself only
    x2 = x.clone()
    x2[:, :2] = torch.randn(1, 2, 16)  # what the padding holds does not matter
    y2, _ = mha(x2, causal=True, key_padding_mask=pad)
    assert torch.allclose(y[:, 2:], y2[:, 2:], atol=1e-6)
    assert attention_mask(3, 3) is None


def test_cross_attention_reads_the_memory():
    torch.manual_seed(0)
    block = Block(16, 2, mlp_ratio=2, cross_attention=True).eval()
    x, mem = torch.randn(2, 4, 16), torch.randn(2, 9, 16)
    y, w = block(x, mem, need_weights=True)
    assert y.shape == (2, 4, 16) and w.shape == (2, 2, 4, 9)
    assert torch.allclose(w.sum(-1), torch.ones(2, 2, 4))
    y2, _ = block(x, mem + 1.0)
    assert not torch.allclose(y, y2, atol=1e-3)
    assert block.mlp.c_fc.out_features == 32


def test_block_options_and_gpt2_init():
    block = Block(32, 4, activation="relu")
    assert isinstance(block.mlp.act, torch.nn.ReLU) and block.mlp.c_fc.out_features == 128
    with pytest.raises(ValueError, match="activation"):
        Block(32, 4, activation="tanh")
    with pytest.raises(ValueError, match="divisible"):
        MultiHeadAttention(30, 4)
    torch.manual_seed(0)
    layers = torch.nn.ModuleList(Block(64, 4) for _ in range(8))
    gpt2_init_(layers, n_layers=8)
    assert layers[0].attn.c_attn.weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert layers[0].attn.c_proj.weight.std().item() == pytest.approx(0.02 / 4, rel=0.1)
    assert layers[0].mlp.c_proj.weight.std().item() == pytest.approx(0.02 / 4, rel=0.1)
    assert layers[0].attn.c_attn.bias.abs().sum() == 0
    assert torch.all(layers[0].ln_1.weight == 1)


def test_locality_self_attention_masks_the_diagonal_and_learns_its_temperature():
    """LSA (Lee et al. 2021): no token attends to itself, the temperature starts at sqrt(d_head)
    and is a trained parameter, and both paths agree."""
    torch.manual_seed(0)
    lsa = MultiHeadAttention(16, 4, locality=True).eval()
    x = torch.randn(2, 6, 16)
    y, w = lsa(x, need_weights=True)
    assert torch.all(w.diagonal(dim1=-2, dim2=-1) == 0)
    assert torch.allclose(w.sum(-1), torch.ones(2, 4, 6))
    assert torch.exp(lsa.log_temperature).item() == pytest.approx(2.0)  # sqrt(16 / 4)
    with torch.no_grad():
        lsa.log_temperature.fill_(math.log(0.5))  # a sharper softmax: both paths follow it
    y_explicit, w = lsa(x, need_weights=True)
    q, k, _ = lsa.qkv(x)
    scores = (q @ k.transpose(-2, -1) / 0.5).masked_fill(torch.eye(6, dtype=torch.bool), -1e9)
    assert torch.allclose(w, scores.softmax(-1), atol=1e-6)
    assert torch.allclose(y_explicit, lsa(x)[0], atol=1e-5)
    lsa(x)[0].sum().backward()
    assert lsa.log_temperature.grad is not None and lsa.log_temperature.grad != 0
    with pytest.raises(ValueError, match="non-causal"):
        lsa(x, causal=True)
