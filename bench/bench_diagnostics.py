"""What the diagnostics (core.diagnostics.watch) cost: training time of every trainer that opts in
(playground, CNN, GAN, DQN) with and without them, interleaved in one run (A B A B ...), same
seeds. "Off" replaces the trainer module's ``watch`` by the identity.

    .venv/bin/python bench/bench_diagnostics.py [--repeats 3]

Writes bench/results/diagnostics.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core import diagnostics  # noqa: E402
from core.executors import Driver  # noqa: E402
from core.registry import get_demo  # noqa: E402

CASES = {"playground": {"steps": 2000, "hidden": "8,8", "activation": "relu"},
         "cnn": {"epochs": 1, "n_train": 2000},
         "gan": {"steps": 400},
         "dqn": {"steps": 6000, "learning_starts": 500, "eval_every": 100000}}


def timed(name: str, values: dict, opt_in: bool) -> float:
    """Seconds to train the demo to its end (diagnostics on or off)."""
    demo = get_demo(name)
    module = sys.modules[demo.train.__module__]
    real_watch = module.watch
    if not opt_in:
        module.watch = lambda model: model  # the trainer's one line does nothing
    try:
        driver = Driver(demo, demo.config_cls(**values))
        t0 = time.perf_counter()
        while True:
            _, end = driver.next()
            if end is not None:
                assert end.state == "done", end.message
                return time.perf_counter() - t0
    finally:
        module.watch = real_watch
        diagnostics.release()


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
