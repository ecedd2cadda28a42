"""Dataset & DataLoader: the worker-seeding bug and its fix, the weighted sampler's balance, the
padding collate, iterable sharding, and a measured run with real worker processes."""

import numpy as np
import pytest
import torch

from core.foundations import dataloading as D


def shifts_per_worker(cfg: D.LoaderConfig, n_batches: int = 4) -> dict[int, list]:
    dataset, y, _ = D.make_dataset(cfg)
    loader = D.make_loader(cfg, dataset, y, torch.Generator().manual_seed(0))
    out: dict[int, list] = {}
    for i, batch in enumerate(loader):
        out.setdefault(int(batch["worker"][0]), []).append(batch["shift"].tolist())
        if i + 1 >= 2 * n_batches:
            break
    return out


def test_workers_copy_the_datasets_generator_and_the_fix_reseeds_it():
    base = dict(num_workers=2, load_ms=0.0, batch_size=8, shuffle=False, throughput=False)
    bug = shifts_per_worker(D.LoaderConfig(fix_seeding=False, **base))
    assert set(bug) == {0, 1}
    assert bug[0] == bug[1], "without worker_init_fn both workers draw the same shifts"
    fixed = shifts_per_worker(D.LoaderConfig(fix_seeding=True, **base))
    assert set(fixed) == {0, 1}
    assert fixed[0] != fixed[1], "seed_worker gives every worker its own shifts"


def test_weighted_sampler_balances_the_classes():
    cfg = D.LoaderConfig(imbalance=10.0, sampler="weighted", num_workers=0)
    _, y, _ = D.make_dataset(cfg)
    counts = np.bincount(y, minlength=10)
    assert counts[0] > 5 * counts[9]  # the dataset itself is unbalanced
    drawn = np.concatenate([y[list(D.make_sampler(cfg, y, torch.Generator().manual_seed(s)))]
                            for s in range(5)])
    share = np.bincount(drawn, minlength=10) / len(drawn)
    assert share.max() < 0.13 and share.min() > 0.07  # each class near 1/10
    plain = D.make_sampler(D.LoaderConfig(imbalance=10.0, sampler="random"), y,
                           torch.Generator().manual_seed(0))
    share_plain = np.bincount(y[list(plain)], minlength=10) / len(y)
    assert share_plain[0] > 2.5 * share_plain[9]


def test_pad_collate_pads_variable_length_items():
    cfg = D.LoaderConfig(item="ink_rows", num_workers=0, batch_size=16, throughput=False)
    dataset, y, _ = D.make_dataset(cfg)
    batch = next(iter(D.make_loader(cfg, dataset, y, torch.Generator().manual_seed(0))))
    lengths = batch["lengths"]
    assert batch["x"].shape == (16, int(lengths.max()), 28)
    assert len(set(lengths.tolist())) > 1
    i = int(lengths.argmin())
    assert batch["x"][i, lengths[i]:].abs().sum() == 0  # padding is zeros


def test_iterable_dataset_shards_across_workers():
    x, y, _ = D.digits(n=40)
    ds = D.DigitStream(D.AugmentedDigits(x, y))
    loader = torch.utils.data.DataLoader(ds, batch_size=5, num_workers=2,
                                         multiprocessing_context=D.worker_context(),
                                         collate_fn=D.stamped_collate)
    labels = torch.cat([b["y"] for b in loader]).sort().values
    assert torch.equal(labels, torch.from_numpy(y).sort().values)  # every item exactly once


def test_bad_settings_raise_plain_errors():
    with pytest.raises(ValueError, match="persistent_workers needs num_workers"):
        D.LoaderConfig(num_workers=0, persistent_workers=True)
    with pytest.raises(ValueError, match="IterableDataset takes no sampler"):
        D.LoaderConfig(style="iterable", sampler="weighted")
    assert D.transform_preview("affine_erase", n=4, copies=3).shape == (90, 120)


def test_a_measured_run_records_the_timeline_and_the_throughput(monkeypatch):
    monkeypatch.setattr(D, "SWEEP_WORKERS", (0, 2))
    monkeypatch.setattr(D, "SWEEP_BATCHES", (32,))
    cfg = D.LoaderConfig(epochs=1, max_batches=6, num_workers=2, load_ms=1.0, fix_seeding=True)
    snaps = list(D.train(cfg))
    last = snaps[-1]
    assert last.final
    recs = last.artifacts["records"]
    assert len(recs) == 6 and {r["worker"] for r in recs} == {0, 1}
    assert all(r["t_start"] <= r["t_done"] <= r["t_recv"] + 1e-3 for r in recs)
    rates = last.artifacts["rates"]
    assert [r["num_workers"] for r in rates] == [0, 2]
    assert all(r["samples_per_s"] > 0 for r in rates)
    assert last.metrics["same_aug"] == 0.0
