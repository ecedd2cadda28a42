"""Bench /segmentation: the three models' held-out mean IoU, IoU and boundary accuracy over
time (goal: U-Net mean IoU >= 0.85 within 60 s on 2 cores, ahead of the no-skip network on
boundary accuracy). Writes bench/results/segmentation.md.

Usage: .venv/bin/python bench/vision/bench_segmentation.py
"""

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from core.vision import segmentation as seg  # noqa: E402

SETTINGS = {"default (48x48, 2 objects, noise 0.05)": {},
            "harder (noise 0.15, 6 clutter strokes)": {"noise": 0.15, "clutter": 6}}


def run(extra: dict) -> tuple[list, float]:
    cfg = seg.SegConfig(device="cpu", **extra)
    rows, t0, c0 = [], None, time.process_time()
    for s in seg.train(cfg):
        if s.heartbeat or "unet_miou" not in s.metrics:
            continue
        if t0 is None:  # the CLIP run (trained or reused) is not counted
            t0, c0 = time.perf_counter() - s.time_s, time.process_time()
        rows.append((s.step, time.perf_counter() - t0, time.process_time() - c0, s.metrics))
    return rows, os.getloadavg()[0]


def table(rows: list) -> list[str]:
    out = ["| step | wall s | CPU s | " + " | ".join(
        f"{n} mIoU / IoU / boundary" for n in seg.MODELS) + " | all-background pixel acc |",
        "|---|---|---|---|---|---|---|"]
    picks = [r for i, r in enumerate(rows) if i % max(1, len(rows) // 6) == 0] + [rows[-1]]
    for step, wall, cpu, m in picks:
        cells = " | ".join(f"{m[f'{n}_miou']:.2f} / {m[f'{n}_iou']:.2f} / "
                           f"{m[f'{n}_boundary_acc']:.2f}" for n in seg.MODELS)
        out.append(f"| {step} | {wall:.0f} | {cpu:.0f} | {cells} | "
                   f"{m['baseline_pixel_acc']:.2f} |")
    return out


def main() -> None:
    lines = ["# /segmentation benchmark", "",
             f"Default settings except where named, CPU, {os.cpu_count()} cores; the machine was "
             "shared with other jobs, so wall times are upper bounds (CPU s / 2 estimates an "
             "idle 2-core machine). Times start after the CLIP run (reused from the store).", ""]
    for name, extra in SETTINGS.items():
        rows, load = run(extra)
        hit = next((r for r in rows if r[3]["unet_miou"] >= 0.85), None)
        lines += [f"## {name}", "", f"Load average at the end: {load:.1f}. U-Net mIoU >= 0.85: " +
                  ("not reached" if hit is None else
                   f"step {hit[0]}, {hit[1]:.0f} s wall, {hit[2]:.0f} s CPU") + ".", "",
                  *table(rows), ""]
        print("\n".join(lines[-12:]), flush=True)
    lines += ["mIoU is the mean of the object and background IoU; IoU is the object IoU pooled "
              "over 64 held-out scenes (all background scores 0); boundary accuracy is pixel "
              "accuracy on pixels within 1 px of a true edge.", ""]
    out = Path(__file__).resolve().parents[1] / "results" / "segmentation.md"
    out.write_text("\n".join(lines))


if __name__ == "__main__":
    main()
