"""Runs on a Ray cluster (``LIVEPROP_BACKEND=ray``): one actor per run, one cache for all replicas.

:class:`RayExecutor` has the interface of the executors in :mod:`core.executors`. Each run is a
:class:`RunActor` (a Ray actor holding the run's :class:`~core.executors.Driver`) on some node of
the cluster; a reader thread in the app asks it for the next batch of snapshots
(``advance.remote(max_s=0.5)``) over and over and turns the reply into the run's events. A pause
ends the batch in flight at its next snapshot, then nothing is asked (the trainer generator
waits in the actor, memory kept); ``pace_s`` is waited out in the app; ``kill`` is ``ray.kill``.
The actor reports its resident memory with every batch.

:class:`RayRunCache` is :class:`core.engine.RunCache` kept in one named, detached actor
(``liveprop-run-cache`` in namespace ``liveprop``), so every app replica connected to the
cluster finds the runs any replica finished: the default settings train once per cluster.

Shared through the cluster: finished runs (the cache) and the CPUs (and memory) of its nodes.
Not shared: sessions and their runs in progress or paused (a run's actor answers only to the
replica that launched it, and the engine's queue, budgets and in-flight sharing of identical
runs are per replica), uploads. See ``docs/DEPLOYING.md``.

Every node needs the same checkout and environment as the app: the actor imports the demo's
module (``core.<section>.<topic>``) by name. Ray puts the app's working directory on the
workers' path, so start Streamlit from the repository root.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import logging
import os
import pickle
import threading
import time
import weakref
from typing import Any

import ray

from core.engine import RunCache
from core.executors import ACTIVITY, END, SNAPSHOT, Driver, Ended, EventSink, Handle
from core.openmp import OPENMP_ENV
from core.protocol import Demo

__all__ = ["RayExecutor", "RayRunCache", "RunActor", "connect"]

log = logging.getLogger(__name__)

NAMESPACE = "liveprop"
CACHE_NAME = "liveprop-run-cache"
_CONNECT_LOCK = threading.Lock()


def connect() -> None:
    """Join the Ray cluster at ``$RAY_ADDRESS`` (``host:6379``), or, when it is unset, the one
    ``ray start`` began on this machine, else a new local instance; nothing if already joined.

    The job's workers on every node start with :data:`core.openmp.OPENMP_ENV` (Ray's
    ``runtime_env``), as the local worker processes do.

    ``ray.init`` runs in a thread of its own that lives as long as the app: a local instance's
    processes are killed when the thread that started them ends (Linux ``PR_SET_PDEATHSIG``),
    and Streamlit's script threads end after every rerun."""
    with _CONNECT_LOCK:
        if ray.is_initialized():
            return
        started, failure = threading.Event(), []

        def keep() -> None:
            try:
                ray.init(address=os.environ.get("RAY_ADDRESS") or None, namespace=NAMESPACE,
                         include_dashboard=False, ignore_reinit_error=True,
                         logging_level=logging.WARNING,
                         runtime_env={"env_vars": dict(OPENMP_ENV)})
            except Exception as e:
                failure.append(e)
            finally:
                started.set()
            if not failure:
                threading.Event().wait()  # forever: this thread is the local instance's parent

        threading.Thread(target=keep, daemon=True, name="liveprop-ray").start()
        started.wait()
        if failure:
            raise failure[0]


def _dumps(obj: Any) -> bytes:
    return pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)


