"""Where trainers execute: a worker process per run (the default), or a thread (tests, notebooks).

The engine (:mod:`core.engine`) decides *when* a run may train; an executor decides *where*.
Every executor drives the trainer with the same :class:`Driver` and reports the same events to
the run: a snapshot, a change of activity (``running`` / ``paused`` / ``sleeping``) and the end
(``done`` / ``diverged`` / ``error``).

:class:`ProcessExecutor` starts one process per run from a fork server that imported torch and
the topic modules once (``multiprocessing``'s ``forkserver`` with a preload list), so a run
starts in ~0.1 s and never shares the interpreter, and its GIL, with page renders. Commands go
down a pipe (``go``, ``pause``, ``threads``, ``stop``); snapshots come back pickled. Pausing is
cooperative at the trainer's next snapshot; a process that does not answer within the grace
period is terminated (:meth:`ProcessHandle.kill`), which always works and frees all its memory.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import pickle
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from core import diagnostics
from core.openmp import apply_openmp_env
from core.protocol import Demo, Diverged, Snapshot, find_nonfinite_loss

# Events an executor reports to its run (see core.engine.Run.on_event)
SNAPSHOT, ACTIVITY, END = "snapshot", "activity", "end"
EventSink = Callable[[str, Any], None]

PRELOAD = ["__main__", "torch", "torchvision", "core.protocol", "core.registry", "core.data"]


@dataclass
class Ended:
    """How a trainer ended: ``state`` is ``done``, ``diverged`` or ``error``."""

    state: str
    message: str = ""
    traceback: str = ""


class Driver:
    """Advances one trainer generator snapshot by snapshot and classifies how it ends.

    A non-finite loss-like metric ends the run as ``diverged`` with a plain sentence; any other
    exception ends it as ``error`` with one line (the traceback is kept apart)."""

    def __init__(self, demo: Demo, config: Any) -> None:
        self.demo, self.config = demo, config
        self._gen: Iterator[Snapshot] | None = None

    def next(self) -> tuple[Snapshot | None, Ended | None]:
        """``(snapshot, None)`` while training; ``(last snapshot or None, how it ended)`` at the
        end."""
        try:
            if self._gen is None:
                diagnostics.release()  # a run that opts in calls diagnostics.watch(model)
                self._gen = iter(self.demo.train(self.config))
            snap = diagnostics.add_to(next(self._gen))
        except StopIteration:
            return None, Ended("done")
        except Diverged as e:
            return None, Ended("diverged", str(e))
        except Exception as e:  # shown on the page as one sentence, never a traceback
            return None, Ended("error", f"{type(e).__name__}: {e}", traceback.format_exc())
        bad = find_nonfinite_loss(snap.metrics)
        if bad is not None:
            self.close()
            return snap, Ended("diverged", (
                f"The {bad} became {snap.metrics[bad]} at step {snap.step}: training diverged. "
                "The learning rate is probably too high: lower it and train again."))
        if snap.final:
            self.close()
            return snap, Ended("done")
        return snap, None

    def close(self) -> None:
        """Close the trainer generator (runs its ``finally`` blocks)."""
        if self._gen is not None and hasattr(self._gen, "close"):
            with contextlib.suppress(Exception):
                self._gen.close()
            diagnostics.release()
        self._gen = None


def drive(driver: Driver, emit: EventSink, should_pause: Callable[[], bool],
          sleep: Callable[[float], bool]) -> Ended | None:
    """Advance ``driver`` until the trainer ends (returns how) or ``should_pause()`` is true at a
    snapshot (returns None). A snapshot with ``pace_s`` (an animation pace) is followed by
    ``sleep(pace_s)``, reported as activity ``sleeping``; ``sleep`` returns False when a pause
    interrupted it. Shared by every executor; snapshots are emitted as ``(snapshot, bytes)``."""
    while True:
        snap, end = driver.next()
        if snap is not None:
            emit(SNAPSHOT, (snap, 0))
        if end is not None:
            return end
        if should_pause():
            return None
        if snap is not None and snap.pace_s > 0:
            emit(ACTIVITY, "sleeping")
            resumed = sleep(snap.pace_s)
            emit(ACTIVITY, "running")
            if not resumed:
                return None


class Handle:
    """Control of one run's execution, whatever the executor."""

    def go(self) -> None:
        """Start, or resume after a pause."""
        raise NotImplementedError

    def pause(self) -> None:
        """Pause at the trainer's next snapshot (the run can be resumed)."""
        raise NotImplementedError

    def set_threads(self, n: int) -> None:
        """Torch intra-op threads for this run from its next snapshot on."""

    def kill(self) -> None:
        """Stop for good, now, and free the run's memory."""
        raise NotImplementedError

    def memory_bytes(self) -> int | None:
        """Resident memory of the run's process, when known."""
        return None


