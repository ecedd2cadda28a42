"""The run engine (core.engine): the worker pool, stop/resume, divergence, the run cache, shared
runs and the worker count from the environment."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import torch

from core.engine import Limits, Run, RunCache, RunPool, RunState, default_workers
from core.executors import ThreadHandle
from core.protocol import Demo, Snapshot, Ticker, param


@dataclass(frozen=True)
class ToyConfig:
    steps: int = param(20, lo=1, hi=1000)
    lr: float = param(0.1, lo=1e-4, hi=10.0, log=True)
    mode: str = param("ok", choices=("ok", "nan", "boom"))
    slow: float = param(0.0, lo=0.0, hi=1.0)
    flag: bool = param(False)
    seed: int = param(0, lo=0, hi=100)


def toy_train(cfg: ToyConfig) -> Iterator[Snapshot]:
    """Minimise (w - 3)^2 by gradient descent; 'nan' mode blows up, 'boom' raises."""
    w = 0.0
    tick = Ticker(total=cfg.steps, interval_s=0.0)
    for step in range(1, cfg.steps + 1):
        w -= cfg.lr * 2 * (w - 3)
        loss = (w - 3) ** 2
        if cfg.mode == "nan" and step == 5:
            loss = math.nan
        if cfg.mode == "boom" and step == 3:
            raise ValueError("exploded on purpose")
        if cfg.slow:
            time.sleep(cfg.slow)
        if tick(step):
            yield Snapshot(step, tick.elapsed, {"loss": loss, "w": w}, total_steps=cfg.steps,
                           final=step == cfg.steps)


TOY = Demo("toy", ToyConfig, toy_train)


def threads_train(cfg: ToyConfig) -> Iterator[Snapshot]:
    """Report the torch threads the run's worker uses at every step."""
    for step in range(1, cfg.steps + 1):
        time.sleep(cfg.slow)
        yield Snapshot(step, 0.0, {"threads": float(torch.get_num_threads())},
                       total_steps=cfg.steps, final=step == cfg.steps)


THREADS = Demo("threads", ToyConfig, threads_train)


def _wait(run: Run, timeout: float = 10.0) -> None:
    assert run.wait(timeout), f"run still {run.state}"


def test_pool_runs_to_completion_and_records_history():
    pool = RunPool(max_workers=1)
    run = pool.submit(Run(TOY, ToyConfig(steps=30)))
    _wait(run)
    assert run.state == RunState.DONE
    history, latest = run.view()
    assert len(history) == 30 and latest.final
    assert history[-1]["loss"] < history[0]["loss"] * 1e-3
    assert run.progress == 1.0


def sparse_pictures_train(cfg: ToyConfig) -> Iterator[Snapshot]:
    """A 'picture' artifact on every third step only, a 'step' artifact on every step."""
    for step in range(1, cfg.steps + 1):
        art = {"step": step} | ({"picture": step} if step % 3 == 1 else {})
        yield Snapshot(step, 0.0, {"loss": 1.0 / step}, art, total_steps=cfg.steps,
                       final=step == cfg.steps)


SPARSE = Demo("sparse", ToyConfig, sparse_pictures_train)


def test_a_page_sees_the_newest_value_of_every_artifact():
    """An artifact sent only now and then (a picture, an evaluation's histogram) stays in the
    run's latest snapshot until a newer one replaces it."""
    run = RunPool(max_workers=1).submit(Run(SPARSE, ToyConfig(steps=6)))
    _wait(run)
    _, latest = run.view()
    assert latest.step == 6 and latest.artifacts == {"step": 6, "picture": 4}


def test_a_carried_artifact_still_counts_in_the_run_s_size():
    """The run cache is bounded in bytes: a picture sent once and carried forward counts in
    every later snapshot's size, not only in the message that brought it."""
    import numpy as np

    from core.executors import SNAPSHOT

    run = Run(SPARSE, ToyConfig(steps=6))
    picture = np.zeros((1000, 1000), np.uint8)
    run.on_event(SNAPSHOT, (Snapshot(1, 0.0, {"loss": 1.0}, {"picture": picture}), 1_000_300))
    run.on_event(SNAPSHOT, (Snapshot(2, 0.1, {"loss": 0.5}, {"step": 2}), 300))
    assert run.latest.artifacts["picture"] is picture
    assert run.size_bytes >= 1_000_300


