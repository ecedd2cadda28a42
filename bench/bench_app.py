"""Whole-process figures for the app shell (issue: foundation).

1. Cold server start (``python -m ui.serve``, what ``make run`` starts) to the home page
   interactive in Chromium.
2. Opening ``/playground`` to its first chart (on that warm server).
3. A classroom load test: 10 browser sessions open ``/playground`` and press Train at once; for
   each session the time to a visible response (progress bar or queue position) and to its first
   trained chart ("Output after step ..."), the server's peak memory, and whether the training
   threads are gone after the sessions close.

4. ``--charts``: first paint of one simple line chart per chart library (Plotly,
   ``st.altair_chart``, ``st.line_chart``) in a one-page app, a fresh browser context per
   visit: time from navigation to the chart drawn, and to a button drawn above it.

Usage: ``.venv/bin/python bench/bench_app.py`` (needs Debian's chromium). Prints a Markdown table
and writes ``bench/results/app.md``; ``--charts [RUNS]`` prints the chart table only (default
5 visits per library) for the "Chart libraries" section there.
"""

from __future__ import annotations

import os
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
PROGRESS = re.compile(r"^(Training · step|Waiting for a free trainer|Done · )")
# When the page first *draws* a visible Train button (a DOM mutation observer: Playwright's own
# polling waits for the browser's main thread, which the chart bundle keeps busy).
FIRST_SEEN_JS = """window.__firstSeen = {};
new MutationObserver(() => {
  if (window.__firstSeen.train) return;
  for (const b of document.querySelectorAll('button')) {
    if (b.innerText.trim().endsWith('Train') && b.offsetParent) {
      window.__firstSeen.train = performance.now(); break;
    }
  }
}).observe(document, {subtree: true, childList: true, attributes: true});"""


def wait_healthy(url: str) -> None:
    """Poll the server's health endpoint until it answers ``ok``."""
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=1) as r:
                if r.read() == b"ok":
                    return
        except OSError:
            time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


CHART_APP = """import sys
import altair as alt
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

kind = st.query_params.get("kind", "plotly")
st.title("Chart first paint")
st.button("Train")
rng = np.random.default_rng(0)
df = pd.DataFrame({"step": np.arange(300), "train": np.exp(-np.arange(300) / 80) +
                   0.05 * rng.random(300)})
df["test"] = df["train"] + 0.1
if kind in ("plotly", "both"):
    fig = go.Figure()
    for m in ("train", "test"):
        fig.add_scatter(x=df["step"], y=df[m], mode="lines", name=m)
    fig.update_layout(height=280)
    st.plotly_chart(fig)
if kind in ("altair", "both"):
    long = df.melt("step", var_name="metric", value_name="loss")
    st.altair_chart(alt.Chart(long).mark_line().encode(x="step", y="loss", color="metric")
                    .properties(height=280))
if kind == "line_chart":
    st.line_chart(df, x="step", y=["train", "test"], height=280)
"""
# when the button and the chart's marks are first drawn (ms since navigation start)
CHART_SEEN_JS = """window.__seen = {};
new MutationObserver(() => {
  const s = window.__seen, t = performance.now();
  if (!s.button) for (const b of document.querySelectorAll('button'))
    if (b.innerText.trim() === 'Train' && b.offsetParent) { s.button = t; break; }
  if (!s.plotly && document.querySelector('.js-plotly-plot .scatterlayer .trace')) s.plotly = t;
  if (!s.vega && document.querySelector("[data-testid='stVegaLiteChart'] canvas, " +
                                        "[data-testid='stVegaLiteChart'] svg .mark-line")) s.vega = t;
  if (!s.chart && (s.plotly || s.vega)) s.chart = t;
  if (!s.all && s.chart && !(window.__kind === 'both' && !(s.plotly && s.vega))) s.all = t;
}).observe(document, {subtree: true, childList: true, attributes: true});"""


def chart_first_paint(runs: int = 5) -> str:
    """Markdown table: navigation to the button / the first chart / every chart drawn, per chart
    library (median and range over ``runs`` visits)."""
    import tempfile

    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="liveprop-charts-"))
    (tmp / "chart_app.py").write_text(CHART_APP)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(tmp / "chart_app.py"), "--server.port",
         str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
         "--browser.gatherUsageStats", "false"],
        cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    kinds = ("plotly", "altair", "line_chart", "both")
    seen: dict[str, list[dict]] = {k: [] for k in kinds}
    try:
        wait_healthy(url)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            for i in range(runs + 1):  # visit 0 of each warms the server's script cache
                for kind in kinds:
                    ctx = browser.new_context(viewport={"width": 1200, "height": 900})
                    page = ctx.new_page()
                    page.add_init_script(f"window.__kind = '{kind}';" + CHART_SEEN_JS)
                    page.goto(f"{url}/?kind={kind}")
                    page.wait_for_function("window.__seen && window.__seen.all",
                                           timeout=60_000)
                    if i:
                        seen[kind].append(page.evaluate("window.__seen"))
                    ctx.close()
            browser.close()
    finally:
        server.terminate()
        server.wait(10)

    def cell(xs: list[float]) -> str:
        return f"{statistics.median(xs) / 1000:.2f} s ({min(xs) / 1000:.2f}-{max(xs) / 1000:.2f})"

    names = {"plotly": "Plotly (`st.plotly_chart`)", "altair": "Vega-Lite (`st.altair_chart`)",
             "line_chart": "Vega-Lite (`st.line_chart`)",
             "both": "Vega-Lite and Plotly on one page"}
    rows = [f"| {names[k]} | {cell([s['button'] for s in seen[k]])} | "
            f"{cell([s['chart'] for s in seen[k]])} | {cell([s['all'] for s in seen[k]])} |"
            for k in kinds]
    head = ["| chart | button drawn | first chart drawn | all charts drawn |", "|---|---|---|---|"]
    return "\n".join([*head, *rows]) + (
        f"\n\nMedian (min-max) of {runs} visits each, a fresh browser context per visit, "
        f"{os.cpu_count()} CPU cores, load average {os.getloadavg()[0]:.1f}.\n")


