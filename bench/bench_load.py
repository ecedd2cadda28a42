"""Load test of the Streamlit server with simulated sessions (no browsers): N sessions open a
page, press Train at once, and watch their runs to the end.

Each session is a :class:`bench.load_client.Session`: Streamlit's websocket protocol, with the
fragment polls a browser tab sends, so the server does the work of N visitors while the client
costs little CPU (30 Chromium tabs on 2 cores measure Chromium, not the server).

Reported: per session, open -> first full run and -> first chart; Train -> first visible
response (progress bar or queue notice), -> first trained chart (a chart drawn after
"Training · step N", N >= 1, or "Done"), -> "Done"; queue positions shown; the server's peak
RSS (server process and its children, sampled every 0.2 s; plus the kernel's VmHWM of the
server process) and its processes/threads before the sessions open and after they close.

Usage::

    .venv/bin/python bench/bench_load.py --sessions 30 --page playground --distinct

``--distinct`` gives each session its own seed in the query string (``seed=<i+1>``) so every
session trains its own run; without it, identical settings share one run (``RunPool.shared``),
as in a classroom. ``--query steps=500`` adds settings to every session's URL. Writes
``bench/results/load.md`` (``--out`` to change) and prints the same table.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import resource
import sys
import threading
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.load_client import Session, StreamlitServer  # noqa: E402

NOTES = """\
How it is measured: `bench/load_client.py` speaks Streamlit's websocket protocol (`BackMsg` /
`ForwardMsg`) for each session: one full run on open, the Train button's trigger, and every
`run_every` fragment poll the server asks for (`auto_rerun`), as a browser tab would. The
sessions open together (0.05 s apart), wait for their first chart, then all press Train within
a few milliseconds. Times are wall-clock on the client; the client itself shares the CPUs with
the server (its CPU time is in the table).

