"""The Ray backend (core.ray_backend): runs as Ray actors, the finished-run cache shared by every
replica through one named actor. Skipped when Ray is not installed (``pip install liveprop[ray]``).

A local Ray instance (2 CPUs) serves the whole module; the toy trainer below is shipped to the
actors by value (a test module is not importable on Ray's workers)."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'liveprop[ray]' "
                                        "(or ray from requirements-test.txt)")

import numpy as np

import core.engine as engine
from core.engine import Run, RunState
from core.executors import ACTIVITY, END, SNAPSHOT
from core.protocol import Demo, Snapshot, param
from core.ray_backend import RayExecutor, RayRunCache

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class ToyConfig:
    steps: int = param(20, lo=1, hi=100_000)
    step_s: float = param(0.0, lo=0.0, hi=1.0, help="seconds each step sleeps")
    pace_s: float = param(0.0, lo=0.0, hi=5.0)
    tag: str = param("a", help="tells otherwise equal configs apart")


def toy_train(cfg: ToyConfig) -> Iterator[Snapshot]:
    """One snapshot per step; the loss is 1/step."""
    for step in range(1, cfg.steps + 1):
        if cfg.step_s:
            time.sleep(cfg.step_s)
        yield Snapshot(step, 0.0, {"loss": 1.0 / step}, total_steps=cfg.steps,
                       final=step == cfg.steps, pace_s=cfg.pace_s,
                       artifacts={"probe": os.environ.get("LIVEPROP_PROBE")})


TOY = Demo("toy", ToyConfig, toy_train)


@pytest.fixture(scope="module", autouse=True)
def cluster() -> Iterator[None]:
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield
    ray.shutdown()


class Events:
    """An executor's event sink that keeps ``(kind, payload)`` in order."""

    def __init__(self) -> None:
        self.items: list[tuple[str, Any]] = []
        self._cond = threading.Condition()

    def __call__(self, kind: str, payload: Any) -> None:
        with self._cond:
            self.items.append((kind, payload))
            self._cond.notify_all()

    def wait_for(self, pred: Callable[[list[tuple[str, Any]]], bool], timeout: float = 60) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: pred(self.items), timeout), self.items[-5:]

    def steps(self) -> list[int]:
        return [p[0].step for k, p in self.items if k == SNAPSHOT]

    def compact(self) -> list[Any]:
        """Snapshots as their step, activities as their word, the end as its state."""
        return [p[0].step if k == SNAPSHOT else p.state if k == END else p for k, p in self.items]


def has(kind: str, payload: Any = None) -> Callable[[list], bool]:
    return lambda items: any(k == kind and (payload is None or p == payload) for k, p in items)


