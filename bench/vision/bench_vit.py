"""Bench: ViT vs a CNN of the same size, held-out accuracy at 25/50/100% of the training data
at equal wall-clock (each model trains alone for the same number of seconds).

Usage: .venv/bin/python bench/vision/bench_vit.py [SECONDS_PER_MODEL]   (default 20)
Writes bench/results/vit.md. Data: bundled MNIST (4,000 train / 1,000 test), and the real
10,000-digit MNIST test set from ../shared/data/MNIST when it is there.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LIVEPROP_OFFLINE", "1")

from core.data import load_mnist_idx, shared_data_dir  # noqa: E402
from core.protocol import start  # noqa: E402
from core.vision import vit as V  # noqa: E402

FRACTIONS = (0.25, 0.5, 1.0)


def run(cfg: V.VitConfig, seconds: float, which: str, test10k) -> dict:
    device = start(cfg)
    xtr, ytr, xte, yte, n_classes, _ = V.load_split(cfg, device)
    vit, conv = V.build_models(cfg, tuple(xtr.shape[1:]), n_classes)
    model = vit if which == "vit" else conv
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=0.05)
    gen = torch.Generator().manual_seed(cfg.seed)
    steps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        idx = torch.randint(0, len(xtr), (cfg.batch_size,), generator=gen)
        V.step_model(model, opt, xtr[idx], ytr[idx])
        steps += 1
    out = {"steps": steps, "acc": V.accuracy(model, xte, yte), "params": V.n_params(model)}
    if test10k is not None:
        out["acc10k"] = V.accuracy(model, test10k.x, test10k.y)
    out.update(V.probe({which: model}, xte[:500], yte[:500], cfg.patch_size, cfg.seed))
    return out


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 20.0
    torch.set_num_threads(1)  # the bench shares a busy 2-core machine; one thread is steadier
    shared = shared_data_dir()
    test10k = load_mnist_idx(shared / "MNIST") if shared else None
    base = V.VitConfig()
    rows = []
    for frac in FRACTIONS:
        cfg = dataclasses.replace(base, data_fraction=frac)
        for which in ("vit", "cnn"):
            r = run(cfg, seconds, which, test10k)
            rows.append((frac, which, r))
            print(frac, which, r, flush=True)
    write(rows, seconds, base, test10k is not None)


def write(rows: list, seconds: float, cfg: V.VitConfig, has10k: bool) -> None:
    lines = [
        "# ViT vs CNN at equal wall-clock (`bench/vision/bench_vit.py`)", "",
        f"Each model trains **alone for {seconds:g} s** (one CPU thread, batch {cfg.batch_size}, "
        f"AdamW lr {cfg.lr:g}) on a share of bundled MNIST (4,000 training digits); held-out "
        "accuracy on the bundled 1,000 test digits"
        + (" and on the real 10,000-digit MNIST test set" if has10k else "") + ". ViT: the page "
        f"defaults (patch {cfg.patch_size}, depth {cfg.n_layers}, {cfg.n_heads} heads, width "
        f"{cfg.d_model}, [CLS], learned positions); CNN: `core.vision.vit.matched_cnn`, the same "
        "parameter count. Measured on a shared, heavily loaded 2-core machine: step counts vary "
        "with the load; read the accuracies as a ranking, not as figures to the point.", "",
        "| data | model | params | steps | test acc (1k) |" + (" test acc (10k) |" if has10k
                                                              else "")
        + " shifted ±4 px | patches shuffled |",
        "|---|---|---|---|---|" + ("---|" if has10k else "") + "---|---|"]
    for frac, which, r in rows:
        lines.append(f"| {frac:.0%} | {which.upper()} | {r['params']:,} | {r['steps']} | "
                     f"{r['acc']:.1%} |" + (f" {r['acc10k']:.1%} |" if has10k else "")
                     + f" {r[f'shift_acc_{which}']:.1%} | {r[f'shuffle_acc_{which}']:.1%} |")
    out = ROOT / "bench" / "results" / "vit.md"
    out.write_text("\n".join(lines) + "\n")
    print("wrote", out)


if __name__ == "__main__":
    main()
