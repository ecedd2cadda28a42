"""The run engine: trains :mod:`core.protocol` trainers off the page, fairly, within budgets.

* :class:`Run` is one training run as the pages see it: state, metric history, latest
  snapshot, the sessions watching it.
* :class:`RunPool` decides when a run trains: at most ``max_workers`` at once, the queue served
  round-robin across sessions (each session sees its position), identical runs shared between
  sessions, and the server's budgets (:class:`Limits`) enforced: runs per session, estimated
  time and memory per run, bytes of finished and paused runs, idle pauses.
* Where a run executes is the executor's business (:mod:`core.executors`): its own worker
  process by default (``LIVEPROP_BACKEND=process``), a Ray actor (``ray``, see
  :mod:`core.ray_backend`) or a thread (``thread``, for tests and notebooks).
* :class:`RunCache` keeps finished runs by config, bounded in bytes.

Nothing here imports Streamlit. The CLI (``python -m core train``) runs trainers directly and has
no limits.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import os
import pickle
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch

from core.executors import ACTIVITY, END, SNAPSHOT, Ended, Handle
from core.protocol import Demo, Snapshot, carry_artifacts

__all__ = ["Run", "RunPool", "RunCache", "RunState", "Limits", "BudgetError", "default_workers",
           "CostTable", "PRIVATE_FIELDS", "is_private",
           "make_executor"]


class RunState:
    """Life-cycle states of a :class:`Run`."""

    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"  # stopped by the user (or idle); can be resumed
    DONE = "done"
    DIVERGED = "diverged"
    ERROR = "error"
    CANCELLED = "cancelled"  # released by every watcher
    STOPPED = "stopped"  # ended by the server (budget, unresponsive, dropped); history kept

    ALIVE = (QUEUED, RUNNING)
    ENDED = (DONE, DIVERGED, ERROR, CANCELLED, STOPPED)


class BudgetError(ValueError):
    """A run the server's limits do not allow; the message is one plain sentence."""


LENGTH_FIELDS = ("steps", "epochs", "episodes")
# config fields that hold a visitor's own data (an upload's id, pasted CSV text): such runs are
# private to their session, neither shared with other sessions nor kept in the run cache
PRIVATE_FIELDS = ("upload", "csv")


def is_private(config: Any) -> bool:
    """Whether ``config`` trains on a visitor's own data (:data:`PRIVATE_FIELDS`)."""
    return any(getattr(config, f, "") for f in PRIVATE_FIELDS)  # the field that sets how long a run trains


class CostTable:
    """Measured training seconds per unit of a run's length (a step, an epoch, an episode),
    by demo and every setting except the length and the seed: a config's cost before it runs
    is its length times the cost measured on a run of the same model and data."""

    def __init__(self) -> None:
        self._d: dict[tuple, float] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _key(demo: Demo, config: Any) -> tuple[tuple, int] | None:
        values = {f.name: getattr(config, f.name) for f in fields(config)}
        length = next((k for k in LENGTH_FIELDS if isinstance(values.get(k), int)), None)
        if length is None or values[length] <= 0:
            return None
        n = values.pop(length)
        values.pop("seed", None)
        return (demo.name, tuple(sorted(values.items(), key=lambda kv: kv[0]))), n

    def record(self, demo: Demo, config: Any, seconds_total: float) -> None:
        """A run of ``config`` is measured to take ``seconds_total`` in all."""
        key = self._key(demo, config)
        if key is not None:
            with self._lock:
                self._d[key[0]] = seconds_total / key[1]

    def estimate(self, demo: Demo, config: Any) -> float | None:
        """Estimated training seconds of ``config``, or None when no such run was measured."""
        key = self._key(demo, config)
        if key is None:
            return None
        with self._lock:
            per_unit = self._d.get(key[0])
        return None if per_unit is None else per_unit * key[1]


def _env_number(name: str, default: float, kind: type = float, minimum: float = 0) -> Any:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or value < minimum:
        raise ValueError(f"{name}={raw!r} is not allowed: set it to a "
                         f"{'whole ' if kind is int else ''}number of at least {minimum:g}, "
                         "or unset it for the default")
    return value


