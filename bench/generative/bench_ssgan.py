"""Benchmark: the semi-supervised GAN against the labels-only network, same wall clock.

Goal (issue 19): on the bundled digits (4,000 training images, the 1,000 held-out ones as the
test set), at 10 labels per class, >= 90% held-out accuracy within 120 s of training on 2 cores
and at least 8 points above the labels-only network at equal time; report 1 / 10 / 100 labels
per class.

Both networks train with the trainer's own steps (:func:`core.generative.ssgan.ssgan_step`: one
D and one G update; :func:`~core.generative.ssgan.base_step`: one labels-only update) and
default settings; each is charged only its own updates' time (measured, weight average
included), and the one that has used less time trains next, so "equal time" means the
labels-only network gets the same seconds as the SSGAN's D + G. Evaluation time is excluded.

    .venv/bin/python bench/generative/bench_ssgan.py [--seconds 120] [--labels 1,10,100]

Writes ``bench/results/ssgan_run.md`` (load average recorded: the numbers depend on it).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from core.generative import ssgan  # noqa: E402


def run(labels: int, seconds: float, checkpoints: list[float], seed: int) -> list[dict]:
    """Train SSGAN and labels-only side by side; held-out accuracies (of each network's weight
    average, as the trainer scores them) at each checkpoint (s of each one's own training
    time)."""
    cfg = ssgan.SsganConfig(labels_per_class=labels, seed=seed, device="cpu")
    torch.manual_seed(seed)
    tr, te = ssgan.load_data(cfg)
    idx = ssgan.labelled_subset(tr.y, labels, seed)
    x, xl, yl = tr.x, tr.x[idx], tr.y[idx]
    gen = torch.Generator().manual_seed(seed)
    G, D, Db = ssgan.make_models(cfg, 10, torch.device("cpu"),
                                 x[torch.randperm(len(x), generator=gen)[:ssgan.N_INIT]])
    opts = ssgan.make_optimizers(cfg, G, D, Db)
    avg, avg_base = ssgan.weight_average(D, cfg.ema_decay), ssgan.weight_average(Db, cfg.ema_decay)
    used = {"ss": 0.0, "base": 0.0}
    steps = {"ss": 0, "base": 0}
    rows, todo = [], list(checkpoints)
    while todo:
        b = ssgan.sample_batch(cfg, x, xl, yl, gen)
        who = min(used, key=used.get)  # the one that has used less time trains next
        t0 = time.perf_counter()
        if who == "ss":
            ssgan.ssgan_step(cfg, G, D, opts, b)
            if avg is not None:
                avg.update_parameters(D)
        else:
            ssgan.base_step(Db, opts["base"], b)
            if avg_base is not None:
                avg_base.update_parameters(Db)
        used[who] += time.perf_counter() - t0
        steps[who] += 1
        if min(used.values()) >= todo[0]:
            nets = [a.module if a is not None else n for a, n in ((avg, D), (avg_base, Db))]
            m, _ = ssgan.evaluate(*nets, (te.x, te.y), 10)
            rows.append({"labels": labels, "seconds": todo.pop(0), **m, "steps": steps["ss"],
                         "base_steps": steps["base"]})
            print(rows[-1], flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--labels", default="1,10,100")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--checkpoints", default="",
                    help="comma-separated seconds (default: a quarter, half and all of --seconds)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cps = ([float(c) for c in args.checkpoints.split(",")] if args.checkpoints
           else [args.seconds / 4, args.seconds / 2, args.seconds])
    rows = []
    for n in (int(v) for v in args.labels.split(",")):
        rows += run(n, args.seconds, cps, args.seed)
    lines = ["| labels / class | training s (each) | SSGAN held-out acc | labels-only acc | gain "
             "(points) | SSGAN steps | labels-only steps |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['labels']} | {r['seconds']:.0f} | {r['test_acc']:.1%} | "
                     f"{r['base_test_acc']:.1%} | {(r['test_acc'] - r['base_test_acc']) * 100:+.1f} | "
                     f"{r['steps']} | {r['base_steps']} |")
    load = os.getloadavg()
    text = "\n".join(lines) + (f"\n\nBundled digits: 4,000 training images (all used unlabelled), "
                               f"1,000 held out. Seed {args.seed}, torch threads {args.threads}. "
                               f"Load average at the end: {load[0]:.1f} / {load[1]:.1f} / "
                               f"{load[2]:.1f}.\n")
    print(text)
    out = ROOT / "bench" / "results" / "ssgan_run.md"
    out.write_text(text)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
