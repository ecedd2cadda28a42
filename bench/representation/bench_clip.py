"""Bench /clip: time to zero-shot >= 95% on seen compositions (goal: within 20 s on 2 cores),
the held-out figures for each target choice, and CLIP on digit strips. Writes
bench/results/clip.md.

Every run uses the page's default settings (only ``loss`` / ``data`` changed) and trains as the
page does (snapshots and evaluations on the clock). It reports CPU seconds with one torch
thread (``time.process_time()``, robust to other jobs on the machine) and wall seconds, and
with ``--threads 2`` also the wall time of the default-targets run with two threads.

Usage: .venv/bin/python bench/representation/bench_clip.py [--steps N] [--threads 2]
"""

import argparse
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from core.representation import clip  # noqa: E402


def run(steps: int, threads: int = 1, **settings) -> dict:
    """Train one config; the first snapshot with seen >= 95% and the final metrics."""
    torch.set_num_threads(threads)
    clip.load_data.cache_clear()  # every run pays for drawing its data
    cfg = clip.ClipConfig(steps=steps, device="cpu", **settings)
    t0, c0, hit, last = time.perf_counter(), time.process_time(), None, None
    for s in clip.train(cfg):
        if s.heartbeat:
            continue
        last = s
        if hit is None and s.metrics.get("zero_shot_seen", 0) >= 0.95:
            hit = (s.step, time.perf_counter() - t0, time.process_time() - c0)
    return {**last.metrics, **settings, "threads": threads, "hit": hit,
            "wall": time.perf_counter() - t0, "cpu": time.process_time() - c0}