def default_workers() -> int:
    """How many runs may train at once: ``$LIVEPROP_WORKERS`` when set, else ``min(2, cores)``.

    Raises:
        ValueError: naming the variable when it is set but not a positive whole number.
    """
    return _env_number("LIVEPROP_WORKERS", max(1, min(2, os.cpu_count() or 1)), int, 1)


MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """The server's budgets (the CLI has none). :meth:`from_env` reads the ``LIVEPROP_*``
    variables named beside each field."""

    max_workers: int = 2  # LIVEPROP_WORKERS: runs training at once
    cores: int = 0  # LIVEPROP_CORES: cores the runs training share (0: this machine's)
    runs_per_session: int = 3  # LIVEPROP_RUNS_PER_SESSION: queued or training runs of a session
    max_run_s: float = 1800.0  # LIVEPROP_MAX_RUN_S: estimated seconds of one run (0: no limit)
    max_run_bytes: int = 3072 * MB  # LIVEPROP_MAX_RUN_MB: memory of one run's process
    cache_bytes: int = 1024 * MB  # LIVEPROP_CACHE_MB: finished runs kept for every session
    paused_bytes: int = 2048 * MB  # LIVEPROP_PAUSED_MB: memory of paused runs
    paused_idle_s: float = 900.0  # LIVEPROP_PAUSED_IDLE_S: a paused run is dropped after this
    idle_timeout_s: float = 600.0  # a training run nobody polls is paused after this
    closed_grace_s: float = 15.0  # ... or after this, once every session watching it has closed
    stop_grace_s: float = 1.5  # a run that does not pause within this is terminated
    start_grace_s: float = 20.0  # ... counted from its worker's start when that came later
    estimate_after_s: float = 10.0  # the time estimate is trusted after this much training
    settled_after_s: float = 60.0  # ... and taken at its word (not only when 2x over) after this

    @classmethod
    def from_env(cls) -> Limits:
        """Limits from the environment.

        Raises:
            ValueError: naming the first variable that is not a valid number.
        """
        return cls(
            max_workers=default_workers(),
            cores=_env_number("LIVEPROP_CORES", 0, int, 1),
            runs_per_session=_env_number("LIVEPROP_RUNS_PER_SESSION", 3, int, 1),
            max_run_s=_env_number("LIVEPROP_MAX_RUN_S", 1800.0),
            max_run_bytes=int(_env_number("LIVEPROP_MAX_RUN_MB", 3072.0, float, 64) * MB),
            cache_bytes=int(_env_number("LIVEPROP_CACHE_MB", 1024.0) * MB),
            paused_bytes=int(_env_number("LIVEPROP_PAUSED_MB", 2048.0) * MB),
            paused_idle_s=_env_number("LIVEPROP_PAUSED_IDLE_S", 900.0),
        )


def make_executor(name: str | None = None) -> Any:
    """The executor called ``name`` (default ``$LIVEPROP_BACKEND``, else ``process``).

    Raises:
        ValueError: for an unknown name, naming the variable and the allowed values.
    """
    name = (name or os.environ.get("LIVEPROP_BACKEND", "") or "process").strip().lower()
    if name == "process":
        from core.executors import ProcessExecutor

        return ProcessExecutor()
    if name == "thread":
        from core.executors import ThreadExecutor

        return ThreadExecutor()
    if name == "ray":
        try:
            from core.ray_backend import RayExecutor
        except ImportError:
            raise ValueError("LIVEPROP_BACKEND=ray needs Ray: pip install -r requirements-test.txt "
                             "(or pip install ray), or unset LIVEPROP_BACKEND") from None
        return RayExecutor()
    raise ValueError(f"LIVEPROP_BACKEND={name!r} is not allowed: use process, ray or thread")


def _fmt_duration(s: float) -> str:
    if s >= 3600:
        return f"{s / 3600:.1f} h"
    if s >= 120:
        return f"{s / 60:.0f} min"
    return f"{s:.0f} s"


_MAX_HISTORY = 5000
_ids = itertools.count(1)


