"""Stop within 2 s: the crafted links of issue 21, each trained through the server's engine.

Each case is a page's settings from a link that once ran for hours without yielding; it is
submitted to a :class:`core.engine.RunPool` (worker processes, the server's default), trained for
``--train-s`` seconds, then stopped; reported: the time from Stop to the run settling (paused at
a snapshot, or terminated after the grace period), how it ended, and whether its worker process
is gone. Writes ``bench/results/stops.md``.

    .venv/bin/python bench/bench_stops.py [--train-s 8]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date
from pathlib import Path

from psutil import pid_exists

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CASES = [  # (what, demo, settings from the link)
    ("Decision Transformer naming a days-long DQN run", "decision_transformer",
     {"source": "dqn", "dqn_run": "total_steps=200000,train_freq=1,gradient_steps=512,width=512"}),
    ("GNN depth sweep on a large SBM graph with GAT", "gnn_depth",
     {"dataset": "sbm", "sbm_nodes": "1500", "avg_degree": "20", "model": "gat",
      "hidden": "256", "heads": "8", "epochs": "2000"}),
    ("SimCLR with a long few-label evaluation", "simclr",
     {"encoder": "resnet", "width": "64", "epochs": "1", "eval_steps": "5000",
      "label_draws": "5", "finetune": "true"}),
]


def main() -> None:
    from core.engine import Limits, Run, RunPool
    from core.executors import warm_up
    from core.protocol import config_from_strings
    from core.registry import get_demo

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--train-s", type=float, default=8.0)
    args = ap.parse_args()
    warm_up()
    pool = RunPool(limits=Limits(max_workers=2, max_run_s=0))  # no budget: Stop is measured
    rows = []
    for what, name, values in CASES:
        demo = get_demo(name)
        run = pool.submit(Run(demo, config_from_strings(demo.config_cls, values), session=name))
        time.sleep(args.train_s)
        (live,) = [r for r in pool.live_runs() if r is run] or [None]
        pid = live.handle.pid if live is not None and hasattr(live.handle, "pid") else None
        t0 = time.monotonic()
        run.request_stop()
        run.wait(30)
        settled = time.monotonic() - t0
        time.sleep(0.5)
        gone = pid is None or not pid_exists(pid) or run.state == "paused"
        rows.append((what, run.state, f"{settled:.2f} s", run.phase or f"step {run.step}",
                     "yes" if gone else "no"))
        run.cancel()
    pool.shutdown()
    table = ("| crafted link | state after Stop | Stop -> settled | doing when stopped | "
             "process gone (or paused) |\n|---|---|---|---|---|\n"
             + "".join(f"| {' | '.join(r)} |\n" for r in rows))
    text = (f"# Stopping long phases ({date.today()})\n\n`bench/bench_stops.py`: each crafted "
            f"link's settings train {args.train_s:g} s in a worker process, then Stop. Goal: "
            "settled within 2 s.\n\n" + table)
    (ROOT / "bench" / "results" / "stops.md").write_text(text)
    print(table)


if __name__ == "__main__":
    main()
