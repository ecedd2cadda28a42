"""Bench /clip: time to zero-shot >= 95% on seen compositions (goal: within 20 s on 2 cores),
and the held-out figures, for each target choice. Writes bench/results/clip.md.

Usage: .venv/bin/python bench/representation/bench_clip.py [steps]
"""

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from core.representation import clip  # noqa: E402


def run(loss: str, steps: int) -> dict:
    cfg = clip.ClipConfig(loss=loss, steps=steps, device="cpu")
    t0, c0, hit = time.perf_counter(), time.process_time(), None
    last = None
    for s in clip.train(cfg):
        if s.heartbeat:
            continue
        last = s
        if hit is None and s.metrics.get("zero_shot_seen", 0) >= 0.95:
            hit = (s.step, time.perf_counter() - t0, time.process_time() - c0)
    m = last.metrics
    return {**m, "targets": loss, "hit": hit, "wall": time.perf_counter() - t0,
            "cpu": time.process_time() - c0}


def main() -> None:
    steps = int(sys.argv[1]) if len(sys.argv) > 1 else clip.ClipConfig().steps
    load = os.getloadavg()[0]
    rows = [run(loss, steps) for loss in clip.LOSSES]
    lines = ["# /clip benchmark", "",
             f"Default settings (`python -m core train clip`), {steps} steps, CPU, "
             f"{os.cpu_count()} cores, load average at start {load:.1f} (the machine was "
             "shared: wall times are upper bounds; CPU seconds / 2 estimate an idle 2-core "
             "machine).", "",
             "| targets | first snapshot with seen >= 95% (step, wall s, CPU s) | seen | "
             "unseen (20 prompts) | unseen (4 unseen prompts) | collapse meter (images) | "
             "temperature | run wall s / CPU s |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        hit = "not reached" if r["hit"] is None else "{}, {:.1f}, {:.1f}".format(*r["hit"])
        lines.append(f"| {r['targets']} | {hit} | {r['zero_shot_seen']:.0%} | "
                     f"{r['zero_shot_heldout']:.0%} | {r['zero_shot_heldout_only']:.0%} | "
                     f"{r['mean_cos']:.2f} | {r['temperature']:.3f} | {r['wall']:.0f} / "
                     f"{r['cpu']:.0f} |")
    lines += ["", "Chance: 5% with 20 prompts, 25% with the 4 unseen prompts. Zero-shot accuracy "
              "is evaluated under an `EvalBudget` (20% of the time), so the step at which 95% "
              "is first seen is a coarse upper bound.", ""]
    out = Path(__file__).resolve().parents[1] / "results" / "clip.md"
    out.write_text("\n".join(lines) + NOTES)
    print("\n".join(lines))


NOTES = """## Design notes

* Data: one-object 32x32 scenes from the `/captioning` renderer (`core.data.scenes`), four caption
  variants per scene (with and without size and side), so the zero-shot prompt *a red circle* is
  a caption form the text encoder has read. Four compositions (red triangle, green cross, blue
  circle, yellow square) never appear in training; each colour and shape still does.
* Image tower: `core.handoff.ConvEncoder` (3 stages of two conv-BN-ReLU, width 16), global average
  pooled; text tower: one causal pre-LN `Block`, `<eos>` features (CLIP). AdamW, lr 1e-3.
* lr sweeps (single thread, 400 steps): 1e-3 reached 99% seen at step 200; 2e-3 98% at 350;
  4e-3 93% at 400; width 8 with lr 3e-3 stayed under 70%.
* Unseen compositions: the model recombines colour and shape words it knows; against all 20
  prompts a seen composition sharing one attribute often wins (the issue's additive text
  encoder measured 0-24% there, 55-93% among the unseen prompts only).
"""

if __name__ == "__main__":
    main()
