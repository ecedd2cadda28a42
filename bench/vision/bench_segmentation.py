"""Bench /segmentation: the three models' held-out mean IoU, IoU and boundary accuracy over
time (goal: U-Net mean IoU >= 0.85 within 60 s on 2 cores, ahead of the no-skip network on
boundary accuracy), on the default (cluttered) scenes, a harder setting, and the prompted task.
One torch thread; CPU seconds (``time.process_time``) next to wall seconds. Prints Markdown
tables; bench/results/segmentation.md keeps them with the notes.

Usage: .venv/bin/python bench/vision/bench_segmentation.py [SETTING ...]
(settings: default, harder, prompted; all when none is named)
"""

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import torch  # noqa: E402

from core import handoff  # noqa: E402
from core.protocol import start  # noqa: E402
from core.vision import segmentation as seg  # noqa: E402

SETTINGS = {
    "default": ("default (48x48, 4 objects, noise 0.3, 8 clutter strokes)", {}),
    "harder": ("harder (6 objects, noise 0.5, 12 clutter strokes)",
               {"n_objects": 6, "noise": 0.5, "clutter": 12}),
    "prompted": ("prompted task (default scenes, 3 objects, noise 0.05, no clutter, 600 steps)",
                 {"task": "prompted", "n_objects": 3, "noise": 0.05, "clutter": 0,
                  "steps": 600}),
}


def step_costs(cfg: seg.SegConfig, payload: dict | None, n: int = 20) -> dict[str, float]:
    """CPU seconds per optimization step of each model alone (one thread)."""
    device = start(cfg)
    data = seg.make_data(cfg, n_train=64, n_test=4)
    models = seg.make_models(cfg, payload, device)
    gen = torch.Generator().manual_seed(0)
    costs = {}
    for name, m in models.items():
        opt = torch.optim.Adam([p for p in m.parameters() if p.requires_grad], lr=cfg.lr)
        x, y, p = data.batch(cfg.batch_size, gen)
        seg.train_step(m, opt, x, y, cfg.loss, p)  # warm-up
        c0 = time.process_time()
        for _ in range(n):
            seg.train_step(m, opt, x, y, cfg.loss, p)
        costs[name] = (time.process_time() - c0) / n
    return costs


def run(extra: dict) -> tuple[list, float, dict]:
    cfg = seg.SegConfig(device="cpu", **extra)
    rows, t0, c0, payload = [], None, time.process_time(), None
    for s in seg.train(cfg):
        if s.heartbeat or "unet_miou" not in s.metrics:
            continue
        if t0 is None:  # the CLIP run (trained or reused) is not counted
            t0, c0 = time.perf_counter() - s.time_s, time.process_time()
        rows.append((s.step, time.perf_counter() - t0, time.process_time() - c0, s.metrics))
    if cfg.clip_decoder:  # the CLIP run's export (image encoder and phrase embeddings)
        payload = handoff.finished(handoff.IMAGE_ENCODERS)[0].payload
    return rows, os.getloadavg()[0], step_costs(cfg, payload)


def table(rows: list) -> list[str]:
    extra = "all objects IoU" if "all_objects_iou" in rows[-1][3] else "all-background pixel acc"
    out = ["| step | wall s | CPU s | " + " | ".join(
        f"{n} mIoU / IoU / boundary" for n in seg.MODELS) + f" | {extra} |",
        "|---|---|---|---|---|---|---|"]
    picks = [r for i, r in enumerate(rows) if i % max(1, len(rows) // 8) == 0]
    for step, wall, cpu, m in picks + ([] if rows[-1] in picks else [rows[-1]]):
        cells = " | ".join(f"{m[f'{n}_miou']:.2f} / {m[f'{n}_iou']:.2f} / "
                           f"{m[f'{n}_boundary_acc']:.2f}" for n in seg.MODELS)
        base = m.get("all_objects_iou", m["baseline_pixel_acc"])
        out.append(f"| {step} | {wall:.0f} | {cpu:.0f} | {cells} | {base:.2f} |")
    return out


def section(name: str, extra: dict) -> list[str]:
    rows, load, costs = run(extra)
    hit = next((r for r in rows if r[3]["unet_miou"] >= 0.85), None)
    cost = ", ".join(f"{k} {1000 * v:.0f} ms" for k, v in costs.items())
    return [f"## {name}", "", f"Load average at the end: {load:.1f}. CPU per step, each model "
            f"alone: {cost}. U-Net mIoU >= 0.85: " +
            ("not reached" if hit is None else
             f"step {hit[0]}, {hit[1]:.0f} s wall, {hit[2]:.0f} s CPU (all three models)") +
            ".", "", *table(rows), ""]


def main() -> None:
    torch.set_num_threads(1)
    names = sys.argv[1:] or list(SETTINGS)
    for key in names:
        title, extra = SETTINGS[key]
        print("\n".join(section(title, extra)), flush=True)


if __name__ == "__main__":
    main()