Limits of the client: charts are not drawn and their JavaScript is not loaded (so "first chart"
is when the chart's message arrived, before any browser paint); reruns carry only the pressed
button's trigger, not every widget value (the server keeps those from the previous run); no
ForwardMsg cache, so every message arrives in full as for a tab with a cold cache.
"""


def quantile(xs: list[float], q: float) -> float:
    """Nearest-rank quantile of a non-empty list."""
    s = sorted(xs)
    return s[max(0, math.ceil(q * len(s)) - 1)]


def summary(xs: list[float | None], total: int) -> str:
    got = [x for x in xs if x is not None]
    if not got:
        return f"none of {total}"
    return (f"p50 {quantile(got, 0.5):.2f} s, p95 {quantile(got, 0.95):.2f} s, "
            f"max {max(got):.2f} s (n={len(got)} of {total})")


class ServerProbe:
    """Samples the server's RSS (process tree), processes and threads on a background thread."""

    def __init__(self, pid: int, every_s: float = 0.2) -> None:
        self.pid, self.every_s = pid, every_s
        self.peak_rss = self.peak_threads = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True, name="probe")
        self._thread.start()

    def tree(self) -> tuple[int, int, int]:
        """(processes, threads, RSS bytes) of the server and its descendants now."""
        try:
            import psutil
        except ImportError:
            return self._tree_proc()
        try:
            root = psutil.Process(self.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return 0, 0, 0
        n_threads = rss = 0
        for p in procs:
            try:
                n_threads += p.num_threads()
                rss += p.memory_info().rss
            except psutil.Error:
                pass
        return len(procs), n_threads, rss

    def _tree_proc(self) -> tuple[int, int, int]:
        pids, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            pids.append(pid)
            for task in Path(f"/proc/{pid}/task").glob("*/children"):
                todo += [int(c) for c in task.read_text().split()]
        n_threads = sum(status_field(p, "Threads") for p in pids)
        return len(pids), n_threads, sum(status_field(p, "VmRSS") * 1024 for p in pids)

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            _, n_threads, rss = self.tree()
            self.peak_rss = max(self.peak_rss, rss)
            self.peak_threads = max(self.peak_threads, n_threads)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def status_field(pid: int, name: str) -> int:
    """An integer field of /proc/<pid>/status (kB for memory fields; 0 if gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass
class Opened:
    session: Session
    run_s: float | None = None  # connect -> first full run finished
    chart_s: float | None = None  # connect -> first chart
    error: str = ""


async def open_session(url: str, i: int, page: str, query: str, timeout: float) -> Opened:
    s = Session(url, name=f"s{i}")
    o, t0 = Opened(s), time.monotonic()
    try:
        await s.open(page, query, timeout=timeout, wait_chart=False)
        o.run_s = time.monotonic() - t0
        await s.wait_for(s.has_chart, timeout)
        o.chart_s = time.monotonic() - t0
    except (TimeoutError, ConnectionError, OSError) as e:
        o.error = f"open: {e}"
    return o


async def watch(o: Opened, timeout: float) -> None:
    s = o.session
    try:
        await s.wait_for(lambda: s.stats.done_s is not None and s.stats.first_chart_s is not None,
                         timeout)
    except (TimeoutError, ConnectionError) as e:
        o.error = f"train: {e}"


def session_query(args: argparse.Namespace, i: int) -> str:
    parts = [args.query.lstrip("?")] if args.query else []
    if args.distinct:
        parts.append(f"seed={i + 1}")
    return "&".join(p for p in parts if p)


async def load(url: str, args: argparse.Namespace) -> tuple[list[Opened], float]:
    """Open every session, press Train in all at once, wait for every run to end; returns the
    sessions and the wall time from the presses to the last "Done"."""

    async def staggered(i: int) -> Opened:
        await asyncio.sleep(0.05 * i)
        return await open_session(url, i, args.page, session_query(args, i), args.timeout)

    opened = await asyncio.gather(*(staggered(i) for i in range(args.sessions)))
    ready = [o for o in opened if not o.error]
    key = args.button or f"{args.page}.train"
    t0 = time.monotonic()
    await asyncio.gather(*(o.session.press(key) for o in ready))
    await asyncio.gather(*(watch(o, args.timeout) for o in ready))
    wall = time.monotonic() - t0
    await asyncio.gather(*(o.session.close() for o in opened))
    return opened, wall


def table(rows: list[tuple[str, str]]) -> str:
    return "\n".join(["| measure | result |", "|---|---|", *(f"| {a} | {b} |" for a, b in rows)])


def report(args: argparse.Namespace, srv: StreamlitServer, opened: list[Opened], wall: float,
           before: tuple[int, int, int], after: tuple[int, int, int], probe: ServerProbe,
           hwm_kib: int, cpu_s: float, load0: float) -> str:
    n = len(opened)
    sessions = [o.session for o in opened]
    stats = [s.stats for s in sessions]
    queued = [s.queue_positions for s in stats if s.queue_positions]
    max_pos = max((max(q) for q in queued), default=0)
    mib = 1024 * 1024
    rows = [
        ("server start: healthy", f"{srv.start_s:.2f} s"),
        ("open: first full run", summary([o.run_s for o in opened], n)),
        ("open: first chart", summary([o.chart_s for o in opened], n)),
        ("Train -> visible response", summary([s.response_s for s in stats], n)),
        ("Train -> first trained chart", summary([s.first_chart_s for s in stats], n)),
        ("Train -> Done", summary([s.done_s for s in stats], n)),
        ("sessions shown a queue position", f"{len(queued)} of {n} (highest position {max_pos})"),
        ("all runs done after", f"{wall:.1f} s"),
        ("server peak RSS (process tree, sampled)", f"{probe.peak_rss / mib:.0f} MiB"),
        ("server VmHWM (main process)", f"{hwm_kib / 1024:.0f} MiB"),
        ("server processes / threads before sessions", f"{before[0]} / {before[1]}"),
        ("server threads at most during the load", f"{probe.peak_threads}"),
        (f"server processes / threads {args.settle:.0f} s after sessions closed",
         f"{after[0]} / {after[1]}"),
        ("messages per session (in / out), MiB in",
         f"{sum(s.msgs_in for s in sessions) / n:.0f} / "
         f"{sum(s.msgs_out for s in sessions) / n:.0f}, "
         f"{sum(s.bytes_in for s in sessions) / n / mib:.1f}"),
        ("client CPU time (all sessions)", f"{cpu_s:.1f} s"),
        ("exception elements / failed sessions",
         f"{sum(len(s.exceptions) for s in sessions)} / {sum(bool(o.error) for o in opened)}"),
    ]
    errors = [f"- s{i}: {o.error}" for i, o in enumerate(opened) if o.error]
    cmd = " ".join(["bench/bench_load.py", *sys.argv[1:]])
    head = (f"# Load: {n} simulated sessions on /{args.page}"
            f"{' (distinct settings)' if args.distinct else ' (identical settings)'}\n\n"
            f"`{cmd}` on {date.today()}, {os.cpu_count()} CPU cores, load average "
            f"{load0:.1f} at the start and {os.getloadavg()[0]:.1f} at the end.\n")
    return "\n".join([head, table(rows), "", *(["Failures:", *errors, ""] if errors else []),
                      NOTES])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sessions", type=int, default=10)
    ap.add_argument("--page", default="playground", help="URL path of the page")
    ap.add_argument("--distinct", action="store_true", help="a seed per session: no shared runs")
    ap.add_argument("--query", default="", help="settings for every session, e.g. steps=500")
    ap.add_argument("--button", default="", help="key of the button to press (<page>.train)")
    ap.add_argument("--timeout", type=float, default=600.0, help="per phase and session, s")
    ap.add_argument("--settle", type=float, default=5.0, help="wait after closing, s")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "load.md")
    args = ap.parse_args()

    load0 = os.getloadavg()[0]
    srv = StreamlitServer(ROOT / "test-output" / "bench_load" / "server.log")
    try:
        probe = ServerProbe(srv.pid)
        time.sleep(1.0)
        before = probe.tree()
        cpu0 = resource.getrusage(resource.RUSAGE_SELF)
        opened, wall = asyncio.run(load(srv.url, args))
        cpu1 = resource.getrusage(resource.RUSAGE_SELF)
        time.sleep(args.settle)
        after = probe.tree()
        probe.stop()
        hwm = status_field(srv.pid, "VmHWM")
        cpu_s = (cpu1.ru_utime + cpu1.ru_stime) - (cpu0.ru_utime + cpu0.ru_stime)
        text = report(args, srv, opened, wall, before, after, probe, hwm, cpu_s, load0)
    finally:
        srv.stop()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