def test_stop_then_resume_continues_the_same_run():
    pool = RunPool(max_workers=1)
    run = pool.submit(Run(TOY, ToyConfig(steps=40, slow=0.02)))
    while run.step < 5:
        time.sleep(0.01)
    run.request_stop()
    _wait(run)
    assert run.state == RunState.PAUSED
    stopped_at = run.step
    assert 5 <= stopped_at < 40
    pool.submit(run)
    _wait(run)
    assert run.state == RunState.DONE
    steps = [int(h["step"]) for h in run.history]
    assert steps == list(range(1, 41)), "resume must continue where it stopped, not restart"


def test_divergence_is_reported_and_other_runs_are_untouched():
    pool = RunPool(max_workers=2)
    good = pool.submit(Run(TOY, ToyConfig(steps=30, slow=0.005)))
    bad = pool.submit(Run(TOY, ToyConfig(mode="nan")))
    _wait(bad)
    _wait(good)
    assert bad.state == RunState.DIVERGED
    assert "diverged" in bad.message and "learning rate" in bad.message
    assert good.state == RunState.DONE


def test_errors_become_a_message():
    pool = RunPool(max_workers=1)
    run = pool.submit(Run(TOY, ToyConfig(mode="boom")))
    _wait(run)
    assert run.state == RunState.ERROR
    assert "exploded on purpose" in run.message


def test_queue_positions_and_concurrency_limit():
    pool = RunPool(max_workers=2)
    runs = [pool.submit(Run(TOY, ToyConfig(steps=20, slow=0.01, seed=i))) for i in range(5)]
    time.sleep(0.05)
    assert sum(r.state == RunState.RUNNING for r in runs) <= 2
    queued = [r for r in runs if r.state == RunState.QUEUED]
    assert sorted(r.queue_position for r in queued) == list(range(1, len(queued) + 1))
    for r in runs:
        _wait(r, 20)
    assert all(r.state == RunState.DONE for r in runs)
    time.sleep(0.2)
    assert pool.live_threads() == 0, "worker threads must end with their runs"


def test_cache_serves_finished_runs_by_config():
    cache = RunCache()
    pool = RunPool(max_workers=1, cache=cache)
    first = pool.submit(Run(TOY, ToyConfig(steps=10)))
    _wait(first)
    again = pool.submit(Run(TOY, ToyConfig(steps=10)))
    assert again.state == RunState.DONE and again.from_cache
    assert again.view()[0] == first.view()[0]
    cache.max_bytes = int(cache.bytes * 2.5)  # room for two such runs: LRU eviction
    for s in (11, 12):
        _wait(pool.submit(Run(TOY, ToyConfig(steps=s))))
    assert len(cache) == 2 and cache.get("toy", ToyConfig(steps=10)) is None


def test_idle_runs_pause_themselves():
    pool = RunPool(max_workers=1, idle_timeout_s=0.3)
    run = pool.submit(Run(TOY, ToyConfig(steps=1000, slow=0.01)))
    _wait(run, 10)
    assert run.state == RunState.PAUSED and "nobody was watching" in run.message


def test_runs_of_closed_tabs_pause_and_leave_the_queue():
    open_sessions = {"open", "both"}
    pool = RunPool(limits=Limits(max_workers=1, closed_grace_s=0.2),
                   session_alive=lambda s: s in open_sessions)
    mine = pool.submit(Run(TOY, ToyConfig(steps=1000, slow=0.01), session="closed"))
    queued = pool.submit(Run(TOY, ToyConfig(steps=999, slow=0.01), session="closed"))
    shared = pool.submit(Run(TOY, ToyConfig(steps=998, slow=0.01), session="closed"))
    shared.watchers.add("both")
    _wait(mine, 10)
    _wait(queued, 10)
    assert mine.state == RunState.PAUSED and "page was closed" in mine.message, mine.message
    assert queued.state == RunState.PAUSED and queued.step == 0
    deadline = time.time() + 10
    while shared.step == 0 and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)
    assert shared.state == RunState.RUNNING, "a session still watches it: it trains on"
    open_sessions.discard("both")
    _wait(shared, 10)
    assert shared.state == RunState.PAUSED


class SlowStartExecutor:
    """Threads whose first message comes ``delay_s`` late, as a worker forked on a busy machine."""

    name = "thread"

    def __init__(self, delay_s: float) -> None:
        self.delay_s = delay_s

    def launch(self, demo: Demo, config, emit) -> ThreadHandle:
        handle = ThreadHandle(demo, config, emit)
        work = handle._work
        handle._work = lambda: (time.sleep(self.delay_s), work())
        return handle


def test_a_run_paused_while_its_worker_starts_pauses_instead_of_being_stopped():
    """Stop's grace (1.5 s) counts from the worker's first message: a slow start is not a run
    that ignores the request."""
    pool = RunPool(limits=Limits(max_workers=1, stop_grace_s=1.5),
                   executor=SlowStartExecutor(delay_s=3.0))
    run = pool.submit(Run(TOY, ToyConfig(steps=1000, slow=0.01), session="a"))
    time.sleep(0.3)
    pool.pause(run)
    _wait(run, 15)
    assert run.state == RunState.PAUSED, run.message