def _rss_bytes() -> int | None:
    """Resident memory of this process (Linux), or None."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


# ------------------------------------------------------------------------------ runs


@ray.remote
class RunActor:
    """One run on the cluster: its trainer generator, advanced a batch at a time.

    ``env`` (the app's ``LIVEPROP_*`` variables) is set in the actor's process before the trainer
    starts. Every event it returns is pickled here (``(kind, payload)``, as the process executor
    sends them), so the app knows each snapshot's size without pickling it again. The actor has
    two threads, so that :meth:`stop` and :meth:`set_threads` arrive while a batch trains; only
    :meth:`advance` touches the trainer, one call at a time."""

    def __init__(self, demo: Demo, config: Any, threads: int = 1,
                 env: dict[str, str] | None = None) -> None:
        os.environ.update(env or {})  # this worker process serves this run only
        self.driver = Driver(demo, config)
        self.threads = max(1, int(threads))
        self.stopped_batch = -1

    def set_threads(self, n: int) -> None:
        """Torch intra-op threads from the next batch on (torch counts them per thread, so
        :meth:`advance` applies them)."""
        self.threads = max(1, int(n))

    def stop(self, batch: int) -> None:
        """End batch ``batch`` at its next snapshot (a pause was asked)."""
        self.stopped_batch = batch

    def advance(self, max_s: float = 0.5, batch: int = 0) -> tuple[list[bytes], int | None]:
        """Advance the trainer for about ``max_s`` seconds (at least one snapshot; a snapshot
        with ``pace_s``, the end or :meth:`stop` ends the batch early):
        ``(pickled events, resident bytes)``."""
        import torch

        if torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)
        deadline = time.monotonic() + max_s
        events = []
        while True:
            snap, end = self.driver.next()
            if snap is not None:
                events.append(_dumps((SNAPSHOT, (snap, 0))))
            if end is not None:
                events.append(_dumps((END, end)))
                break
            if ((snap is not None and snap.pace_s > 0) or time.monotonic() >= deadline
                    or self.stopped_batch == batch):
                break
        return events, _rss_bytes()


class RayHandle(Handle):
    """The app's side of one :class:`RunActor`: a reader thread that requests batches while the
    run trains and reports them as run events (nothing is sent to the actor while paused)."""

    def __init__(self, demo: Demo, config: Any, emit: EventSink, threads: int, batch_s: float,
                 options: dict[str, Any]) -> None:
        self.emit, self.batch_s = emit, batch_s
        env = {k: v for k, v in os.environ.items() if k.startswith("LIVEPROP_")}
        self.actor = RunActor.options(max_concurrency=2, **options).remote(demo, config, threads,
                                                                          env)
        self._lock = threading.Lock()
        self._pause = threading.Event()
        self._reading = False
        self._dead = False
        self._batch_id = 0
        self._rss: int | None = None

    def go(self) -> None:
        with self._lock:
            self._pause.clear()
            if self._reading or self._dead:
                return
            self._reading = True
        threading.Thread(target=self._read, daemon=True, name="liveprop-ray-reader").start()

    def pause(self) -> None:
        self._pause.set()
        with self._lock:
            if self._reading and not self._dead:
                self.actor.stop.remote(self._batch_id)

    def set_threads(self, n: int) -> None:
        with self._lock:
            if not self._dead:
                self.actor.set_threads.remote(n)

    def kill(self) -> None:
        with self._lock:
            self._dead = True
        self._pause.set()
        with contextlib.suppress(Exception):
            ray.kill(self.actor)

    def memory_bytes(self) -> int | None:
        """Resident memory of the run's worker process, as of its last batch."""
        return self._rss

    def _emit(self, kind: str, payload: Any) -> None:
        if not self._dead:
            self.emit(kind, payload)

    def _read(self) -> None:
        self._emit(ACTIVITY, "running")
        while True:
            with self._lock:
                if self._dead:
                    return
                if self._pause.is_set():
                    self._reading = False
                    break
            pace = self._batch()
            if pace is None:  # ended (or killed)
                return
            if pace > 0:
                self._emit(ACTIVITY, "sleeping")
                self._pause.wait(pace)
                self._emit(ACTIVITY, "running")
        self._emit(ACTIVITY, "paused")

    def _batch(self) -> float | None:
        """Fetch and report one batch: the pace of its last snapshot, or None at the end."""
        with self._lock:
            self._batch_id += 1
            ref = self.actor.advance.remote(self.batch_s, self._batch_id)
            if self._pause.is_set():
                self.actor.stop.remote(self._batch_id)
        try:
            events, self._rss = ray.get(ref)
        except Exception as e:  # the actor died (killed, node lost, out of memory)
            self._finish(None if self._dead else Ended(
                "error", f"the Ray worker of this run ended unexpectedly ({type(e).__name__})",
                str(e)))
            return None
        pace = 0.0
        for data in events:
            try:
                kind, payload = pickle.loads(data)
            except Exception as e:  # a snapshot the app cannot read: end the run plainly
                self._finish(Ended("error", f"a snapshot could not be read ({e})"))
                return None
            if kind == END:
                self._finish(payload)
                return None
            self._emit(kind, (payload[0], len(data)))
            pace = payload[0].pace_s
        return pace

    def _finish(self, end: Ended | None) -> None:
        """Free the actor, then report the end (unless killed)."""
        dead, self._dead = self._dead, True
        with contextlib.suppress(Exception):
            ray.kill(self.actor)
        if end is not None and not dead:
            self.emit(END, end)


class RayExecutor:
    """Runs each trainer in its own Ray actor on the cluster (see the module docstring).

    ``threads`` are the torch threads a run starts with (the engine changes them with
    :meth:`RayHandle.set_threads`); ``batch_s`` is how long an actor trains between replies;
    ``actor_options`` go to ``RunActor.options`` (default: spread runs over the nodes, one CPU
    needed to place a run and none held while it trains, as Ray does for actors). A run sees the
    app's ``LIVEPROP_*`` variables (data folder, offline mode, snapshot interval), whatever the
    environment ``ray start`` had on its node.
    """

    name = "ray"

    def __init__(self, threads: int = 1, batch_s: float = 0.5,
                 actor_options: dict[str, Any] | None = None) -> None:
        connect()
        self.threads, self.batch_s = threads, batch_s
        self.actor_options = actor_options or {"scheduling_strategy": "SPREAD"}
        self._handles: weakref.WeakSet[RayHandle] = weakref.WeakSet()

    def launch(self, demo: Demo, config: Any, emit: EventSink) -> Handle:
        handle = RayHandle(demo, config, emit, self.threads, self.batch_s, self.actor_options)
        self._handles.add(handle)
        return handle

    def shutdown(self) -> None:
        """Kill every run's actor this executor launched."""
        for handle in list(self._handles):
            handle.kill()


# ------------------------------------------------------------------------------ the cache


@ray.remote(num_cpus=0, max_restarts=-1)
class RunCacheActor:
    """Finished runs as opaque pickled blobs by key, least recently used first out, at most
    ``max_bytes`` in all. It never unpickles a run, so it needs none of the demos' code."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.blobs: collections.OrderedDict[str, bytes] = collections.OrderedDict()

    def set_max_bytes(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._evict()

    def put(self, key: str, blob: bytes) -> bool:
        if len(blob) > self.max_bytes:
            return False
        self.blobs[key] = blob
        self.blobs.move_to_end(key)
        self._evict()
        return True

    def get(self, key: str) -> bytes | None:
        blob = self.blobs.get(key)
        if blob is not None:
            self.blobs.move_to_end(key)
        return blob

    def stats(self) -> tuple[int, int]:
        """``(runs, bytes)`` held now."""
        return len(self.blobs), sum(len(b) for b in self.blobs.values())

    def clear(self) -> None:
        self.blobs.clear()

    def _evict(self) -> None:
        total = sum(len(b) for b in self.blobs.values())
        while total > self.max_bytes and self.blobs:
            total -= len(self.blobs.popitem(last=False)[1])


def _cache_key(demo_name: str, config: Any) -> str:
    """A canonical text key: the demo, the config's class and every field's ``repr`` (equal
    configs give equal keys in every replica, unlike their pickles)."""
    cls = type(config)
    if dataclasses.is_dataclass(config):
        fields = ", ".join(f"{f.name}={getattr(config, f.name)!r}"
                           for f in dataclasses.fields(config))
    else:
        fields = repr(config)
    return f"{demo_name}|{cls.__module__}.{cls.__qualname__}({fields})"


class RayRunCache(RunCache):
    """:class:`core.engine.RunCache` in one detached actor shared by every replica of the app.

    The first replica creates the actor ``name`` in namespace ``liveprop``; the others attach to
    it; it outlives them all (``ray stop`` ends it). A finished run is stored as one pickle of
    ``(history, latest snapshot)`` and its size counts against ``max_bytes``, which every
    replica sets again when it attaches (the replicas share one ``LIVEPROP_CACHE_MB``). The
    cache never fails a run: when the cluster does not answer within ``timeout_s``, a lookup is
    a miss and a finished run is not kept.
    """

    def __init__(self, max_bytes: int = 1024 * 1024 * 1024, name: str = CACHE_NAME,
                 timeout_s: float = 10.0) -> None:
        connect()
        self.max_bytes, self.name, self.timeout_s = max_bytes, name, timeout_s
        self._actor = self._attach()

    def _attach(self) -> Any:
        actor = RunCacheActor.options(name=self.name, namespace=NAMESPACE, lifetime="detached",
                                      get_if_exists=True).remote(self.max_bytes)
        actor.set_max_bytes.remote(self.max_bytes)
        return actor

    def _call(self, method: str, *args: Any) -> Any:
        """``actor.method(*args)``, attaching again once if the actor is gone; None on failure."""
        for attempt in (0, 1):
            try:
                return ray.get(getattr(self._actor, method).remote(*args), timeout=self.timeout_s)
            except ray.exceptions.RayActorError:
                if attempt == 0:
                    self._actor = self._attach()
            except Exception as e:
                log.warning("the shared run cache did not answer %s: %s", method, e)
                return None
        return None

    @property
    def bytes(self) -> int:
        """Bytes held now (by every replica's runs)."""
        stats = self._call("stats")
        return stats[1] if stats else 0

    def put(self, run: Any) -> None:
        history, latest = run.view()
        if latest is None:
            return
        blob = _dumps((history, latest))
        if len(blob) <= self.max_bytes:
            self._call("put", _cache_key(*self.key(run)), blob)

    def get(self, demo_name: str, config: Any) -> tuple[list, Any] | None:
        blob = self._call("get", _cache_key(demo_name, config))
        if blob is None:
            return None
        try:
            history, latest = pickle.loads(blob)
        except Exception as e:  # stored by another version of the code: a miss
            log.warning("a cached run could not be read: %s", e)
            return None
        return history, latest

    def __len__(self) -> int:
        stats = self._call("stats")
        return stats[0] if stats else 0

    def clear(self) -> None:
        self._call("clear")