def scene_rows(rows: list[dict]) -> list[str]:
    lines = ["| targets | threads | first snapshot with seen >= 95% (step, wall s, CPU s) | "
             "seen | unseen (20 prompts) | unseen (4 unseen prompts) | collapse meter "
             "(images) | temperature | run wall s / CPU s |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        hit = "not reached" if r["hit"] is None else "{}, {:.1f}, {:.1f}".format(*r["hit"])
        lines.append(f"| {r['loss']} | {r['threads']} | {hit} | {r['zero_shot_seen']:.0%} | "
                     f"{r['zero_shot_heldout']:.0%} | {r['zero_shot_heldout_only']:.0%} | "
                     f"{r['mean_cos']:.2f} | {r['temperature']:.3f} | {r['wall']:.0f} / "
                     f"{r['cpu']:.0f} |")
    return lines


def digit_rows(r: dict) -> list[str]:
    return ["| single digits (10 words) | strips, seen sequences (1,000 captions) | strips, "
            "unseen sequences (1,000) | unseen (100 unseen captions) | collapse meter | run "
            "wall s / CPU s |", "|---|---|---|---|---|---|",
            f"| {r['zero_shot_digit']:.0%} | {r['zero_shot_seen']:.1%} | "
            f"{r['zero_shot_heldout']:.1%} | {r['zero_shot_heldout_only']:.0%} | "
            f"{r['mean_cos']:.2f} | {r['wall']:.0f} / {r['cpu']:.0f} |"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=clip.ClipConfig().steps)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--digit-steps", type=int, default=clip.ClipConfig().steps)
    args = ap.parse_args()
    load = os.getloadavg()[0]
    rows = [run(args.steps, loss=loss) for loss in clip.LOSSES]
    if args.threads > 1:
        rows.append(run(args.steps, threads=args.threads, loss="identity"))
    digits = run(args.digit_steps, data="digits")
    d = clip.ClipConfig()
    lines = ["# /clip benchmark", "",
             f"Default settings (`python -m core train clip`: batch {d.batch_size}, width "
             f"{d.width}, lr {d.lr:g} with {d.warmup} warm-up steps and a {d.lr_schedule} decay),"
             f" {args.steps} steps, CPU, {os.cpu_count()} cores, load average at start "
             f"{load:.1f}, finished at {os.getloadavg()[0]:.1f} (the machine was shared: CPU "
             "seconds of the one-thread runs are the robust figure; wall seconds are upper "
             "bounds).", "", *scene_rows(rows), "",
             "Chance: 5% with 20 prompts, 25% with the 4 unseen prompts. Zero-shot accuracy "
             "is evaluated under an `EvalBudget` (20% of the time), so the step at which 95% "
             "is first seen is a coarse upper bound.", "",
             f"Digit strips (`--set data=digits`), {args.digit_steps} steps, one thread, "
             "chance: 10% (single digits), 0.1% (strips among 1,000), 1% (among 100):", "",
             *digit_rows(digits), ""]
    out = Path(__file__).resolve().parents[1] / "results" / "clip.md"
    out.write_text("\n".join(lines) + NOTES)
    print("\n".join(lines))


NOTES = """
## Design notes

* Data: one-object 32x32 scenes from the `/captioning` renderer (`core.data.scenes`), four caption
  variants per scene (with and without size and side), so the zero-shot prompt *a red circle* is
  a caption form the text encoder has read. Four compositions (red triangle, green cross, blue
  circle, yellow square) never appear in training; each colour and shape still does.
* Digit strips (`core.data.digit_strips`): one to three bundled MNIST digits, each cropped to
  24x24 and area-resized to 16x16, left-aligned in a 16x48 strip, captioned in words. 100
  three-digit sequences never appear in training; test strips use the bundled test digits. The
  image tower pools its last feature map to a 1x3 grid for strips (one cell per digit slot), so
  the embedding knows the order; global pooling would make *three zero seven* and *seven zero
  three* the same image.
* Image tower: `core.blocks.convnet.ConvEncoder` (3 stages of two conv-BN-ReLU, width 16),
  run in the channels-last memory layout (one-thread train step at batch 64: 0.066-0.073 s vs
  0.095-0.098 s in the default layout, same machine, same load); text tower: one causal pre-LN
  `Block`, `<eos>` features (CLIP). AdamW; linear warm-up and cosine decay (the paper's
  schedule).
* Sweeps (single thread, old constant-lr trainer, steps to seen >= 95% with an evaluation every
  10 steps): constant lr 1e-3, batch 64: step 240 (the accuracy swung between 70% and 95% from
  step 150 on); batch 32 (lr 1e-3, or 2e-3 with warm-up and cosine): not reached in 250
  steps (85%, 78%); warm-up 30 + cosine, batch 64: lr 3e-3 over 250 steps: step 170, then
  97-100% steadily; lr 3e-3 over 150 steps: 95% at the last step; lr 5e-3 over 200 steps:
  step 170; batch 128, lr 4e-3 over 120 steps: 94% (each step costs twice as much);
  multi-positive targets, lr 3e-3 over 200 steps: step 140.
* Measurement (2026-12-03, the tables above): the machine ran 10-14 other jobs on its 2 cores (load
  average 10-13), so wall seconds were ~3.5x the CPU seconds and a two-thread run could not be
  timed meaningfully. One-thread CPU seconds also rise under such contention (the train step
  measured 0.045 s per 32 pairs at load 3.5 and 0.066-0.098 s per 64 at load 13), so the CPU
  figures are upper bounds for an idle core. The defaults reached seen >= 95% after 14.9 CPU
  seconds on one thread (drawing the scenes included, ~0.5 s of it): the 20 s goal holds on an
  idle machine even with one thread, **if** CPU seconds carry over to wall seconds there; it
  was not timed on an idle 2-core machine. The previous defaults (constant lr 1e-3, 300 steps,
  default memory layout) needed ~25 CPU seconds (99% at step 200) on one thread.
* Unseen compositions: the model recombines colour and shape words it knows; against all 20
  prompts a seen composition sharing one attribute often wins (the issue's additive text
  encoder measured 0-24% there, 55-93% among the unseen prompts only).
"""

if __name__ == "__main__":
    main()
