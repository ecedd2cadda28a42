"""Benchmark: vanilla RNN vs LSTM vs Transformer captioners at equal steps on this machine.

For each setting, trains the decoders side by side (same batches, same steps, identical encoder
initialisation) with ``core.sequences.captioning.train`` and scores the final models on all 500 held-out
images with greedy decoding and beam search (k=3): corpus BLEU-4 and exact match. Reports wall
time of the training run (held-out scoring during training is kept tiny, eval_size=20).

Usage: ``.venv/bin/python bench/sequences/bench_captioning.py [--steps 600] [--seeds 0 1]``.
Prints a Markdown table and writes ``bench/results/captioning.md``. Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from core.sequences import captioning as cap  # noqa: E402

DESIGN_NOTES = "## Design notes"


def run(dataset: str, style: str, decoders: str, steps: int, seed: int) -> list[dict]:
    cfg = cap.CaptioningConfig(dataset=dataset, style=style, decoders=decoders, steps=steps,
                               seed=seed, eval_size=20, device="cpu")
    t0 = time.perf_counter()
    last = None
    for snap in cap.train(cfg):
        last = snap
    wall = time.perf_counter() - t0
    _, te = cap.get_data(dataset, cfg.n_train, style)
    rows = []
    for k, model in last.model.items():
        g_bleu, g_em, _ = cap.evaluate(model, te, len(te), "greedy")
        b_bleu, b_em, _ = cap.evaluate(model, te, len(te), "beam", 3)
        rows.append({"data": f"{dataset}" + (f" ({style})" if dataset == "shapes" else ""),
                     "seed": seed, "steps": steps, "decoder": cap.DECODER_NAMES[k],
                     "loss": last.metrics[f"loss_{k}"], "bleu_greedy": g_bleu, "em_greedy": g_em,
                     "bleu_beam": b_bleu, "em_beam": b_em, "wall": wall,
                     "params": sum(p.numel() for p in model.parameters())})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "1")))
    settings = [("shapes", "long", "all", s) for s in args.seeds]
    settings += [("shapes", "short", "rnn+lstm", args.seeds[0]),
                 ("digits", "long", "all", args.seeds[0])]
    rows = []
    for dataset, style, decoders, seed in settings:
        rows += run(dataset, style, decoders, args.steps, seed)
        print(f"done {dataset} {style} {decoders} seed {seed}", file=sys.stderr, flush=True)
    load = os.getloadavg()
    head = ("| data | seed | steps | decoder | params | train loss | BLEU-4 greedy | exact greedy "
            "| BLEU-4 beam 3 | exact beam 3 | run wall (s, all decoders) |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|\n")
    body = "".join(
        f"| {r['data']} | {r['seed']} | {r['steps']} | {r['decoder']} | {r['params']:,} | "
        f"{r['loss']:.3f} | {r['bleu_greedy']:.3f} | {r['em_greedy']:.1%} | "
        f"{r['bleu_beam']:.3f} | {r['em_beam']:.1%} | {r['wall']:.0f} |\n" for r in rows)
    note = (f"\nHeld-out: 500 fixed images per set (shapes: seed-10000 scenes; digits: strips of "
            f"bundled-MNIST test digits). CPU, {torch.get_num_threads()} torch thread(s); load "
            f"average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} on 2 cores shared "
            f"with other jobs, so wall times are inflated and noisy.\n")
    table = "# Captioning: RNN vs LSTM vs Transformer at equal steps\n\n" + head + body + note
    print(table)
    out = ROOT / "bench" / "results" / "captioning.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    old = out.read_text() if out.exists() else ""
    notes = old[old.find(DESIGN_NOTES):] if DESIGN_NOTES in old else ""  # kept across reruns
    out.write_text(table + ("\n" + notes if notes else ""))


if __name__ == "__main__":
    main()