class Run:
    """One training run: what its trainer reported so far, and who watches it.

    ``history`` is a list of flat dicts ``{"step", "time_s", **metrics}``, thinned to at most
    ~5,000 rows; :meth:`view` returns a consistent copy of it with the latest snapshot.
    ``watchers`` are the session ids showing the run; ``owner`` is the session that started it
    (it queues under that session's turn).
    """

    def __init__(self, demo: Demo, config: Any, label: str = "", session: str = "") -> None:
        self.id = next(_ids)
        self.demo, self.config, self.label = demo, config, label
        self.owner = session
        self.watchers: set[str] = {session} if session else set()
        self.state = RunState.QUEUED
        self.message = ""
        self.traceback = ""
        self.history: list[dict[str, float]] = []
        self.latest: Snapshot | None = None
        self.model: Any = None  # the newest model copy any snapshot carried (see CopyCadence)
        self.model_step = 0  # the step of that copy
        self.from_cache = False
        self.created = self.last_seen = time.time()
        self.queue_position = 0
        self.sleeping = False  # waiting out the trainer's pace: holds no training slot
        self.size_bytes = 0  # pickled size of the latest snapshot
        self.paused_at = 0.0
        self.phase = ""  # what the trainer said it is doing (heartbeats)
        self.trained_s = 0.0  # seconds spent training so far (pauses and queueing excluded)
        self._running_since: float | None = None
        self._fraction: tuple[int, int | None] = (0, None)  # (step, total) of the newest report
        self._pace: collections.deque[tuple[float, float]] = collections.deque(maxlen=256)
        self.handle: Handle | None = None
        self.pool: RunPool | None = None
        self._pause_asked = 0.0
        self._answered = 0.0  # monotonic time of the worker's first message (0: none yet)
        self._threads = 0
        self._lock = threading.Lock()
        self._settled = threading.Event()  # set while not alive (paused or ended)

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
        """Fraction done in [0, 1] (0 when unknown), from the newest snapshot or heartbeat."""
        if self.state == RunState.DONE:
            return 1.0
        step, total = self._fraction
        return min(1.0, step / total) if total else 0.0

    def training_seconds(self) -> float:
        """Seconds this run has trained so far (now included while it trains)."""
        since = self._running_since
        return self.trained_s + (time.monotonic() - since if since is not None else 0.0)

    @property
    def eta_s(self) -> float | None:
        """Estimated seconds left: the remaining fraction at :meth:`recent_pace` (at the
        average pace so far until there is one)."""
        p = self.progress
        if p <= 0 or p >= 1:
            return None
        rate = self.recent_pace() or p / max(self.training_seconds(), 1e-9)
        return (1 - p) / rate

    def recent_pace(self) -> float | None:
        """Progress per training second since half the training time so far (at least 1 s of
        it), so start-up work (data, a first evaluation) is not taken as the pace of every later
        step; None until there is such a stretch."""
        t, p = self.training_seconds(), self.progress
        for t0, p0 in self._pace:
            if t0 >= t / 2:
                return (p - p0) / (t - t0) if t - t0 > 1.0 and p > p0 else None
        return None

    def _clock(self, running: bool) -> None:
        now = time.monotonic()
        if self._running_since is not None:
            self.trained_s += now - self._running_since
        self._running_since = now if running else None

    def view(self) -> tuple[list[dict[str, float]], Snapshot | None]:
        """A consistent copy of (history, latest snapshot)."""
        with self._lock:
            return list(self.history), self.latest

    def touch(self) -> None:
        """Mark the run as watched (the UI calls this when it polls)."""
        self.last_seen = time.time()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the run is paused or has ended; True if it did within ``timeout``."""
        return self._settled.wait(timeout)

    # -- control (through the pool) ----------------------------------------------------------
    def request_stop(self) -> None:
        """Pause after the current snapshot (the run can be resumed)."""
        if self.pool is not None:
            self.pool.pause(self)

    def cancel(self) -> None:
        """Stop for good and free the run's memory."""
        if self.pool is not None:
            self.pool.cancel(self)
        elif self.alive or self.state == RunState.PAUSED:
            self._end(RunState.CANCELLED)

    def release(self, session: str = "") -> None:
        """``session`` lets go of the run; when nobody watches it any more it is cancelled."""
        self.watchers.discard(session)
        if not self.watchers:
            self.cancel()

    # -- events from the executor ------------------------------------------------------------
    def _record(self, snap: Snapshot, nbytes: int) -> None:
        self._fraction = (snap.step, snap.total_steps)
        t = self.training_seconds()
        if not self._pace or t - self._pace[-1][0] >= 0.5:
            self._pace.append((t, self.progress))
        self.phase = snap.phase
        if snap.heartbeat:
            return
        row = {"step": float(snap.step), "time_s": float(snap.time_s)}
        row.update({k: float(v) for k, v in snap.metrics.items() if isinstance(v, (int, float))})
        sent = snap.artifacts
        snap = carry_artifacts(self.latest, snap)  # the newest value of every artifact
        if nbytes:  # the message's size, plus what it did not repeat
            nbytes += _approx_bytes([v for k, v in snap.artifacts.items() if k not in sent])
        with self._lock:
            self.history.append(row)
            if len(self.history) > _MAX_HISTORY:  # keep every other row of the older half
                half = len(self.history) // 2
                self.history = self.history[:half:2] + self.history[half:]
            self.latest = snap
            self.size_bytes = nbytes
            if snap.model is not None:
                self.model, self.model_step = snap.model, snap.step

    def _end(self, state: str, message: str = "", tb: str = "") -> None:
        if self.state in RunState.ENDED:
            return
        self.state, self.sleeping = state, False
        self._clock(False)
        if message or state != RunState.DONE:
            self.message = message or self.message
        self.traceback = tb
        handle, self.handle = self.handle, None
        if handle is not None and state in (RunState.CANCELLED, RunState.STOPPED):
            handle.kill()
        self._settled.set()

    def on_event(self, kind: str, payload: Any) -> None:
        """Called by the executor (from its thread) for every snapshot, activity change and end."""
        if self.state in RunState.ENDED:
            return
        self._answered = self._answered or time.monotonic()
        if kind == SNAPSHOT:
            self._record(*payload)
        elif kind == ACTIVITY:
            if payload == "paused":
                self.state, self.sleeping, self.paused_at = RunState.PAUSED, False, time.time()
                self._pause_asked = 0.0
                self._clock(False)
                self._settled.set()
            else:
                self.sleeping = payload == "sleeping"
                self._clock(not self.sleeping)
        elif kind == END:
            end: Ended = payload
            self._end({"done": RunState.DONE, "diverged": RunState.DIVERGED}.get(
                end.state, RunState.ERROR), end.message, end.traceback)
        if self.pool is not None:
            self.pool._changed(self, kind)


