"""What the diagnostics (core.diagnostics.watch) cost: training throughput of the playground and
DQN trainers with and without them, interleaved in one run (A B A B ...), same seeds.

    .venv/bin/python bench/bench_diagnostics.py [--repeats 3]

Writes bench/results/diagnostics.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from core import diagnostics
from core.executors import Driver
from core.registry import get_demo

CASES = {"playground": {"steps": 2000, "hidden": "8,8", "activation": "relu"},
         "dqn": {"steps": 6000, "learning_starts": 500, "eval_every": 100000}}


def timed(name: str, values: dict, opt_in: bool) -> float:
    """Seconds to train the demo to its end (diagnostics on or off)."""
    demo = get_demo(name)
    real_watch = diagnostics.watch
    if not opt_in:
        diagnostics.watch = lambda model: model  # the trainer's one line does nothing
    try:
        driver = Driver(demo, demo.config_cls(**values))
        t0 = time.perf_counter()
        while True:
            _, end = driver.next()
            if end is not None:
                assert end.state == "done", end.message
                return time.perf_counter() - t0
    finally:
        diagnostics.watch = real_watch


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    lines = ["# Diagnostics cost", "",
             "Seconds to train with `watch(model)` (on) and without (off), interleaved, 1 torch "
             f"thread; median of {args.repeats}. `bench/bench_diagnostics.py`.", "",
             "| demo | settings | off (s) | on (s) | overhead |", "|---|---|---|---|---|"]
    for name, values in CASES.items():
        off, on = [], []
        for _ in range(args.repeats):
            off.append(timed(name, values, False))
            on.append(timed(name, values, True))
        off_s, on_s = sorted(off)[len(off) // 2], sorted(on)[len(on) // 2]
        row = (f"| {name} | {', '.join(f'{k}={v}' for k, v in values.items())} | {off_s:.2f} | "
               f"{on_s:.2f} | {100 * (on_s / off_s - 1):+.1f}% |")
        print(row, flush=True)
        lines.append(row)
    out = Path(__file__).parent / "results" / "diagnostics.md"
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
