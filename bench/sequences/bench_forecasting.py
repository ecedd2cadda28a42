"""Benchmark /forecasting (issue 18) and write bench/results/forecasting.md.

1. The LSTM's test MAE against seasonal naive on co2, sunspots and seattle-temps after 30 and
   60 s of training (the real trainer, evaluation time included). Goal: beats seasonal naive on
   all three within 60 s.
2. The adding problem: for each of RNN, LSTM, GRU, the longest sequence length solved within
   60 s (test MSE under a tenth of the trivial 0.167 baseline). Goal: the LSTM solves >= 100.

Usage: .venv/bin/python bench/sequences/bench_forecasting.py [--part forecast|adding|all]
[--threads N]. Runs one at a time; about 3 min (forecast) + up to ~6 min (adding).
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

from core.sequences import forecasting as fc  # noqa: E402

OUT = ROOT / "bench" / "results" / "forecasting.md"
SERIES = (("co2", 64), ("sunspots", 24), ("seattle_temps", 48))
BUDGETS = (30.0, 60.0)
SOLVED = 0.1 * fc.ADDING_BASELINE
LENGTHS = {"rnn": (20, 50), "lstm": (50, 100, 200), "gru": (50, 100, 200)}


def bench_series(name: str, window: int) -> dict:
    """Train the default LSTM for 60 s; the last test MAE measured before each budget."""
    cfg = fc.ForecastConfig(series=name, window=window, epochs=500, device="cpu")
    seen: dict[float, float] = {}
    base = {}
    for snap in fc.train(cfg):
        base = {k: d["mae"] for k, d in snap.artifacts.get("baselines", {}).items()} or base
        if "test_mae" in snap.metrics:
            for b in BUDGETS:
                if snap.time_s <= b:
                    seen[b] = (snap.metrics["test_mae"], snap.step)
        if snap.time_s > BUDGETS[-1]:
            break
    season = next(v for k, v in base.items() if k.startswith("seasonal"))
    return {"name": name, "window": window, "at": seen, "season": season,
            "last": base["last value"], "linear": base["linear"]}


def solves(kind: str, length: int, budget: float = 60.0) -> tuple[bool, float, float]:
    """(solved, seconds, best test MSE) for one model on the adding problem of ``length``."""
    cfg = fc.MemoryConfig(task="adding", seq_len=length, models=kind, hidden=64, lr=1e-2,
                          steps=100_000, device="cpu")
    best = float("inf")
    for snap in fc.train_memory(cfg):
        loss = snap.metrics.get(f"test_loss_{kind}")
        if loss is not None:
            best = min(best, loss)
            if loss < SOLVED:
                return True, snap.time_s, best
        if snap.time_s > budget:
            return False, snap.time_s, best
    return False, budget, best


def bench_adding() -> list[str]:
    rows = []
    for kind, lengths in LENGTHS.items():
        longest = None
        for n in lengths:
            ok, t, best = solves(kind, n)
            rows.append(f"| {kind} | {n} | {'yes' if ok else 'no'} | {t:.0f} | {best:.4f} |")
            print(rows[-1], flush=True)
            if not ok:
                break
            longest = n
        rows.append(f"| **{kind}: longest solved** | {longest or '-'} | | | |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", default="all", choices=("forecast", "adding", "all"))
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    load = os.getloadavg()[0]
    lines = [f"# /forecasting benchmark (issue 18)\n\nMachine: {os.cpu_count()} cores, torch "
             f"{args.threads} thread(s), load average at start {load:.1f}. "
             f"Run: `.venv/bin/python bench/sequences/bench_forecasting.py --part {args.part}`.\n"]
    if args.part in ("forecast", "all"):
        lines += ["## LSTM vs seasonal naive (test MAE, data units; lower is better)\n",
                  "| series | window | MAE @30 s (step) | MAE @60 s (step) | seasonal naive | "
                  "last value | linear | beats seasonal naive @60 s |", "|---|---|---|---|---|"
                  "---|---|---|"]
        for name, window in SERIES:
            r = bench_series(name, window)
            a30, a60 = r["at"].get(30.0, (float("nan"), 0)), r["at"].get(60.0, (float("nan"), 0))
            lines.append(f"| {name} | {window} | {a30[0]:.4g} ({a30[1]}) | {a60[0]:.4g} "
                         f"({a60[1]}) | {r['season']:.4g} | {r['last']:.4g} | "
                         f"{r['linear']:.4g} | {'yes' if a60[0] < r['season'] else 'NO'} |")
            print(lines[-1], flush=True)
    if args.part in ("adding", "all"):
        lines += ["\n## Adding problem: solved within 60 s (test MSE < 0.0167)\n",
                  "| model | length | solved | seconds | best test MSE |", "|---|---|---|---|---|"]
        lines += bench_adding()
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    text = "\n".join(lines) + f"\n\nMeasured {stamp}.\n"
    if OUT.exists() and args.part != "all":
        text = OUT.read_text() + "\n---\n\n" + text
    OUT.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
