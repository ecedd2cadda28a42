"""Diagnostics (core.diagnostics, ui.diagnostics): one watch(model) line gives every snapshot
per-layer gradient norms, update ratios and activation statistics, measured right, with the
model's frozen copies left plain; the panel draws on the page."""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from core import diagnostics
from core.executors import Driver
from core.protocol import Demo, RunOptions, Snapshot, frozen_copy, param, start


@dataclass(frozen=True)
class TinyConfig(RunOptions):
    steps: int = param(40, lo=1, hi=1000)
    lr: float = param(0.1, lo=1e-4, hi=1.0)
    dead_bias: float = param(0.0, lo=-100.0, hi=0.0)
    opt_in: bool = param(True)


def tiny_train(cfg: TinyConfig) -> Iterator[Snapshot]:
    start(cfg)
    model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 1))
    with torch.no_grad():
        model[0].bias.fill_(cfg.dead_bias)
    if cfg.opt_in:
        diagnostics.watch(model)
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr)
    x = torch.randn(64, 2)
    y = x.sum(1, keepdim=True)
    for step in range(1, cfg.steps + 1):
        loss = ((model(x) - y) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 10 == 0:
            yield Snapshot(step, 0.0, {"loss": float(loss.detach())}, total_steps=cfg.steps,
                           final=step == cfg.steps, model=frozen_copy(model))


TINY = Demo("tiny_diag", TinyConfig, tiny_train)


def _run(cfg: TinyConfig) -> list[Snapshot]:
    driver, snaps = Driver(TINY, cfg), []
    while True:
        snap, end = driver.next()
        if snap is not None:
            snaps.append(snap)
        if end is not None:
            assert end.state == "done", end.message
            return snaps


def test_watched_runs_report_per_layer_diagnostics():
    snaps = _run(TinyConfig())
    last = snaps[-1].metrics
    for layer in ("0", "2"):
        assert last[f"diag.grad_norm/{layer}"] > 0
        assert 0 < last[f"diag.update_ratio/{layer}"] < 1
    assert "diag.dead/1" in last and 0 <= last["diag.dead/1"] <= 1  # the ReLU module
    hist = snaps[-1].artifacts["diag_hist"]
    assert set(hist) == {"0", "2"} and hist["0"][0].sum() == 32  # 2x16 weights
    pickle.dumps(snaps[-1].model)  # the frozen copy carries no hooks: it crosses processes
    assert diagnostics.active() is None, "released when the run ended"


def test_the_update_ratio_is_the_real_step_size():
    """SGD moves W by lr * grad: a 10x learning rate gives a ~10x update ratio at step 10."""
    slow = _run(TinyConfig(lr=0.01, steps=10))[-1].metrics["diag.update_ratio/2"]
    fast = _run(TinyConfig(lr=0.1, steps=10))[-1].metrics["diag.update_ratio/2"]
    assert 5 < fast / slow < 20, (slow, fast)


def test_dead_relus_are_counted_and_runs_that_did_not_opt_in_have_none():
    dead = _run(TinyConfig(dead_bias=-100.0))[-1].metrics
    assert dead["diag.dead/1"] == 1.0 and dead["diag.dead/0"] == 1.0
    plain = _run(TinyConfig(opt_in=False))[-1].metrics
    assert not any(k.startswith("diag.") for k in plain)


def test_a_diverging_watched_run_is_reported_as_diverged_not_as_an_error():
    driver = Driver(TINY, TinyConfig(lr=1.0, steps=1000))
    model = nn.Linear(2, 2)
    with torch.no_grad():
        model.weight.fill_(float("nan"))
    d = diagnostics.Diagnostics(model)
    metrics, artifacts = d.collect()  # NaN weights: no histogram, no exception
    assert artifacts["diag_hist"] == {}
    d.close()
    while True:
        _, end = driver.next()
        if end is not None:
            assert end.state in ("diverged", "done"), end.message
            break


def test_the_forward_hook_exists_only_for_the_measured_step():
    model = nn.Sequential(nn.Linear(2, 4), nn.ReLU())
    d = diagnostics.watch(model) and diagnostics.active()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    model(torch.randn(8, 2)).sum().backward()
    opt.step()
    assert d._forward_handle is None, "disarmed after the optimizer step"
    d.collect()
    assert d._forward_handle is not None, "armed again for the next step"
    diagnostics.release()
    assert d._forward_handle is None


def test_the_playground_page_draws_the_diagnostics_panel(clean_streamlit):
    from tests.apptest_util import is_done, open_page, train_until

    at = open_page("playground")
    at.select_slider(key="playground.steps").set_value(100) if any(
        s.key == "playground.steps" for s in at.select_slider) else at.slider(
        key="playground.steps").set_value(100)
    train_until(at, is_done, timeout=120)
    panel = [e for e in at.expander if e.label.startswith("Diagnostics")]
    assert panel, [e.label for e in at.expander]
    assert not panel[0].get("vega_lite_chart"), "a closed panel builds no chart"
    at.session_state["playground.diagnostics"] = True  # the visitor opens it
    at.run()
    panel = [e for e in at.expander if e.label.startswith("Diagnostics")]
    assert panel[0].get("vega_lite_chart"), "gradient and update charts"
