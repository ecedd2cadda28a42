"""The one live-training protocol every Liveprop demo uses.

A *trainer* is a plain generator function ``train(config) -> Iterator[Snapshot]``:

* ``config`` is a frozen dataclass whose fields are declared with :func:`param` (default, range or
  choices, help). It holds every hyperparameter, the ``seed`` and the ``device``
  (``"auto" | "cpu" | "cuda"``), so the config alone reproduces a run.
* The trainer yields :class:`Snapshot` objects at a bounded rate (use :class:`Ticker`): step,
  elapsed seconds, scalar metrics and optional artefacts (images, embeddings, attention maps...).
  The last snapshot has ``final=True``.
* A trainer is resumable for free: it is a generator, so pausing means "stop calling ``next``".

The rest of this module runs trainers in the background for the UI (:class:`Run`, :class:`RunPool`)
and caches finished runs by config (:class:`RunCache`). Nothing here imports Streamlit: the same
trainers run headless through ``python -m core train ...`` and from a notebook::

    from core.playground import PlaygroundConfig, train
    for snap in train(PlaygroundConfig(dataset="xor", steps=500)):
        print(snap.step, snap.metrics)
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import math
import os
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

__all__ = [
    "Snapshot",
    "Diverged",
    "Demo",
    "param",
    "validate",
    "config_from_strings",
    "config_to_dict",
    "config_diff",
    "field_specs",
    "parse_value",
    "check_value",
    "resolve_device",
    "seed_everything",
    "Ticker",
    "frozen_copy",
    "to_uint8_image",
    "Run",
    "RunPool",
    "RunCache",
    "RunState",
]


# --------------------------------------------------------------------------------------------
# Config fields
# --------------------------------------------------------------------------------------------


def param(
    default: Any,
    *,
    lo: float | None = None,
    hi: float | None = None,
    choices: tuple | list | None = None,
    step: float | None = None,
    log: bool = False,
    label: str | None = None,
    help: str = "",  # noqa: A002 - mirrors Streamlit's widget argument
) -> Any:
    """Declare a config field with its default, allowed values and help text.

    Use inside a ``@dataclass(frozen=True)`` config::

        lr: float = param(0.03, lo=1e-5, hi=10.0, log=True, help="Adam learning rate")
        activation: str = param("tanh", choices=("relu", "tanh", "sigmoid", "linear"))

    ``lo``/``hi`` bound numeric fields (inclusive); ``choices`` lists the allowed values (for
    numeric fields too: they become a select slider in the UI); ``log`` asks the UI for a
    log-spaced slider; ``step`` is the UI slider step. The metadata drives validation, the CLI's
    ``list`` output and the generic UI controls.
    """
    meta = {"lo": lo, "hi": hi, "choices": tuple(choices) if choices is not None else None,
            "step": step, "log": log, "label": label, "help": help}
    return field(default=default, metadata={"liveprop": meta})


@dataclass(frozen=True)
class FieldSpec:
    """Everything known about one config field (from :func:`param` metadata)."""

    name: str
    type: type
    default: Any
    lo: float | None = None
    hi: float | None = None
    choices: tuple | None = None
    step: float | None = None
    log: bool = False
    label: str | None = None
    help: str = ""

    def describe(self) -> str:
        """One-line human description of the allowed values, e.g. ``int in [1, 6]``."""
        if self.choices is not None:
            return "one of " + ", ".join(str(c) for c in self.choices)
        if self.type is bool:
            return "true or false"
        if self.lo is not None or self.hi is not None:
            return f"{self.type.__name__} in [{self.lo}, {self.hi}]"
        return self.type.__name__


_TYPES = {"int": int, "float": float, "str": str, "bool": bool}


def field_specs(config_cls: type) -> list[FieldSpec]:
    """The :class:`FieldSpec` of every field of a config dataclass, in declaration order."""
    out = []
    for f in dataclasses.fields(config_cls):
        meta = dict(f.metadata.get("liveprop", {}))
        typ = f.type if isinstance(f.type, type) else _TYPES.get(str(f.type), str)
        out.append(FieldSpec(name=f.name, type=typ, default=f.default, **meta))
    return out


def parse_value(spec: FieldSpec, raw: Any) -> Any:
    """Convert ``raw`` (often a string from the CLI or a URL) to the field's type."""
    if spec.type is bool:
        if isinstance(raw, bool):
            return raw
        s = str(raw).strip().lower()
        if s in ("1", "true", "yes", "on"):
            return True
        if s in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"{spec.name}={raw!r} is not a boolean; use true or false")
    if spec.type is int:
        if isinstance(raw, float) and raw.is_integer():
            return int(raw)
        try:
            return int(str(raw).strip())
        except ValueError:
            raise ValueError(f"{spec.name}={raw!r} is not an integer; allowed: {spec.describe()}") from None
    if spec.type is float:
        try:
            return float(str(raw).strip())
        except ValueError:
            raise ValueError(f"{spec.name}={raw!r} is not a number; allowed: {spec.describe()}") from None
    return str(raw)


def check_value(spec: FieldSpec, value: Any) -> None:
    if spec.choices is not None:
        if value not in spec.choices:
            raise ValueError(f"{spec.name}={value!r} is not allowed; allowed: {spec.describe()}")
        return
    if spec.type in (int, float):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"{spec.name}={value!r} must be finite; allowed: {spec.describe()}")
        if (spec.lo is not None and value < spec.lo) or (spec.hi is not None and value > spec.hi):
            raise ValueError(f"{spec.name}={value!r} is out of range; allowed: {spec.describe()}")


def validate(config: Any) -> None:
    """Check every field of ``config`` against its declared range/choices.

    Raises:
        ValueError: naming the first offending field and its allowed values.
    """
    for spec in field_specs(type(config)):
        check_value(spec, getattr(config, spec.name))