def test_cancel_queued_run():
    pool = RunPool(max_workers=1)
    busy = pool.submit(Run(TOY, ToyConfig(steps=50, slow=0.01)))
    waiting = pool.submit(Run(TOY, ToyConfig(steps=5)))
    waiting.cancel()
    assert waiting.state == RunState.CANCELLED
    _wait(busy)
    time.sleep(0.1)
    assert waiting.state == RunState.CANCELLED


def test_identical_alive_runs_are_shared_and_released_by_the_last_watcher():
    pool = RunPool(max_workers=1)
    cfg = ToyConfig(steps=200, slow=0.01)
    first = pool.submit(Run(TOY, cfg, session="a"))
    assert pool.shared(TOY, cfg) is first  # a second session watches instead of re-training
    assert pool.shared(TOY, ToyConfig(steps=201)) is None
    first.watchers.add("b")
    first.release("a")
    time.sleep(0.1)
    assert first.alive, "one watcher left: the run goes on"
    first.release("b")
    _wait(first)
    time.sleep(0.1)
    assert first.state in (RunState.PAUSED, RunState.CANCELLED) and first.step < 200
    assert pool.shared(TOY, cfg) is None


def test_watching_sessions_count_and_the_live_redraw_interval_follow_the_class_size():
    from ui.live import LIVE_REDRAWS_PER_S, POLL_S, live_poll_s

    pool = RunPool(max_workers=1)
    assert pool.watching_sessions() == 0
    first = pool.submit(Run(TOY, ToyConfig(steps=400, slow=0.01), session="a"))
    queued = pool.submit(Run(TOY, ToyConfig(steps=5), session="b"))
    first.watchers.update(f"s{i}" for i in range(30))
    queued.watchers.add("a")  # one session watching two runs counts once
    assert pool.watching_sessions() == 32
    assert live_poll_s(pool) == POLL_S * 32 / LIVE_REDRAWS_PER_S
    first.cancel()
    queued.cancel()
    assert pool.watching_sessions() == 0
    assert live_poll_s(pool) == POLL_S


def test_the_cores_are_shared_among_the_runs_training_now():
    pool = RunPool(max_workers=2)
    pool.cores = 4
    lone = pool.submit(Run(THREADS, ToyConfig(steps=300, slow=0.01)))
    while lone.step < 3:
        time.sleep(0.01)
    assert lone.latest.metrics["threads"] == 4, "a lone run uses every core"
    second = pool.submit(Run(THREADS, ToyConfig(steps=30, slow=0.01, seed=1)))
    _wait(second)
    assert second.history[-1]["threads"] == 2
    during = [h["threads"] for h in lone.history if h["step"] > lone.history[-1]["step"] - 10]
    assert 2 in during, "a running run gives up half the cores when a second one starts"
    step_after = lone.step
    while lone.step < step_after + 5 and lone.alive:
        time.sleep(0.01)
    assert lone.latest.metrics["threads"] == 4, "and takes them back when it ends"
    lone.cancel()


def test_the_cores_the_runs_share_come_from_the_environment(monkeypatch):
    """LIVEPROP_CORES: fewer cores than the machine's (a CPU quota, a core kept for the server)."""
    monkeypatch.setenv("LIVEPROP_CORES", "1")
    pool = RunPool(max_workers=2)
    monkeypatch.setenv("LIVEPROP_CORES", "3")
    wider = RunPool(max_workers=2)
    try:
        run = pool.submit(Run(THREADS, ToyConfig(steps=5)))
        _wait(run)
        assert pool.cores == 1 and run.history[-1]["threads"] == 1
        assert wider.threads_per_run() == 3
    finally:
        pool.shutdown()
        wider.shutdown()


def test_worker_count_from_the_environment(monkeypatch):
    monkeypatch.delenv("LIVEPROP_WORKERS", raising=False)
    assert default_workers() == max(1, min(2, os.cpu_count() or 1))
    monkeypatch.setenv("LIVEPROP_WORKERS", " 3 ")
    assert default_workers() == 3 and RunPool().max_workers == 3
    for bad in ("two", "1.5", "0", "-1"):
        monkeypatch.setenv("LIVEPROP_WORKERS", bad)
        with pytest.raises(ValueError, match=f"LIVEPROP_WORKERS='{bad}' is not allowed: set it to "
                                             "a whole number of at least 1"):
            RunPool()