def _approx_bytes(value: Any, depth: int = 0) -> int:
    """Bytes held by ``value``: arrays, tensors, bytes and text, inside lists, tuples and dicts
    (four levels deep); other objects count 64."""
    if isinstance(value, np.ndarray):
        return value.nbytes
    if isinstance(value, torch.Tensor):
        return value.numel() * value.element_size()
    if isinstance(value, (bytes, str)):
        return len(value)
    if depth < 4 and isinstance(value, (list, tuple, dict)):
        items = value.values() if isinstance(value, dict) else value
        return 64 + sum(_approx_bytes(v, depth + 1) for v in items)
    return 64


def _snapshot_bytes(run: Run) -> int:
    """Bytes a finished run keeps: its latest snapshot (pickled size) and its history."""
    history, latest = run.view()
    size = run.size_bytes
    if not size and latest is not None:
        try:
            size = len(pickle.dumps(latest, protocol=pickle.HIGHEST_PROTOCOL))
        except Exception:
            size = 1 * MB
    return size + 64 * len(history) * (len(history[-1]) if history else 1)


class RunCache:
    """Finished runs by ``(demo name, config)``, least recently used first out, at most
    ``max_bytes`` in all (a run larger than that is not kept). Shared by all sessions, so the
    default config trains once per server."""

    def __init__(self, max_bytes: int = 1024 * MB) -> None:
        self.max_bytes = max_bytes
        self._d: collections.OrderedDict[tuple, tuple[list, Snapshot, int]] = (
            collections.OrderedDict())
        self._lock = threading.Lock()

    @staticmethod
    def key(run: Run) -> tuple:
        return (run.demo.name, run.config)

    @property
    def bytes(self) -> int:
        """Bytes held now."""
        with self._lock:
            return sum(v[2] for v in self._d.values())

    def put(self, run: Run) -> None:
        history, latest = run.view()
        if latest is None:
            return
        size = _snapshot_bytes(run)
        if size > self.max_bytes:
            return
        with self._lock:
            self._d[self.key(run)] = (history, latest, size)
            self._d.move_to_end(self.key(run))
            while sum(v[2] for v in self._d.values()) > self.max_bytes:
                self._d.popitem(last=False)

    def get(self, demo_name: str, config: Any) -> tuple[list, Snapshot] | None:
        with self._lock:
            hit = self._d.get((demo_name, config))
            if hit is None:
                return None
            self._d.move_to_end((demo_name, config))
            return hit[0], hit[1]

    def adopt(self, run: Run) -> bool:
        """Complete ``run`` from the cache if its config has finished before; True on a hit."""
        hit = self.get(run.demo.name, run.config)
        if hit is None:
            return False
        with run._lock:
            run.history, run.latest = list(hit[0]), hit[1]
            run.model, run.model_step = hit[1].model, hit[1].step
        run.from_cache = True
        run.state = RunState.DONE
        run._settled.set()
        return True

    def __len__(self) -> int:
        return len(self._d)

    def clear(self) -> None:
        with self._lock:
            self._d.clear()