def main() -> None:
    from playwright.sync_api import sync_playwright

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, SDL_VIDEODRIVER="dummy", LIVEPROP_OFFLINE="1")
    t_start = time.perf_counter()
    server = subprocess.Popen(
        [sys.executable, "-m", "ui.serve", "--server.port", str(port), "--server.address",
         "127.0.0.1", "--server.disconnectedSessionTTL", "5"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    rows: list[tuple[str, str]] = []
    try:
        wait_healthy(url)
        t_healthy = time.perf_counter() - t_start
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            page.get_by_role("heading", name="Liveprop").first.wait_for(timeout=120_000)
            t_home = time.perf_counter() - t_start
            rows += [("cold start: server healthy", f"{t_healthy:.2f} s"),
                     ("cold start: home page interactive", f"{t_home:.2f} s")]
            page.close()

            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.add_init_script(FIRST_SEEN_JS)
            t0 = time.perf_counter()
            page.goto(f"{url}/playground")
            page.get_by_role("heading", name="MLP playground").first.wait_for(timeout=60_000)
            t_text = time.perf_counter() - t0
            page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
            t_chart = time.perf_counter() - t0
            seen = page.evaluate("window.__firstSeen")  # ms since navigation start
            rows += [("open /playground: first text", f"{t_text:.2f} s"),
                     ("open /playground: Train button drawn",
                      f"{seen['train'] / 1000:.2f} s" if "train" in seen else "n/a"),
                     ("open /playground: first chart", f"{t_chart:.2f} s")]
            page.close()
            threads_before = proc_status(server.pid, "Threads")

            # --- 10 sessions press Train at once (same default settings, as in a classroom)
            ctxs = [browser.new_context(viewport={"width": 1200, "height": 900})
                    for _ in range(10)]
            pages = [c.new_page() for c in ctxs]
            for pg in pages:
                pg.goto(f"{url}/playground")
            for pg in pages:
                pg.get_by_role("button", name="Train").first.wait_for(timeout=60_000)
            clicked: list[float] = []
            response: list[float | None] = [None] * 10
            chart: list[float | None] = [None] * 10
            queued_seen = 0
            for i, pg in enumerate(pages):  # press Train in each session, one right after another
                pg.get_by_role("button", name="Train", exact=True).first.click()
                clicked.append(time.perf_counter())
                pg.get_by_text(PROGRESS).first.wait_for(timeout=60_000)
                response[i] = time.perf_counter() - clicked[i]
                if pg.get_by_text(re.compile("^Waiting for a free trainer")).count():
                    queued_seen += 1
            deadline = time.perf_counter() + 240
            while time.perf_counter() < deadline and None in chart:
                for i, pg in enumerate(pages):
                    if chart[i] is None and pg.get_by_text(
                            re.compile(r"^Output after step \d+")).count():
                        chart[i] = time.perf_counter() - clicked[i]
                time.sleep(0.1)
            peak_kb = proc_status(server.pid, "VmHWM")
            for c in ctxs:
                c.close()
            browser.close()
        time.sleep(12)  # disconnectedSessionTTL=5 s, then session resources are released
        threads_after = proc_status(server.pid, "Threads")

        def summary(xs: list[float | None]) -> str:
            ok = [x for x in xs if x is not None]
            if not ok:
                return "none"
            miss = f", {len(xs) - len(ok)} never" if len(ok) < len(xs) else ""
            return (f"median {statistics.median(ok):.2f} s, max {max(ok):.2f} s "
                    f"(n={len(ok)}{miss})")

        rows += [("10 sessions: click to visible response", summary(response)),
                 ("10 sessions: sessions shown a queue position (identical settings share "
                  "one run)", f"{queued_seen} of 10"),
                 ("10 sessions: click to first trained chart", summary(chart)),
                 ("server peak memory (VmHWM)", f"{peak_kb / 1024:.0f} MiB"),
                 ("server threads before load / after sessions closed",
                  f"{threads_before} / {threads_after}")]
    finally:
        server.terminate()
        server.wait(10)
    load = os.getloadavg()[0]
    table = ["| measure | result |", "|---|---|", *[f"| {k} | {v} |" for k, v in rows]]
    text = "\n".join(table) + (f"\n\nMeasured on {os.cpu_count()} CPU cores, load average "
                               f"{load:.1f} at the end of the run.\n")
    print(text)
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    old = (out / "app.md").read_text() if (out / "app.md").exists() else ""
    notes = old[old.find("\nNotes:"):] if "\nNotes:" in old else ""  # keep the notes
    (out / "app.md").write_text(text + notes)


if __name__ == "__main__":
    if "--charts" in sys.argv:
        i = sys.argv.index("--charts")
        print(chart_first_paint(int(sys.argv[i + 1]) if len(sys.argv) > i + 1 else 5))
    else:
        main()
