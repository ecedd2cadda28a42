"""Benchmark: the semi-supervised GAN against the labels-only network, same wall clock.

Goal (issue 19): on the bundled digits (4,000 training images, the 1,000 held-out ones as the
test set), at 10 labels per class, >= 90% held-out accuracy within 120 s of training on 2 cores
and at least 8 points above the labels-only network at equal time; report 1 / 10 / 100 labels
per class.

Both networks use :func:`core.generative.ssgan.train_step` (one SSGAN D step, one G step and one
labels-only step per iteration); the wall clock is split: each network is charged only its own
update's time (measured), so "equal time" means the labels-only network gets the same seconds
as the SSGAN's D + G. Evaluation time is excluded.

    .venv/bin/python bench/generative/bench_ssgan.py [--seconds 120] [--labels 1,10,100]

Writes ``bench/results/ssgan.md`` (load average recorded: the numbers depend on it).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch
from torch.nn import functional as F

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from core.generative import ssgan  # noqa: E402


def run(labels: int, seconds: float, checkpoints: list[float], seed: int) -> list[dict]:
    """Train SSGAN and labels-only side by side; held-out accuracies at each checkpoint (s of
    each one's own training time)."""
    cfg = ssgan.SsganConfig(labels_per_class=labels, seed=seed, device="cpu")
    torch.manual_seed(seed)
    tr, te = ssgan.load_data(cfg)
    idx = ssgan.labelled_subset(tr.y, labels, seed)
    x, xl, yl = tr.x, tr.x[idx], tr.y[idx]
    G, D, Db = ssgan.make_models(cfg, 10, torch.device("cpu"))
    opts = ssgan.make_optimizers(cfg, G, D, Db)
    gen = torch.Generator().manual_seed(seed)
    t_ss = t_base = 0.0
    steps_ss = steps_base = 0
    rows, todo = [], list(checkpoints)
    while todo:
        b = ssgan.sample_batch(cfg, x, xl, yl, gen)
        if t_ss <= t_base:  # the one that has used less time trains next
            t0 = time.perf_counter()
            ss_only_step(cfg, (G, D), opts, b)
            t_ss += time.perf_counter() - t0
            steps_ss += 1
        else:
            t0 = time.perf_counter()
            loss = F.cross_entropy(Db(b["x_lab"]), b["y_lab"])
            opts["base"].zero_grad()
            loss.backward()
            opts["base"].step()
            t_base += time.perf_counter() - t0
            steps_base += 1
        if min(t_ss, t_base) >= todo[0]:
            m, _ = ssgan.evaluate(D, Db, (te.x, te.y), 10)
            rows.append({"labels": labels, "seconds": todo.pop(0), **m, "steps": steps_ss,
                         "base_steps": steps_base})
            print(rows[-1], flush=True)
    return rows


def ss_only_step(cfg, nets, opts, b) -> None:
    """The SSGAN part of :func:`ssgan.train_step` (D then G), without the labels-only update."""
    G, D = nets
    fake = G(b["z"])
    l_sup, l_unsup = ssgan.d_losses(D(b["x_lab"]), b["y_lab"], D(b["x_unl"]), D(fake.detach()))
    opts["d"].zero_grad()
    (l_sup + cfg.unsup_weight * l_unsup).backward()
    opts["d"].step()
    with torch.no_grad():
        f_real = D.features(b["x_unl2"])
    loss_g = ssgan.feature_matching_loss(f_real, D.features(G(b["z2"])))
    opts["g"].zero_grad()
    loss_g.backward()
    opts["g"].step()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--labels", default="1,10,100")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cps = [args.seconds / 4, args.seconds / 2, args.seconds]
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
