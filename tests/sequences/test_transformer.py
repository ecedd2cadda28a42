"""Behaviour of the Transformer trainer (core/sequences/transformer/) on fixed seeds."""

import copy
import dataclasses
import json

import numpy as np
import pytest
import torch

from core.registry import get_demo
from core.sequences import transformer as tx


@pytest.fixture(scope="module")
def reversal_run():
    """Reversal of length-8 digit strings: 80 steps of batch 64 (about 3 s of CPU)."""
    torch.set_num_threads(1)
    cfg = tx.TransformerConfig(task="reverse", length=8, steps=80, batch_size=64, seed=0,
                               device="cpu")
    return cfg, list(tx.train(cfg))


def test_reversal_reaches_99_percent_exact_match(reversal_run):
    cfg, snaps = reversal_run
    first, last = snaps[0].metrics, snaps[-1].metrics
    assert snaps[-1].final and snaps[-1].step == cfg.steps
    assert first["exact_match"] < 0.01  # untrained: chance is 10**-8
    assert last["exact_match"] >= 0.99, last  # held-out sequences never seen in training
    # held-out loss (the training loss is a mean since the previous snapshot, which depends on
    # how often snapshots came)
    assert last["test_loss"] < first["test_loss"] / 20
    assert last["loss"] < first["loss"]


def test_reversal_attention_forms_the_anti_diagonal(reversal_run):
    cfg, snaps = reversal_run
    att = snaps[-1].artifacts["attention"]  # (N, L, H, T, T)
    n = cfg.length
    assert att.shape == (tx.N_EXAMPLES, cfg.n_layers, cfg.n_heads, 2 * n, 2 * n)
    # the query that writes output i (position n + i) looks at input n - 1 - i
    mirror = att[:, :, :, np.arange(n, 2 * n), n - 1 - np.arange(n)].mean(axis=(0, 3))
    assert mirror.max() > 0.8, mirror  # some head puts most of its weight on the mirror token
    for ex, pred in zip(snaps[-1].artifacts["examples"], snaps[-1].artifacts["predictions"]):
        assert pred == ex[:n][::-1]


def test_ablating_the_positional_encoding_breaks_reversal(reversal_run):
    _, snaps = reversal_run
    m = snaps[-1].metrics
    assert m["exact_match_no_pe"] < 0.2 < 0.99 <= m["exact_match"]
    assert snaps[-1].artifacts["pos_encoding"].shape == (16, 64)


def test_typed_input_is_decoded_token_by_token(reversal_run):
    cfg, snaps = reversal_run
    model = snaps[-1].model
    d = tx.decode_typed(model, "reverse", 8, " 3141 5926 ")
    assert d.prompt == "31415926=" and d.answer == "62951413" == d.expected
    assert d.probs.shape == (8, len(tx.VOCAB)) and (d.probs.max(1) > 0.5).all()
    assert d.attention.shape == (cfg.n_layers, cfg.n_heads, 16, 16)
    with pytest.raises(ValueError, match="alphabet"):
        tx.decode_typed(model, "reverse", 8, "__import__('os')")
    with pytest.raises(ValueError, match="trained on 8 digits"):
        tx.decode_typed(model, "reverse", 8, "123")


def test_exact_match_equals_greedy_decoding(reversal_run):
    """Teacher-forced exact match (one pass) agrees with real greedy decoding, row by row."""
    _, snaps = reversal_run
    model = copy.deepcopy(snaps[-1].model)
    torch.manual_seed(1)
    for p in model.parameters():  # damage the model so that some answers go wrong
        p.add_(0.6 * torch.randn_like(p) * p.std())
    data = tx.TaskData("reverse", 8, True, 0, torch.device("cpu"))
    seqs = data.test[:300]
    ev = tx.evaluate(model, seqs, 8)
    out, _ = tx.generate(model, seqs[:, :9], 8)
    greedy = (out == seqs).all(1).float().mean().item()
    assert 0.02 < greedy < 0.98  # a partly right model, so the comparison means something
    assert ev["exact_match"] == pytest.approx(greedy)


