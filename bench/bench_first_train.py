"""A fresh server's first Train: how long until training shows its first step (issue 21).

The brief's goal: a page shows something within 1 s and the first training progress within 2 s.
On a server that has just become healthy, the first run also waits for the fork server that
starts every run's worker process (it imports torch and the topic modules once).

For each of ``--runs`` fresh servers (``streamlit run app.py``, as the tests start it): one
protocol-level session (``bench/load_client.py``) opens ``/playground`` as soon as the server
answers its health check, presses Train at once, and records the time from the press to the
first visible response and to the first "Training · step N" (N >= 1) or "Done".

Usage: ``.venv/bin/python bench/bench_first_train.py [--runs 3]``; prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.load_client import Session, StreamlitServer  # noqa: E402


async def first_train(url: str) -> tuple[float, float, float]:
    """(open -> Train button, Train -> response, Train -> first step) in seconds."""
    t0 = time.monotonic()
    async with Session(url, name="first") as s:
        await s.open("playground", "steps=2000", timeout=120, wait_chart=False)
        opened = time.monotonic() - t0
        await s.press("playground.train")
        await s.wait_for(lambda: s.stats.started_s is not None, 120)
        return opened, s.stats.response_s or float("nan"), s.stats.started_s


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    rows = []
    for i in range(args.runs):
        srv = StreamlitServer(ROOT / "test-output" / "bench_first_train" / f"server{i}.log")
        try:
            rows.append((srv.start_s, *asyncio.run(first_train(srv.url))))
        finally:
            srv.stop()
        time.sleep(2)
    print("| run | server healthy | open -> Train button | Train -> response | "
          "Train -> first step |")
    print("|---|---|---|---|---|")
    for i, r in enumerate(rows):
        print(f"| {i + 1} | " + " | ".join(f"{x:.2f} s" for x in r) + " |")
    med = [statistics.median(c) for c in zip(*rows)]
    print("| median | " + " | ".join(f"{x:.2f} s" for x in med) + " |")
    print(f"\nload average {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
