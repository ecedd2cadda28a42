"""The run engine: trains :mod:`core.protocol` trainers in the background for the UI.

:class:`Run` advances one trainer and keeps what it reported, :class:`RunPool` schedules runs on a
bounded set of workers and shares identical runs between sessions, :class:`RunCache` keeps
finished runs by config. Nothing here imports Streamlit.
"""

from __future__ import annotations

import collections
import os
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import torch

from core.protocol import Demo, Diverged, Snapshot, find_nonfinite_loss

__all__ = ["Run", "RunPool", "RunCache", "RunState"]

class RunState:
    """Life-cycle states of a :class:`Run`."""

    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"  # stopped by the user (or idle); can be resumed
    DONE = "done"
    DIVERGED = "diverged"
    ERROR = "error"
    CANCELLED = "cancelled"

    ALIVE = (QUEUED, RUNNING)
    ENDED = (DONE, DIVERGED, ERROR, CANCELLED)


_MAX_HISTORY = 5000


class Run:
    """One training run: a trainer generator plus what it has reported so far.

    Thread-safety: the worker thread appends to ``history`` and replaces ``latest``; readers get
    consistent copies through :meth:`view`. ``history`` is a list of flat dicts
    ``{"step", "time_s", **metrics}``, thinned to at most ~5,000 rows.
    """

    _ids = 0
    _ids_lock = threading.Lock()

    def __init__(self, demo: Demo, config: Any, label: str = "") -> None:
        with Run._ids_lock:
            Run._ids += 1
            self.id = Run._ids
        self.demo = demo
        self.config = config
        self.label = label
        self.state = RunState.QUEUED
        self.message = ""
        self.history: list[dict[str, float]] = []
        self.latest: Snapshot | None = None
        self.from_cache = False
        self.created = time.time()
        self.last_seen = time.time()
        self.queue_position = 0
        self._gen: Iterator[Snapshot] | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._done_evt = threading.Event()
        self.traceback = ""
        self.watchers = 0  # sessions showing this run (see RunPool.shared and Run.release)
        self.threads: Callable[[], int] | None = None  # torch threads to use (set by RunPool)

    # -- reading ---------------------------------------------------------------------------
    @property
    def alive(self) -> bool:
        """True while queued or running."""
        return self.state in RunState.ALIVE

    @property
    def step(self) -> int:
        return self.latest.step if self.latest else 0

    @property
    def total_steps(self) -> int | None:
        return self.latest.total_steps if self.latest else None

    @property
    def progress(self) -> float:
        """Fraction done in [0, 1] (0 when unknown)."""
        if self.state == RunState.DONE:
            return 1.0
        if self.latest and self.latest.total_steps:
            return min(1.0, self.latest.step / self.latest.total_steps)
        return 0.0

    @property
    def eta_s(self) -> float | None:
        """Estimated seconds left, from the elapsed time and progress so far."""
        p = self.progress
        if not self.latest or p <= 0 or p >= 1:
            return None
        return self.latest.time_s * (1 - p) / p

    def view(self) -> tuple[list[dict[str, float]], Snapshot | None]:
        """A consistent copy of (history, latest snapshot)."""
        with self._lock:
            return list(self.history), self.latest

    def touch(self) -> None:
        """Mark the run as watched (the UI calls this when it polls)."""
        self.last_seen = time.time()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run has ended or paused; True if it did within ``timeout``."""
        return self._done_evt.wait(timeout)

    # -- control ---------------------------------------------------------------------------
    def request_stop(self) -> None:
        """Ask the worker to pause after the current snapshot (the run can be resumed)."""
        self._stop.set()
        if self.state == RunState.QUEUED:
            self.state = RunState.PAUSED
            self._done_evt.set()

    def release(self) -> None:
        """One watcher lets go of the run; the last one cancels it (frees its memory)."""
        self.watchers -= 1
        if self.watchers <= 0:
            self.cancel()

    def cancel(self) -> None:
        """Stop for good and drop the trainer (frees its memory)."""
        self._stop.set()
        if self.state in (RunState.QUEUED, RunState.PAUSED):
            self.state = RunState.CANCELLED
            self._gen = None
            self._done_evt.set()

    # -- the worker side -------------------------------------------------------------------
    def _record(self, snap: Snapshot) -> None:
        row = {"step": float(snap.step), "time_s": float(snap.time_s)}
        row.update({k: float(v) for k, v in snap.metrics.items() if isinstance(v, (int, float))})
        with self._lock:
            self.history.append(row)
            if len(self.history) > _MAX_HISTORY:  # keep every other row of the older half
                half = len(self.history) // 2
                self.history = self.history[:half:2] + self.history[half:]
            self.latest = snap

    def _use_threads(self) -> None:
        """Follow the pool's share of the cores (torch's thread count is per calling thread)."""
        if self.threads is not None:
            n = self.threads()
            if n != torch.get_num_threads():
                torch.set_num_threads(n)

    def _work(self) -> None:
        """Advance the trainer until it ends, diverges, fails or is asked to stop."""
        self._stop.clear()
        self._done_evt.clear()
        self.state = RunState.RUNNING
        try:
            self._use_threads()
            if self._gen is None:
                self._gen = iter(self.demo.train(self.config))
            for snap in self._gen:
                self._record(snap)
                self._use_threads()
                bad = find_nonfinite_loss(snap.metrics)
                if bad is not None:
                    raise Diverged(
                        f"The {bad} became {snap.metrics[bad]} at step {snap.step}: training "
                        "diverged. The learning rate is probably too high: lower it and train again.")
                if snap.final:
                    self.state = RunState.DONE
                    break
                if self._stop.is_set():
                    self.state = RunState.PAUSED
                    return
            else:
                self.state = RunState.DONE
            self._gen = None
        except Diverged as e:
            self.state, self.message, self._gen = RunState.DIVERGED, str(e), None
        except Exception as e:  # shown on the page as one message, never a traceback
            self.state, self._gen = RunState.ERROR, None
            self.message = f"{type(e).__name__}: {e}"
            self.traceback = traceback.format_exc()
        finally:
            self._done_evt.set()


def _default_workers() -> int:
    env = os.environ.get("LIVEPROP_WORKERS")
    if env:
        return max(1, int(env))
    return max(1, min(2, os.cpu_count() or 1))


class RunPool:
    """A bounded pool of worker threads that advance :class:`Run` objects, FIFO.

    At most ``max_workers`` runs train at once (default: ``min(2, cores)``, or
    ``$LIVEPROP_WORKERS``); the cores are shared among the runs training now (each run's
    intra-op threads follow ``max(1, cores // active runs)``, updated at every snapshot), so a
    lone run uses the whole machine and concurrent runs do not oversubscribe it. Further runs
    wait in a queue and know their ``queue_position``. A worker pauses a run that nobody has
    polled for ``idle_timeout_s`` seconds (its page was closed).

    If a ``cache`` is given, a run whose config has a finished result in the cache completes
    instantly from it (when submitted and again when it reaches the front of the queue), and
    every run that finishes is stored in it.
    """

    def __init__(self, max_workers: int | None = None, cache: RunCache | None = None,
                 idle_timeout_s: float = 600.0) -> None:
        self.max_workers = max_workers or _default_workers()
        self.cores = os.cpu_count() or 1
        self.cache = cache
        self.idle_timeout_s = idle_timeout_s
        self._queue: collections.deque[Run] = collections.deque()
        self._active: set[int] = set()
        self._alive: dict[tuple, Run] = {}  # queued or running runs by (demo, config)
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def submit(self, run: Run) -> Run:
        """Queue ``run`` (new or paused) for training; returns it."""
        if self.cache is not None and self.cache.adopt(run):
            return run
        with self._lock:
            run.state = RunState.QUEUED
            run._done_evt.clear()
            run._stop.clear()
            self._queue.append(run)
            self._alive[RunCache.key(run)] = run
            self._renumber()
        self._dispatch()
        return run

    def shared(self, demo: Demo, config: Any) -> Run | None:
        """A queued or running run of the same demo and config, to watch instead of training
        the same thing twice (a classroom pressing Train on the default settings at once)."""
        with self._lock:
            run = self._alive.get((demo.name, config))
        return run if run is not None and run.alive else None

    def _renumber(self) -> None:
        for i, r in enumerate(self._queue):
            r.queue_position = i + 1

    @property
    def active_count(self) -> int:
        return len(self._active)

    @property
    def queued_count(self) -> int:
        return len(self._queue)

    def live_threads(self) -> int:
        """Worker threads still alive (for leak checks in tests and benchmarks)."""
        return sum(t.is_alive() for t in self._threads)

    def _dispatch(self) -> None:
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            while self._queue and len(self._active) < self.max_workers:
                run = self._queue.popleft()
                if run.state != RunState.QUEUED:  # stopped or cancelled while waiting
                    continue
                run.queue_position = 0
                self._active.add(run.id)
                t = threading.Thread(target=self._worker, args=(run,), daemon=True,
                                     name=f"liveprop-run-{run.id}")
                self._threads.append(t)
                t.start()
            self._renumber()

    def threads_per_run(self) -> int:
        """Torch intra-op threads for each run training now: the cores shared among them."""
        return max(1, self.cores // max(1, len(self._active)))

    def _worker(self, run: Run) -> None:
        run.threads = self.threads_per_run
        try:
            if self.cache is not None and run._gen is None and self.cache.adopt(run):
                return
            watchdog = threading.Thread(target=self._watch_idle, args=(run,), daemon=True)
            watchdog.start()
            run._work()
            if run.state == RunState.DONE and self.cache is not None and not run.from_cache:
                self.cache.put(run)
        finally:
            with self._lock:
                self._active.discard(run.id)
                if self._alive.get(RunCache.key(run)) is run and not run.alive:
                    del self._alive[RunCache.key(run)]
            self._dispatch()

    def _watch_idle(self, run: Run) -> None:
        while not run._done_evt.wait(1.0):
            if time.time() - run.last_seen > self.idle_timeout_s:
                run.request_stop()
                run.message = "Paused because nobody was watching it; press Resume to continue."
                return

    def shutdown(self) -> None:
        """Cancel queued runs and ask running ones to stop (used by tests)."""
        with self._lock:
            for r in list(self._queue):
                r.cancel()
            self._queue.clear()
        for t in list(self._threads):
            t.join(timeout=0)


class RunCache:
    """Finished runs by ``(demo name, config)``, least-recently-used, at most ``max_entries``.

    Shared by all sessions of the app, so the default config trains once per server.
    """

    def __init__(self, max_entries: int = 48) -> None:
        self.max_entries = max_entries
        self._d: collections.OrderedDict[tuple, tuple[list, Snapshot]] = collections.OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(run: Run) -> tuple:
        return (run.demo.name, run.config)

    def put(self, run: Run) -> None:
        history, latest = run.view()
        if latest is None:
            return
        with self._lock:
            self._d[self.key(run)] = (history, latest)
            self._d.move_to_end(self.key(run))
            while len(self._d) > self.max_entries:
                self._d.popitem(last=False)

    def get(self, demo_name: str, config: Any) -> tuple[list, Snapshot] | None:
        with self._lock:
            hit = self._d.get((demo_name, config))
            if hit is not None:
                self._d.move_to_end((demo_name, config))
            return hit

    def adopt(self, run: Run) -> bool:
        """Complete ``run`` from the cache if its config has finished before; True on a hit."""
        hit = self.get(run.demo.name, run.config)
        if hit is None:
            return False
        with run._lock:
            run.history, run.latest = list(hit[0]), hit[1]
        run.from_cache = True
        run.state = RunState.DONE
        run._done_evt.set()
        return True

    def __len__(self) -> int:
        return len(self._d)

    def clear(self) -> None:
        with self._lock:
            self._d.clear()