def test_arithmetic_data_and_split():
    table = tx.arith_table("add", reverse_answer=False)
    assert table.shape == (10000, 9)
    assert tx.decode(table[45 * 100 + 23]) == "45+23=068"
    rev = tx.arith_table("addsub", reverse_answer=True)
    assert rev.shape == (20000, 9)
    assert tx.decode(rev[10000 + 23 * 100 + 45]) == "23-45=22-"
    assert tx.reading_order("addsub", "22-", True) == "-22"
    assert tx.reading_order("add", "860", True) == "68"
    data = tx.TaskData("add", 8, True, 3, torch.device("cpu"))
    test = {tuple(r) for r in data.test.tolist()}
    assert len(test) == tx.N_TEST
    assert not test & {tuple(r) for r in data.train_pool.tolist()}


def test_sequence_batches_never_contain_held_out_strings():
    data = tx.TaskData("sort", 4, False, 0, torch.device("cpu"))  # 1,000 of 10,000 held out
    held = {tuple(r) for r in data.test.tolist()}
    batch = data.batch(2000, torch.Generator().manual_seed(0))
    assert not held & {tuple(r) for r in batch.tolist()}
    assert tx.decode(batch[0, 5:]) == "".join(sorted(tx.decode(batch[0, :4])))


def test_attention_is_causal_and_normalised():
    torch.manual_seed(0)
    model = tx.GPT(block_size=10, n_layers=2, n_heads=4, d_model=32)
    idx = torch.randint(0, 13, (3, 10))
    logits, atts = model(idx, need_weights=True)
    assert len(atts) == 2
    fused, none = model(idx)  # the fused path computes the same logits
    assert none == [] and torch.allclose(fused, logits, atol=1e-5)
    for a in atts:
        assert a.shape == (3, 4, 10, 10)
        assert torch.allclose(a.sum(-1), torch.ones(3, 4, 10))
        assert torch.all(a.triu(1) == 0)  # no token attends to a later one
    with pytest.raises(ValueError, match="block size"):
        model(torch.zeros(1, 11, dtype=torch.long))


def test_sinusoidal_encoding_matches_the_formula():
    pe = tx.sinusoidal_encoding(12, 16)
    assert pe.shape == (12, 16)
    assert pe[5, 2].item() == pytest.approx(np.sin(5 / 10000 ** (2 / 16)), abs=1e-6)
    assert pe[5, 3].item() == pytest.approx(np.cos(5 / 10000 ** (2 / 16)), abs=1e-6)


def test_parse_prompt_messages():
    assert tx.parse_prompt("add", 8, "45+7") == "45+07="
    assert tx.parse_prompt("addsub", 8, "3-45=") == "03-45="
    with pytest.raises(ValueError, match="alphabet"):
        tx.parse_prompt("add", 8, "45*2")
    with pytest.raises(ValueError, match="alphabet"):
        tx.parse_prompt("add", 8, "45-2")  # subtraction is not part of the add task
    with pytest.raises(ValueError, match="0 to 99"):
        tx.parse_prompt("add", 8, "450+2")
    with pytest.raises(ValueError, match="type a question"):
        tx.parse_prompt("sort", 8, "   ")


def test_cli_writes_loss_and_exact_match(tmp_path):
    from core.__main__ import main

    assert get_demo("transformer").config_cls is tx.TransformerConfig
    main(["train", "transformer", "--set", "task=add", "--set", "steps=10", "--set",
          "batch_size=16", "--set", "d_model=16", "--out", str(tmp_path), "--quiet"])
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert {"loss", "exact_match"} <= set(rows[-1])
    assert (tmp_path / "model.pt").exists() and (tmp_path / "artifacts.npz").exists()


def test_preview_shows_the_runs_held_out_examples_and_untrained_attention(reversal_run):
    cfg, snaps = reversal_run
    p = tx.preview(cfg)
    assert p.examples == snaps[0].artifacts["examples"]  # the same held-out split as the run
    assert p.n_test == tx.N_TEST and p.tokens == list(p.examples[0][:-1])
    assert p.attention.shape == (cfg.n_layers, cfg.n_heads, 16, 16)
    assert np.allclose(p.attention.sum(-1), 1.0, atol=1e-5)
    uniform = np.tril(np.ones((16, 16))) / np.arange(1, 17)[:, None]
    assert np.abs(p.attention - uniform).max() < 0.1  # untrained: spread over earlier tokens
    assert p.pos_encoding.shape == (16, 64)
    assert tx.preview(dataclasses.replace(cfg, pos_encoding="none")).pos_encoding is None