# ------------------------------------------------------------------------------ threads


class ThreadHandle(Handle):
    """A run advanced by a thread of this process (tests and notebooks; no isolation)."""

    def __init__(self, demo: Demo, config: Any, emit: EventSink) -> None:
        self.driver, self.emit = Driver(demo, config), emit
        self._pause = threading.Event()
        self._killed = False
        self._thread: threading.Thread | None = None
        self._threads = 0

    def go(self) -> None:
        self._pause.clear()
        self._thread = threading.Thread(target=self._work, daemon=True, name="liveprop-run")
        self._thread.start()

    def _work(self) -> None:
        import torch

        if self._threads:
            torch.set_num_threads(self._threads)
        self.emit(ACTIVITY, "running")
        end = drive(self.driver, self._emit, self._pause.is_set,
                    lambda s: not self._pause.wait(s))
        if self._killed:
            return
        if end is None:
            self.emit(ACTIVITY, "paused")
        else:
            self.emit(END, end)

    def _emit(self, kind: str, payload: Any) -> None:
        if not self._killed:
            self.emit(kind, payload)

    def pause(self) -> None:
        self._pause.set()

    def set_threads(self, n: int) -> None:
        self._threads = n

    def kill(self) -> None:
        self._killed = True
        self._pause.set()
        if self._thread is None or not self._thread.is_alive():
            self.driver.close()


class ThreadExecutor:
    """Runs each trainer in a thread of this process."""

    name = "thread"

    def launch(self, demo: Demo, config: Any, emit: EventSink) -> Handle:
        return ThreadHandle(demo, config, emit)


# ------------------------------------------------------------------------------ processes


WORKER_NICE = 5  # training yields the CPU to the server's page runs (clicks, polls) when both want it


def _lower_priority() -> None:
    """Lower this worker process's CPU priority by :data:`WORKER_NICE` (a no-op where the OS
    refuses): a class's clicks are answered first, training takes every cycle they leave."""
    with contextlib.suppress(AttributeError, OSError):
        os.nice(WORKER_NICE)


def _child_main(conn: Any, demo: Demo, config: Any, threads: int) -> None:
    """The worker process: wait for ``go``, drive the trainer, obey commands at snapshots
    (``pause`` waits for the next ``go``; ``stop`` ends the process; ``threads`` applies at
    once)."""
    import torch

    _lower_priority()
    torch.set_num_threads(max(1, threads))
    driver = Driver(demo, config)
    stopping = False

    def next_command(timeout: float | None) -> str | None:
        """Apply ``threads`` commands; return the next control word, if any arrived."""
        nonlocal stopping
        while timeout is None or conn.poll(timeout):
            cmd = conn.recv()
            if cmd[0] == "threads":
                torch.set_num_threads(max(1, int(cmd[1])))
                timeout = 0 if timeout is not None else None
                continue
            stopping = stopping or cmd[0] == "stop"
            return cmd[0]
        return None

    def should_pause() -> bool:
        return next_command(0) in ("pause", "stop")

    def sleep(seconds: float) -> bool:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            if next_command(min(left, 0.2)) in ("pause", "stop"):
                return False
        return True

    def emit(kind: str, payload: Any) -> None:
        conn.send_bytes(pickle.dumps((kind, payload), protocol=pickle.HIGHEST_PROTOCOL))

    while not stopping:
        if next_command(None) != "go":
            continue
        emit(ACTIVITY, "running")
        end = drive(driver, emit, should_pause, sleep)
        if end is not None:
            emit(END, end)
            return
        emit(ACTIVITY, "paused")