class RunPool:
    """Schedules runs on an executor within the server's :class:`Limits`.

    * At most ``limits.max_workers`` runs train at once; a run waiting out its trainer's pace
      holds no slot. Waiting runs queue per session and are served round-robin, so one
      session's many runs do not starve the others; ``run.queue_position`` is the run's place
      in that order.
    * The cores are shared among the runs training now (each gets ``cores // training`` torch
      threads, at least one), updated as runs start and end.
    * Budgets: a session may have ``runs_per_session`` queued or training runs; a run whose
      estimated total time (its training time so far plus :attr:`Run.eta_s`, the pace since
      half that time, judged after ``estimate_after_s`` of training) exceeds ``max_run_s``
      (by 10%, or twice over before ``settled_after_s`` of training: early paces are slow), or
      whose process exceeds ``max_run_bytes``, is stopped with a
      sentence giving the estimate and the limit; paused runs are dropped after
      ``paused_idle_s`` and, oldest first, when they hold more than ``paused_bytes``.
    * A run nobody polls is paused after ``idle_timeout_s`` (its session may be on another
      page), or after ``closed_grace_s`` once ``session_alive`` (set by the app) says every
      session watching it has closed; a queued run of closed sessions leaves the queue.
    * Pausing is cooperative; a run that does not pause within ``stop_grace_s`` is terminated
      and marked stopped with its history kept.
    * With a ``cache``, a run whose config finished before completes at once from it.
    """

    def __init__(self, max_workers: int | None = None, cache: RunCache | None = None,
                 idle_timeout_s: float | None = None, limits: Limits | None = None,
                 executor: Any = None,
                 session_alive: Callable[[str], bool] | None = None) -> None:
        limits = limits or Limits.from_env()
        overrides = {k: v for k, v in (("max_workers", max_workers),
                                        ("idle_timeout_s", idle_timeout_s)) if v is not None}
        self.limits = Limits(**{**{f.name: getattr(limits, f.name) for f in fields(Limits)},
                                **overrides})
        self.max_workers = self.limits.max_workers
        self.cache = cache
        self.costs = CostTable()
        self.session_alive = session_alive
        self.executor = executor or make_executor()
        # the cores the runs share: this machine's, or the cluster's for a remote executor
        self.cores = (getattr(self.executor, "cores", None) or self.limits.cores
                      or os.cpu_count() or 1)
        self._waiting: dict[str, collections.deque[Run]] = {}
        self._turns: collections.deque[str] = collections.deque()
        self._runs: dict[int, Run] = {}  # every run not ended, by id
        self._alive: dict[tuple, Run] = {}  # queued or running runs by (demo, config)
        self._lock = threading.RLock()
        self._wake = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, daemon=True, name="liveprop-scheduler")
        self._thread.start()

    # -- the API the pages use ---------------------------------------------------------------
    def submit(self, run: Run, make_room: bool = False) -> Run:
        """Queue ``run`` (new or paused) for training; returns it.

        With ``make_room``, a session at its limit of alive runs pauses its oldest run that no
        other session watches (its runs on pages it has left) instead of being refused.

        Raises:
            BudgetError: when the run's session already has ``runs_per_session`` alive runs
                (and none could be paused to make room), or when a run of the same model was
                measured (:class:`CostTable`) and this one's length would exceed ``max_run_s``.
        """
        run.pool = self
        cache = None if is_private(run.config) else self.cache
        if cache is not None and run.handle is None and cache.adopt(run):
            return run
        estimate = self.costs.estimate(run.demo, run.config) if run.handle is None else None
        if self.limits.max_run_s and estimate is not None and estimate > self.limits.max_run_s * 1.1:
            raise BudgetError(self._too_long(estimate))
        with self._lock:
            mine = [r for r in self._runs.values()
                    if r.owner == run.owner and r.alive and r is not run and run.owner]
            if make_room and len(mine) >= self.limits.runs_per_session:
                own = sorted((r for r in mine if r.watchers <= {run.owner}), key=lambda r: r.id)
                for r in own[:len(mine) - self.limits.runs_per_session + 1]:
                    r.message = ("Paused to make room for your newer run (a visitor may train "
                                 f"{self.limits.runs_per_session} at once); press Resume to "
                                 "continue.")
                    self.pause(r)
                    mine.remove(r)
            if len(mine) >= self.limits.runs_per_session:
                raise BudgetError(
                    f"You already have {len(mine)} runs training or waiting, the most one "
                    "visitor may have on this server: stop one of them (or wait for it to "
                    "finish) and train again.")
            run.state, run.message = RunState.QUEUED, ""
            run._settled.clear()
            run._pause_asked = 0.0
            self._runs[run.id] = run
            self._alive[RunCache.key(run)] = run
            self._waiting.setdefault(run.owner, collections.deque()).append(run)
            if run.owner not in self._turns:
                self._turns.append(run.owner)
            self._renumber()
        self._wake.set()
        return run

    def shared(self, demo: Demo, config: Any) -> Run | None:
        """A queued or running run of the same demo and config, to watch instead of training
        the same thing twice (a classroom pressing Train on the default settings at once)."""
        if is_private(config):
            return None
        with self._lock:
            run = self._alive.get((demo.name, config))
        return run if run is not None and run.alive else None

    def pause(self, run: Run) -> None:
        """Pause ``run`` at its trainer's next snapshot (resumable); a queued run pauses at once.
        A run that does not pause within ``stop_grace_s`` is terminated (history kept)."""
        with self._lock:
            if run.state == RunState.QUEUED:
                self._unqueue(run)
                run.state, run.paused_at = RunState.PAUSED, time.time()
                run._settled.set()
                self._forget_alive(run)
                return
            if run.state != RunState.RUNNING:
                return
            run._pause_asked = time.monotonic()
            if run.handle is not None:  # else the dispatcher pauses it once its worker is up
                run.handle.pause()
        self._wake.set()

    def stop(self, run: Run, session: str) -> None:
        """Stop pressed by ``session``: a run others also watch goes on for them (this session
        lets go of it); otherwise it pauses."""
        if len(run.watchers - {session}) > 0 and session in run.watchers:
            run.watchers.discard(session)
            return
        self.pause(run)

    def cancel(self, run: Run) -> None:
        """Stop ``run`` for good now and free its memory (kills its process)."""
        with self._lock:
            self._unqueue(run)
            self._forget_alive(run)
            self._runs.pop(run.id, None)
        run._end(RunState.CANCELLED)
        self._wake.set()

    @property
    def active_count(self) -> int:
        """Runs training now (not counting runs waiting out their pace)."""
        with self._lock:
            return sum(r.state == RunState.RUNNING and not r.sleeping for r in self._runs.values())

    @property
    def queued_count(self) -> int:
        with self._lock:
            return sum(len(q) for q in self._waiting.values())

    def watching_sessions(self) -> int:
        """Sessions watching a queued or running run (each polls its page's live view)."""
        with self._lock:
            runs = [r for r in self._runs.values() if r.alive]
        return len(set().union(*(r.watchers for r in runs)))

    def live_runs(self) -> list[Run]:
        """Runs holding an executor (training, sleeping or paused)."""
        with self._lock:
            return [r for r in self._runs.values() if r.handle is not None]

    def live_threads(self) -> int:
        """Executor handles still open (for leak checks in tests and benchmarks)."""
        return len(self.live_runs())

    def threads_per_run(self) -> int:
        """Torch intra-op threads for each run training now: the cores shared among them."""
        return max(1, self.cores // max(1, self.active_count))

    def shutdown(self) -> None:
        """Cancel every run and stop the scheduler (tests and server shutdown)."""
        self._closed = True
        with self._lock:
            runs = list(self._runs.values())
        for r in runs:
            self.cancel(r)
        self._wake.set()

    # -- scheduling ----------------------------------------------------------------------------
    def _renumber(self) -> None:
        order = self._round_robin_order()
        for i, r in enumerate(order):
            r.queue_position = i + 1

    def _round_robin_order(self) -> list[Run]:
        queues = [list(self._waiting.get(s, ())) for s in self._turns]
        out = []
        for tier in itertools.zip_longest(*queues):
            out.extend(r for r in tier if r is not None)
        return out

    def _unqueue(self, run: Run) -> None:
        q = self._waiting.get(run.owner)
        if q is not None and run in q:
            q.remove(run)
            self._renumber()

    def _forget_alive(self, run: Run) -> None:
        if self._alive.get(RunCache.key(run)) is run:
            del self._alive[RunCache.key(run)]

    def _changed(self, run: Run, kind: str) -> None:
        """An executor event: an ended run leaves the pool (a finished one goes to the cache)."""
        if run.state in RunState.ENDED:
            with self._lock:
                self._runs.pop(run.id, None)
                self._forget_alive(run)
            if (run.state == RunState.DONE and self.cache is not None and not run.from_cache
                    and not is_private(run.config)):
                self.cache.put(run)
        elif run.state == RunState.PAUSED:
            with self._lock:
                self._forget_alive(run)
        if kind != SNAPSHOT or run.state in RunState.ENDED:
            self._wake.set()

    def _loop(self) -> None:
        while not self._closed:
            self._wake.wait(0.25)
            self._wake.clear()
            with contextlib.suppress(Exception):  # the scheduler must never die
                self._dispatch()
                self._share_cores()
                self._enforce()

    def _dispatch(self) -> None:
        while True:
            with self._lock:
                if self.active_count >= self.max_workers or not any(self._waiting.values()):
                    return
                run = None
                for _ in range(len(self._turns)):
                    session = self._turns[0]
                    self._turns.rotate(-1)
                    if self._waiting.get(session):
                        run = self._waiting[session].popleft()
                        break
                self._renumber()
                if run is None or run.state != RunState.QUEUED:
                    continue
                run.queue_position = 0
                if (self.cache is not None and run.handle is None and not is_private(run.config)
                        and self.cache.adopt(run)):
                    self._forget_alive(run)
                    self._runs.pop(run.id, None)
                    continue
                run.state = RunState.RUNNING
                run._threads = 0
                if run.handle is not None:  # a paused run resumes in its process
                    run.handle.go()
                    continue
            # Starting a worker can wait seconds (the fork server imports torch once): outside
            # the lock, so the pages' calls into the pool (Train, polls) do not wait for it.
            run._answered = 0.0  # a new worker: the pause grace waits for its first message
            handle = self.executor.launch(run.demo, run.config, run.on_event)
            with self._lock:
                if run.state != RunState.RUNNING:  # cancelled meanwhile
                    handle.kill()
                    continue
                run.handle = handle
                handle.go()
                if run._pause_asked:  # Stop pressed while the worker started
                    handle.pause()

    def _share_cores(self) -> None:
        n = self.threads_per_run()
        with self._lock:
            for r in self._runs.values():
                if r.state == RunState.RUNNING and r.handle is not None and r._threads != n:
                    r._threads = n
                    r.handle.set_threads(n)

    def _enforce(self) -> None:
        now, lim = time.time(), self.limits
        with self._lock:
            runs = list(self._runs.values())
        paused = []
        for r in runs:
            if (r.state in (RunState.RUNNING, RunState.QUEUED) and not r._pause_asked
                    and self._abandoned(r, now)):
                r.message = "Paused because its page was closed; press Resume to continue."
                self.pause(r)
            elif r.state == RunState.RUNNING:
                self._enforce_running(r, now)
            elif r.state == RunState.PAUSED and r.handle is not None:
                if now - r.paused_at > lim.paused_idle_s:
                    self._drop(r, f"Dropped after {_fmt_duration(lim.paused_idle_s)} paused, to "
                               "free the server's memory; train again to start afresh.")
                else:
                    paused.append(r)
        sizes = [(r, r.handle.memory_bytes() or 0) for r in paused if r.handle is not None]
        total = sum(s for _, s in sizes)
        for r, s in sorted(sizes, key=lambda rs: rs[0].paused_at):
            if total <= lim.paused_bytes:
                break
            self._drop(r, "Dropped to free the server's memory for other runs (it was paused "
                          "the longest); train again to start afresh.")
            total -= s

    def _abandoned(self, r: Run, now: float) -> bool:
        """Every session watching ``r`` has closed (and it was not polled for a grace time)."""
        alive = self.session_alive
        if alive is None or not r.watchers or now - r.last_seen <= self.limits.closed_grace_s:
            return False
        try:
            return not any(alive(s) for s in list(r.watchers))
        except Exception:  # a liveness hook that fails must not stop the scheduler
            return False

    def _enforce_running(self, r: Run, now: float) -> None:
        lim = self.limits
        # a worker still starting (a fork on a busy machine) cannot read the request yet: the
        # grace counts from its first message, and waits at most start_grace_s for that
        asked = max(r._pause_asked, r._answered)
        grace = lim.stop_grace_s if r._answered else lim.start_grace_s
        if r._pause_asked and time.monotonic() - asked > grace:
            self._drop(r, f"The run did not pause within {lim.stop_grace_s:g} s, so the server "
                          "stopped it; its charts so far are kept.")
            return
        if now - r.last_seen > lim.idle_timeout_s and not r._pause_asked:
            r.message = "Paused because nobody was watching it; press Resume to continue."
            self.pause(r)
            return
        trained = r.training_seconds()
        pace = r.recent_pace() if trained >= lim.estimate_after_s else None
        if lim.max_run_s and pace and not r.from_cache:
            estimate = trained + (1 - r.progress) / pace
            self.costs.record(r.demo, r.config, estimate)
            # the first seconds are often the slowest (caches, the other runs' start-ups): an
            # early estimate stops a run only when it is twice over the budget
            margin = 1.1 if trained >= lim.settled_after_s else 2.0
            if estimate > lim.max_run_s * margin:
                self._drop(r, self._too_long(estimate))
                return
        mem = r.handle.memory_bytes() if r.handle is not None else None
        if mem is not None and mem > lim.max_run_bytes:
            self._drop(r, f"This run needs more than {lim.max_run_bytes // MB} MB of memory, the "
                          "most one run may use on this server: lower the model or buffer size "
                          "and train again.")

    def _too_long(self, estimate: float) -> str:
        return (f"This run would take about {_fmt_duration(estimate)} on this server; a run here "
                f"may take at most {_fmt_duration(self.limits.max_run_s)}. Lower the number of "
                "steps or the model size and train again.")

    def _drop(self, run: Run, message: str) -> None:
        with self._lock:
            self._unqueue(run)
            self._forget_alive(run)
            self._runs.pop(run.id, None)
        run._end(RunState.STOPPED, message)
        self._wake.set()