def assert_actor_gone(handle: Any, timeout: float = 30) -> None:
    """The run's actor is dead (``ray.kill`` takes effect asynchronously)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            ray.get(handle.actor.advance.remote(0.01), timeout=timeout)
        except ray.exceptions.RayActorError:
            return
        time.sleep(0.1)
    pytest.fail("the run's actor is still alive")


def wait_until(pred: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_run_trains_to_the_end_in_an_actor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVEPROP_PROBE", "from the app")  # set after the cluster started
    events = Events()
    handle = RayExecutor().launch(TOY, ToyConfig(steps=20), events)
    handle.go()
    events.wait_for(has(END))
    assert events.compact() == ["running", *range(1, 21), "done"]
    sizes = [p[1] for k, p in events.items if k == SNAPSHOT]
    assert all(s > 100 for s in sizes)  # the pickled size of each snapshot
    assert events.items[-2][1][0].artifacts["probe"] == "from the app"  # LIVEPROP_* forwarded
    assert handle.memory_bytes() > 10 * 2**20  # the actor's process, as of its last batch
    assert_actor_gone(handle)  # a finished run frees its worker


def test_pace_is_waited_out_in_the_app() -> None:
    events = Events()
    handle = RayExecutor().launch(TOY, ToyConfig(steps=3, pace_s=0.3), events)
    handle.go()
    events.wait_for(has(END))
    assert events.compact() == ["running", 1, "sleeping", "running", 2, "sleeping", "running",
                                3, "done"]


def test_pause_resume_then_kill() -> None:
    """A pause ends the actor's batch at the next snapshot (not after ``batch_s``); a resumed
    run goes on from the step it paused at; a kill ends the actor with no further event."""
    events = Events()
    handle = RayExecutor(batch_s=60).launch(TOY, ToyConfig(steps=100_000, step_s=0.01), events)
    handle.go()
    time.sleep(1.0)
    handle.pause()
    events.wait_for(has(ACTIVITY, "paused"), timeout=20)
    at_pause = events.steps()
    assert at_pause == list(range(1, len(at_pause) + 1)) and at_pause
    time.sleep(1.0)
    assert events.steps() == at_pause  # nothing advances the trainer while paused
    handle.go()
    time.sleep(0.5)
    handle.pause()
    events.wait_for(lambda items: events.compact().count("paused") == 2, timeout=20)
    steps = events.steps()
    assert steps == list(range(1, len(steps) + 1)) and len(steps) > len(at_pause)
    assert events.compact().count("running") == 2
    handle.kill()
    assert_actor_gone(handle)
    n = len(events.items)
    time.sleep(0.5)
    assert len(events.items) == n  # no event after a kill (the engine has ended the run)
    assert not has(END)(events.items)


def finished_run(config: Any, artifact_bytes: int = 0) -> Run:
    """A run as the engine leaves it when it is done (history and final snapshot)."""
    run = Run(TOY, config)
    run.history = [{"step": float(s), "time_s": 0.0, "loss": 1.0 / s} for s in (1, 2)]
    run.latest = Snapshot(2, 0.0, {"loss": 0.5}, total_steps=2, final=True,
                          artifacts={"blob": np.zeros(artifact_bytes, np.uint8)})
    run.state = RunState.DONE
    return run


def test_two_replicas_see_each_others_finished_runs() -> None:
    replica_a, replica_b = RayRunCache(name="test-shared"), RayRunCache(name="test-shared")
    replica_a.put(finished_run(ToyConfig(steps=2, tag="shared")))
    again = Run(TOY, ToyConfig(steps=2, tag="".join(["sha", "red"])))  # an equal config
    assert replica_b.adopt(again)
    assert again.state == RunState.DONE and again.from_cache
    assert again.latest.step == 2 and [r["step"] for r in again.history] == [1.0, 2.0]
    assert not replica_b.adopt(Run(TOY, ToyConfig(steps=3, tag="shared")))
    assert len(replica_b) == 1 and replica_b.bytes > 0
    replica_b.clear()
    assert len(replica_a) == 0


def test_a_replica_in_another_process_finds_the_run() -> None:
    """Another app process (another driver of the cluster, joining through ``RAY_ADDRESS``)
    stores a finished run; this one completes the same config from the cache."""
    from core.registry import get_demo

    script = """if True:
        import types
        from core.protocol import Snapshot
        from core.ray_backend import RayRunCache
        from core.registry import get_demo
        from core.foundations.playground import PlaygroundConfig
        run = types.SimpleNamespace(demo=get_demo("playground"), config=PlaygroundConfig(steps=7))
        run.view = lambda: ([{"step": 7.0, "loss": 0.25}], Snapshot(7, 0.1, {"loss": 0.25},
                                                                       final=True))
        RayRunCache(name="test-replicas").put(run)
        """
    env = {**os.environ, "RAY_ADDRESS": ray.get_runtime_context().gcs_address}
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True, timeout=120)
    demo = get_demo("playground")
    run = Run(demo, demo.config_cls(steps=7))
    assert RayRunCache(name="test-replicas").adopt(run)
    assert run.latest.metrics == {"loss": 0.25}


def test_the_byte_bound_evicts_the_least_recently_used() -> None:
    one = len(pickle.dumps(finished_run(ToyConfig(tag="x"), 20_000).view()))
    cache = RayRunCache(max_bytes=int(2.5 * one), name="test-bound")
    a, b, c = (finished_run(ToyConfig(tag=t), 20_000) for t in "abc")
    cache.put(a)
    cache.put(b)
    assert cache.get("toy", a.config) is not None  # a is now the most recently used
    cache.put(c)
    assert len(cache) == 2 and cache.bytes <= cache.max_bytes
    assert cache.get("toy", b.config) is None
    assert cache.get("toy", a.config) is not None and cache.get("toy", c.config) is not None
    cache.put(finished_run(ToyConfig(tag="huge"), 3 * one))  # larger than the bound: not kept
    assert cache.get("toy", ToyConfig(tag="huge")) is None and len(cache) == 2


@pytest.mark.skipif(not hasattr(engine, "Limits"), reason="needs the engine with executors")
def test_two_pools_on_one_cluster_train_a_config_once() -> None:
    """Two replicas' pools: the first trains (paused and resumed within the engine's grace),
    the second completes the same config from the shared cache."""
    pools = [engine.RunPool(max_workers=1, executor=RayExecutor(),
                            cache=RayRunCache(name="test-pools")) for _ in range(2)]
    try:
        config = ToyConfig(steps=60, step_s=0.02, tag="pools")
        first = pools[0].submit(Run(TOY, config, session="s1"))
        wait_until(lambda: first.step >= 5)
        first.request_stop()
        assert first.wait(10) and first.state == RunState.PAUSED, first.message
        pools[0].submit(first)
        assert first.wait(60) and first.state == RunState.DONE, first.message
        assert not first.from_cache and [r["step"] for r in first.history] == list(range(1, 61))
        wait_until(lambda: len(pools[1].cache) == 1)  # stored just after the run ended
        second = pools[1].submit(Run(TOY, ToyConfig(steps=60, step_s=0.02, tag="pools"),
                                     session="s2"))
        assert second.state == RunState.DONE and second.from_cache and second.step == 60
    finally:
        for pool in pools:
            pool.shutdown()


def test_the_app_starts_ray_workers_with_the_openmp_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    # libgomp reads them when torch loads in each worker: on a cluster's other nodes only Ray's
    # runtime_env can put them there (the fake start leaves one idle daemon thread behind)
    import core.ray_backend as backend
    from core.openmp import OPENMP_ENV

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(backend.ray, "is_initialized", lambda: False)
    monkeypatch.setattr(backend.ray, "init", lambda **kwargs: calls.append(kwargs))
    backend.connect()
    assert calls and calls[0]["runtime_env"] == {"env_vars": OPENMP_ENV}
    assert OPENMP_ENV["GOMP_SPINCOUNT"] == "30000"