_CTX_LOCK = threading.Lock()
_CTX: Any = None


def _context() -> Any:
    """The fork-server context, its server preloaded with torch, the core modules and every topic
    (started on first use; :func:`warm_up` starts it ahead of the first run)."""
    global _CTX
    with _CTX_LOCK:
        if _CTX is None:
            from core.registry import topic_modules

            apply_openmp_env()  # the fork server and its workers inherit this environment
            ctx = mp.get_context("forkserver")
            ctx.set_forkserver_preload(PRELOAD + topic_modules())
            _CTX = ctx
        return _CTX


class ProcessHandle(Handle):
    """One run in its own process; a reader thread turns its messages into run events."""

    def __init__(self, demo: Demo, config: Any, emit: EventSink, threads: int) -> None:
        ctx = _context()
        self.emit = emit
        parent, child = ctx.Pipe()
        self.conn = parent
        self.proc = ctx.Process(target=_child_main, args=(child, demo, config, threads),
                                daemon=True, name=f"liveprop-{demo.name}")
        self.proc.start()
        child.close()
        self._lock = threading.Lock()
        self._dead = False
        self._reader = threading.Thread(target=self._read, daemon=True, name="liveprop-reader")
        self._reader.start()

    def _send(self, *cmd: Any) -> None:
        with self._lock:
            if self._dead:
                return
            with contextlib.suppress(OSError, EOFError, BrokenPipeError):
                self.conn.send(cmd)

    def _read(self) -> None:
        while True:
            try:
                data = self.conn.recv_bytes()
            except (EOFError, OSError):
                break
            try:  # written by this run's own worker process (our code), never by a visitor
                kind, payload = pickle.loads(data)
            except Exception as e:  # a snapshot the page cannot read: end the run plainly
                self.emit(END, Ended("error", f"a snapshot could not be read ({e})"))
                self.kill()
                return
            if kind == SNAPSHOT:
                payload = (payload[0], len(data))
            self.emit(kind, payload)
            if kind == END:
                break
        self.proc.join(timeout=5)
        with self._lock:
            was_dead, self._dead = self._dead, True
        if not was_dead and self.proc.exitcode not in (0, None):
            self.emit(END, Ended("error", f"the worker process ended unexpectedly "
                                          f"(exit code {self.proc.exitcode})"))

    def go(self) -> None:
        self._send("go")

    def pause(self) -> None:
        self._send("pause")

    def set_threads(self, n: int) -> None:
        self._send("threads", n)

    def kill(self) -> None:
        with self._lock:
            self._dead = True
        with contextlib.suppress(Exception):
            self.conn.send(("stop",))
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(timeout=2)
            if self.proc.is_alive():
                self.proc.kill()
                self.proc.join(timeout=2)
        with contextlib.suppress(Exception):
            self.conn.close()

    @property
    def pid(self) -> int | None:
        return self.proc.pid

    def memory_bytes(self) -> int | None:
        try:
            with open(f"/proc/{self.proc.pid}/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            return None


class ProcessExecutor:
    """Runs each trainer in its own process, forked from a preloaded fork server."""

    name = "process"

    def __init__(self, threads: int = 1) -> None:
        self.threads = threads

    def launch(self, demo: Demo, config: Any, emit: EventSink) -> Handle:
        return ProcessHandle(demo, config, emit, self.threads)


def warm_up() -> None:
    """Start the fork server (it imports torch and the core modules once) by running a no-op
    process, so the first visitor's run starts in a fraction of a second."""
    ctx = _context()
    p = ctx.Process(target=_noop, daemon=True)
    p.start()
    p.join(timeout=120)


def _noop() -> None:
    pass