def config_from_strings(config_cls: type, values: dict[str, Any], base: Any = None) -> Any:
    """Build a validated config from ``{field: raw value}`` (strings allowed), over ``base``.

    Raises:
        ValueError: for an unknown key (naming the known ones) or a bad value.
    """
    specs = {s.name: s for s in field_specs(config_cls)}
    kwargs = {}
    for key, raw in values.items():
        if key not in specs:
            raise ValueError(f"unknown key {key!r}; known keys: {', '.join(specs)}")
        kwargs[key] = parse_value(specs[key], raw)
        check_value(specs[key], kwargs[key])
    cfg = dataclasses.replace(base, **kwargs) if base is not None else config_cls(**kwargs)
    validate(cfg)
    return cfg


def config_to_dict(config: Any) -> dict[str, Any]:
    """The config as a plain JSON-able dict."""
    return dataclasses.asdict(config)


def config_diff(a: Any, b: Any) -> dict[str, tuple[Any, Any]]:
    """Fields whose values differ between two configs of the same class: ``{name: (a, b)}``."""
    da, db = config_to_dict(a), config_to_dict(b)
    return {k: (da[k], db.get(k)) for k in da if da[k] != db.get(k)}


# --------------------------------------------------------------------------------------------
# Snapshots and helpers for trainers
# --------------------------------------------------------------------------------------------


@dataclass
class Snapshot:
    """What a trainer reports at one moment of training.

    Attributes:
        step: optimisation steps (or episodes/epochs, as the demo documents) done so far.
        time_s: wall-clock seconds since the trainer started (a pause counts too).
        metrics: scalar metrics at this step, e.g. ``{"loss": 0.31, "test_acc": 0.94}``.
        artefacts: anything a page draws: ``np.ndarray`` images (uint8, HxW or HxWx3 are written
            as PNG by the CLI; other arrays go to ``artefacts.npz``), embeddings, attention maps.
        total_steps: the planned number of steps (for progress bars and ETAs), if known.
        final: True on the last snapshot of a run.
        model: optional detached copy of the model(s) in eval mode (see :func:`frozen_copy`),
            for pages that run the model interactively and for saving weights.
    """

    step: int
    time_s: float
    metrics: dict[str, float]
    artefacts: dict[str, Any] = field(default_factory=dict)
    total_steps: int | None = None
    final: bool = False
    model: torch.nn.Module | None = None


class Diverged(RuntimeError):
    """Raised (or detected) when training produced a non-finite loss."""


@dataclass(frozen=True)
class Demo:
    """A registered demo: its name, config class and trainer (see :mod:`core.registry`)."""

    name: str
    config_cls: type
    train: Callable[[Any], Iterator[Snapshot]]
    title: str = ""
    description: str = ""


def resolve_device(device: str = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available else CPU; ``"cpu"``/``"cuda"`` as given.

    Raises:
        ValueError: if ``"cuda"`` is requested but not available, or the name is unknown.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device=cuda was requested but no CUDA GPU is available; use auto or cpu")
    if device not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {device!r}; allowed: auto, cpu, cuda")
    return torch.device(device)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python's, NumPy's and torch's global RNGs; return a fresh CPU ``torch.Generator``."""
    import random

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    g = torch.Generator()
    g.manual_seed(seed)
    return g


class Ticker:
    """Decides when a trainer should emit a snapshot: at most every ``interval_s`` seconds.

    The first step and the last step (``step >= total``) always tick, so short runs still show
    progress immediately. Usage inside a trainer::

        tick = Ticker(total=cfg.steps)
        for step in range(1, cfg.steps + 1):
            ...
            if tick(step):
                yield Snapshot(step, tick.elapsed, {...}, total_steps=cfg.steps,
                               final=step == cfg.steps)
    """

    def __init__(self, total: int | None = None, interval_s: float | None = None) -> None:
        self.total = total
        self.interval_s = interval_s if interval_s is not None else float(
            os.environ.get("LIVEPROP_SNAPSHOT_S", "0.25"))
        self._t0 = time.perf_counter()
        self._last = -math.inf
        self._first = True

    @property
    def elapsed(self) -> float:
        """Seconds since the ticker was created."""
        return time.perf_counter() - self._t0

    def __call__(self, step: int) -> bool:
        now = time.perf_counter()
        due = self._first or (self.total is not None and step >= self.total) or (
            now - self._last >= self.interval_s)
        if due:
            self._first = False
            self._last = now
        return due


def frozen_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A deep copy of ``model`` on the CPU in eval mode with gradients off.

    Pages run such copies interactively while the original keeps training in the worker.
    """
    m = copy.deepcopy(model).to("cpu").eval()
    for p in m.parameters():
        p.requires_grad_(False)
    return m


def to_uint8_image(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """Convert an image in [0, 1] (CxHxW tensor, HxW or HxWxC array) to an HxW(x3) uint8 array."""
    if isinstance(x, torch.Tensor):
        x = x.detach().float().cpu()
        if x.ndim == 3:
            x = x.permute(1, 2, 0)
        x = x.numpy()
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 3 and x.shape[2] == 1:
        x = x[:, :, 0]
    return (np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def _is_loss_key(key: str) -> bool:
    return "loss" in key or key in ("nt_xent", "neg_elbo", "recon", "kl")


def find_nonfinite_loss(metrics: dict[str, float]) -> str | None:
    """The name of the first loss-like metric that is NaN/inf, or None."""
    for k, v in metrics.items():
        if _is_loss_key(k) and isinstance(v, (int, float)) and not math.isfinite(v):
            return k
    return None


# --------------------------------------------------------------------------------------------
# Running trainers in the background (used by the UI; no Streamlit here)
# --------------------------------------------------------------------------------------------


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
