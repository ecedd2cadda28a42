"""In-app training throughput against the same config headless (issue 21).

One simulated session (:mod:`bench.load_client`: Streamlit's own protocol, with the fragment
polls a browser tab sends) opens a page, presses Train and watches the run; the steps per
second are read from the page's progress text ("Training · step N/M") between ``--warmup`` and
``--seconds`` after the press. The same config then trains headless in a fresh process
(``python -m core train``), timed between the same step counts from its ``metrics.jsonl``.

With ``--chromium`` a real Chromium tab watches the run instead (it draws every chart).
The server starts as ``make run``'s does: it admits its first visitor once the fork server is up.

Usage::

    .venv/bin/python bench/bench_throughput.py [--page gan --demo gan --query steps=5000]
        [--repeats N] [--chromium] [--out FILE]

Writes ``bench/results/throughput.md`` and prints the table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.load_client import Session, StreamlitServer  # noqa: E402

STEP = re.compile(r"step (\d+)")
TRAINING = re.compile(r"^Training · step (\d+)", re.MULTILINE)


async def in_app(url: str, page: str, query: str, warmup: float, seconds: float
                 ) -> tuple[int, int, float]:
    """(first step, last step, seconds between them) seen in the app's progress text."""
    async with Session(url, "throughput") as s:
        await s.open(page, query)
        await s.press(f"{page}.train")
        samples: list[tuple[float, int]] = []
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            m = STEP.search(s.progress_text())
            if m:
                samples.append((time.monotonic() - t0, int(m.group(1))))
            await asyncio.sleep(0.2)
        if not s.progress_text().startswith("Training"):
            raise RuntimeError(f"the run stopped training inside the window: "
                               f"{s.progress_text()!r}")
        after = [(t, n) for t, n in samples if t >= warmup]
        (t1, n1), (t2, n2) = after[0], after[-1]
        return n1, n2, t2 - t1


def in_chromium(url: str, page: str, query: str, warmup: float, seconds: float
                ) -> tuple[int, int, float]:
    """As :func:`in_app`, with a real Chromium tab (Debian's ``chromium``) as the session: it
    draws every chart, so its JavaScript and the server's work for it share the cores."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=args)
        try:
            tab = browser.new_page(viewport={"width": 1400, "height": 1000})
            tab.goto(f"{url}/{page}?{query}")
            train = tab.get_by_role("button", name="Train", exact=True).first
            train.wait_for(timeout=120_000)
            train.click()
            main = tab.locator("[data-testid='stMain']")
            samples: list[tuple[float, int]] = []
            t0 = time.monotonic()
            while time.monotonic() - t0 < seconds:
                try:  # the page's text (a locator on the line itself rarely caught it stable)
                    m = TRAINING.search(main.inner_text(timeout=2_000))
                except PlaywrightTimeout:
                    m = None
                if m:
                    samples.append((time.monotonic() - t0, int(m.group(1))))
                time.sleep(0.2)
            status = [line for line in main.inner_text(timeout=10_000).splitlines()
                      if "step" in line and len(line) < 200][:3]
        finally:
            browser.close()
    if not samples or samples[-1][0] < seconds - 5:
        raise RuntimeError("the run stopped training inside the window (no 'Training · step' "
                           f"line in the last 5 s; {len(samples)} samples; the page: {status})")
    after = [(t, n) for t, n in samples if t >= warmup]
    (t1, n1), (t2, n2) = after[0], after[-1]
    return n1, n2, t2 - t1


def headless(demo: str, query: str, n1: int, n2: int) -> float:
    """Seconds the headless CLI takes from step ``n1`` to step ``n2`` of the same config."""
    values = dict(kv.split("=", 1) for kv in query.split("&") if kv)
    values["steps"] = str(n2)  # stop where the in-app measurement stopped
    sets = [a for k, v in values.items() for a in ("--set", f"{k}={v}")]
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([sys.executable, "-m", "core", "train", demo, *sets, "--out", out,
                        "--quiet"], cwd=ROOT, check=True, capture_output=True, timeout=3600)
        rows = [json.loads(line) for line in open(Path(out) / "metrics.jsonl")]
    t = {r["step"]: r["time_s"] for r in rows}
    first = min((s for s in t if s >= n1), default=None)
    last = max((s for s in t if s <= n2), default=None)
    if first is None or last is None or last <= first:
        raise RuntimeError("the headless run has no snapshots between those steps")
    return (t[last] - t[first]) * (n2 - n1) / (last - first)


def measure(args: argparse.Namespace) -> tuple[int, int, float, float]:
    """One in-app measurement on a fresh server, then the headless reference over the same
    steps: (first step, last step, in-app steps/s, headless steps/s)."""
    server = StreamlitServer(Path(tempfile.gettempdir()) / "liveprop-throughput.log")
    try:
        if args.chromium:
            n1, n2, dt = in_chromium(server.url, args.page, args.query, args.warmup,
                                     args.seconds)
        else:
            n1, n2, dt = asyncio.run(in_app(server.url, args.page, args.query, args.warmup,
                                            args.seconds))
    finally:
        server.stop()
    return n1, n2, (n2 - n1) / dt, (n2 - n1) / headless(args.demo, args.query, n1, n2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--page", default="gan")
    ap.add_argument("--demo", default="gan")
    ap.add_argument("--query", default="steps=5000", help="settings for both runs (within the "
                    "server's per-run budget: a run over it is stopped)")
    ap.add_argument("--warmup", type=float, default=8.0)
    ap.add_argument("--seconds", type=float, default=40.0)
    ap.add_argument("--repeats", type=int, default=1,
                    help="pairs (in the app, then headless) measured one after the other; the "
                    "table gives each pair and the median ratio")
    ap.add_argument("--chromium", action="store_true",
                    help="watch the run in a real Chromium tab instead of the protocol client")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "throughput.md"))
    args = ap.parse_args()
    watcher = "1 Chromium tab" if args.chromium else "1 polled session"
    rows, ratios = [], []
    for i in range(args.repeats):
        try:
            n1, n2, app_rate, cli_rate = measure(args)
        except RuntimeError as e:  # e.g. the server's per-run budget stopped it: no figure
            rows.append(f"| {i + 1} | /{args.page}?{args.query} | not measured: {e} | | |\n")
            print(rows[-1], end="", flush=True)
            continue
        ratios.append(app_rate / cli_rate)
        rows.append(f"| {i + 1} | /{args.page}?{args.query}, steps {n1}-{n2} | "
                    f"{app_rate:.1f} steps/s | {cli_rate:.1f} steps/s | {ratios[-1]:.0%} |\n")
        print(rows[-1], end="", flush=True)
    table = (f"| pair | config | in the app ({watcher}) | headless CLI | ratio |\n"
             "|---|---|---|---|---|\n" + "".join(rows)
             + (f"\nMedian ratio over {len(ratios)} pair(s): {statistics.median(ratios):.0%}\n"
                if ratios else "\nNo pair measured.\n"))
    text = (f"# In-app training throughput vs headless ({date.today()})\n\n"
            "`bench/bench_throughput.py`: one protocol-level session polls the page while the run "
            "trains in its worker process; the same config then trains with `python -m core "
            "train`. Same machine, one after the other.\n\n" + table)
    Path(args.out).write_text(text)
    print(table)


if __name__ == "__main__":
    main()
