"""Benchmark /forecasting (issue 18) and write bench/results/forecasting.md.

1. The LSTM's test MAE against seasonal naive on co2, sunspots and seattle-temps after 30 and
   60 s of training (the real trainer, evaluation time included). Goal: beats seasonal naive on
   all three within 60 s.
2. The adding problem: for each of RNN, LSTM, GRU (one model per run, the demo's defaults),
   the longest sequence length solved within 60 CPU seconds (test MSE on the 512 fixed test
   sequences under a tenth of the trivial 0.167 baseline; the clock includes the trainer's
   evaluations). Goal: the LSTM solves >= 100. ``--no-chrono`` and ``--stepwise`` measure
   the two levers (chrono initialisation; fused kernels instead of a Python loop over time).

CPU seconds (``time.process_time``, one torch thread) are the budget: wall seconds, also
reported, depend on what else runs on the machine.

Usage: .venv/bin/python bench/sequences/bench_forecasting.py [--part forecast|adding|all]
[--models lstm,gru] [--lengths 100,200] [--no-chrono] [--stepwise] [--threads N]. About 3 min
(forecast) + up to a few CPU minutes (adding) on an idle core.
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
BUDGET_CPU_S = 60.0
LENGTHS = {"rnn": (10, 20, 50), "lstm": (100, 200, 400, 600, 800),
           "gru": (100, 200, 400, 600, 800)}


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


def solves(kind: str, length: int, chrono: bool = True, stepwise: bool = False,
           budget: float = BUDGET_CPU_S) -> dict:
    """Train ``kind`` alone on the adding problem of ``length`` until its test MSE is under
    :data:`SOLVED` or ``budget`` CPU seconds pass: ``{solved, cpu_s, wall_s, step, best}``."""
    cfg = fc.MemoryConfig(task="adding", seq_len=length, models=kind, steps=100_000,
                          chrono_init=chrono, device="cpu")
    cpu0, wall0 = time.process_time(), time.perf_counter()
    best, out = float("inf"), {}
    fc.RecurrentNet.fused = not stepwise  # the class default every new net reads
    for snap in fc.train_memory(cfg):
        loss = snap.metrics.get(f"test_loss_{kind}")
        best = min(best, loss if loss is not None else best)
        cpu = time.process_time() - cpu0
        out = {"cpu_s": cpu, "wall_s": time.perf_counter() - wall0, "step": snap.step,
               "best": best}
        if best < SOLVED or cpu > budget:
            break
    return {"solved": best < SOLVED, **out}


def bench_adding(models: list[str], lengths: dict[str, tuple], chrono: bool,
                 stepwise: bool) -> list[str]:
    """Rows of the adding table: each model at growing lengths until one is not solved."""
    rows = []
    for kind in models:
        longest = None
        for n in lengths[kind]:
            r = solves(kind, n, chrono, stepwise)
            rows.append(f"| {kind} | {n} | {'yes' if r['solved'] else 'no'} | {r['step']} | "
                        f"{r['cpu_s']:.1f} | {r['wall_s']:.0f} | {r['best']:.4f} |")
            print(rows[-1], flush=True)
            if not r["solved"]:
                break
            longest = n
        rows.append(f"| **{kind}: longest solved** | {longest or '-'} | | | | | |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", default="all", choices=("forecast", "adding", "all"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--models", default="rnn,lstm,gru", help="adding: models, comma-separated")
    ap.add_argument("--lengths", default="", help="adding: lengths for every model, e.g. 100,200 "
                    "(default: each model's own list)")
    ap.add_argument("--no-chrono", action="store_true", help="adding: chrono_init=False")
    ap.add_argument("--stepwise", action="store_true", help="adding: a Python loop over time "
                    "instead of the fused kernels")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    load = os.getloadavg()[0]
    lines = [f"# /forecasting benchmark (issue 18)\n\nMachine: {os.cpu_count()} cores, torch "
             f"{args.threads} thread(s), load average at start {load:.1f}. "
             f"Run: `.venv/bin/python bench/sequences/bench_forecasting.py "
             f"{' '.join(sys.argv[1:])}`.\n"]
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
        models = args.models.split(",")
        lengths = ({m: tuple(int(n) for n in args.lengths.split(",")) for m in models}
                   if args.lengths else LENGTHS)
        lines += [f"\n## Adding problem: solved within {BUDGET_CPU_S:.0f} CPU s (test MSE < "
                  f"{SOLVED:.4f}); chrono_init={not args.no_chrono}, "
                  f"{'stepwise loop' if args.stepwise else 'fused kernels'}\n",
                  "| model | length | solved | updates | CPU s | wall s | best test MSE |",
                  "|---|---|---|---|---|---|---|"]
        lines += bench_adding(models, lengths, not args.no_chrono, args.stepwise)
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    text = "\n".join(lines) + f"\n\nMeasured {stamp}.\n"
    if OUT.exists() and args.part != "all":
        text = OUT.read_text() + "\n---\n\n" + text
    OUT.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
