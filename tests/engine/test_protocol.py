"""The trainer protocol (core.protocol): config fields, old names, run options and the helpers
every trainer uses (Ticker, EvalBudget, CopyCadence, RunningMean, eval_mode)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import ClassVar

import pytest
import torch

from core.protocol import (
    MEAN_WINDOW,
    PICTURE_EVERY_S,
    CopyCadence,
    EvalBudget,
    Progress,
    RunningMean,
    RunOptions,
    Snapshot,
    Ticker,
    carry_artifacts,
    config_diff,
    config_from_strings,
    eval_mode,
    field_specs,
    param,
    resolve_device,
    resolve_keys,
    start,
    validate,
)


@dataclass(frozen=True)
class ToyConfig:
    steps: int = param(20, lo=1, hi=1000)
    lr: float = param(0.1, lo=1e-4, hi=10.0, log=True)
    mode: str = param("ok", choices=("ok", "nan", "boom"))
    flag: bool = param(False)


@dataclass(frozen=True)
class RenamedConfig(RunOptions):
    """A config after renames: ``clip`` became ``max_grad_norm``, ``width`` became ``hidden``,
    and ``fid_every_s`` was removed."""

    RETIRED_KEYS: ClassVar[tuple[str, ...]] = ("fid_every_s",)
    max_grad_norm: float = param(1.0, lo=0.0, hi=10.0, aliases=("clip",))
    hidden: int = param(32, lo=1, hi=512, aliases=("width", "units"))
    device: str = param("cpu", choices=("auto", "cpu", "cuda"))  # a redeclared default


# ------------------------------------------------------------------------------ config fields


def test_config_parsing_and_validation():
    cfg = config_from_strings(ToyConfig, {"steps": "50", "lr": "0.5", "flag": "true"})
    assert cfg == ToyConfig(steps=50, lr=0.5, flag=True)
    with pytest.raises(ValueError, match="unknown key 'stepz'.*known keys: steps"):
        config_from_strings(ToyConfig, {"stepz": "1"})
    with pytest.raises(ValueError, match=r"steps=5000 is out of range; allowed: int in \[1, 1000\]"):
        config_from_strings(ToyConfig, {"steps": "5000"})
    with pytest.raises(ValueError, match="not an integer"):
        config_from_strings(ToyConfig, {"steps": "ten"})
    with pytest.raises(ValueError, match="allowed: one of ok, nan, boom"):
        config_from_strings(ToyConfig, {"mode": "maybe"})
    with pytest.raises(ValueError, match="must be finite"):
        validate(ToyConfig(lr=math.inf))
    specs = {s.name: s for s in field_specs(ToyConfig)}
    assert specs["lr"].log and specs["mode"].choices == ("ok", "nan", "boom")
    assert config_diff(ToyConfig(), ToyConfig(lr=1.0)) == {"lr": (0.1, 1.0)}


def test_an_old_field_name_still_sets_the_renamed_field():
    assert config_from_strings(RenamedConfig, {"clip": "2"}).max_grad_norm == 2.0
    assert config_from_strings(RenamedConfig, {"width": "8"}).hidden == 8
    assert config_from_strings(RenamedConfig, {"units": "9"}).hidden == 9
    with pytest.raises(ValueError, match=r"max_grad_norm=11.0 is out of range"):
        config_from_strings(RenamedConfig, {"clip": "11"})  # checked under today's name
    specs = {s.name: s for s in field_specs(RenamedConfig)}
    assert specs["hidden"].aliases == ("width", "units")


def test_today_s_name_wins_over_an_alias_in_either_order():
    for values in ({"clip": "2", "max_grad_norm": "3"}, {"max_grad_norm": "3", "clip": "2"}):
        assert config_from_strings(RenamedConfig, values).max_grad_norm == 3.0
        resolved, dropped = resolve_keys(RenamedConfig, values)
        assert resolved == {"max_grad_norm": "3"} and dropped == []


def test_retired_keys_are_dropped_so_old_links_still_open():
    resolved, dropped = resolve_keys(RenamedConfig, {"fid_every_s": "5", "width": "4", "x": "1"})
    assert dropped == ["fid_every_s"]
    assert resolved == {"hidden": "4", "x": "1"}  # unknown keys are left for the caller to reject
    cfg = config_from_strings(RenamedConfig, {"fid_every_s": "5", "width": "4"})
    assert cfg == RenamedConfig(hidden=4)
    with pytest.raises(ValueError, match="unknown key 'x'"):
        config_from_strings(RenamedConfig, {"x": "1"})
    assert "RETIRED_KEYS" not in {s.name for s in field_specs(RenamedConfig)}


# ------------------------------------------------------------------------------ run options


def test_run_options_come_first_and_a_config_may_redeclare_a_default():
    names = [s.name for s in field_specs(RenamedConfig)]
    assert names[:2] == ["seed", "device"]
    assert RenamedConfig().device == "cpu" and RunOptions().device == "auto"
    assert config_from_strings(RenamedConfig, {"seed": "7"}).seed == 7
    with pytest.raises(ValueError, match="seed=-1 is out of range"):
        config_from_strings(RenamedConfig, {"seed": "-1"})


def test_start_seeds_every_rng_and_resolves_the_device():
    import random

    import numpy as np

    def draws(seed: int) -> tuple:
        device = start(RenamedConfig(seed=seed))
        assert device == torch.device("cpu")
        return random.random(), float(np.random.rand()), float(torch.rand(1))

    assert draws(3) == draws(3)
    assert draws(3) != draws(4)
    with pytest.raises(ValueError, match="unknown device"):
        start(RenamedConfig(device="tpu"))


def test_resolve_device():
    assert resolve_device("cpu").type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(ValueError):
        resolve_device("tpu")


# ------------------------------------------------------------------------------ trainer helpers


class FakeClock:
    """Stands in for time.perf_counter, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    c = FakeClock()
    monkeypatch.setattr(time, "perf_counter", c)
    return c


def test_ticker_bounds_the_rate():
    tick = Ticker(total=10_000, interval_s=0.05)
    t0 = time.perf_counter()
    fired = [s for s in range(1, 10_001) if tick(s)]
    elapsed = time.perf_counter() - t0
    assert fired[0] == 1 and fired[-1] == 10_000
    assert len(fired) <= 2 + elapsed / 0.05 + 1


def test_eval_budget_waits_in_proportion_to_the_cost(clock):
    budget = EvalBudget(share=0.2, min_interval_s=1.0)
    assert budget.due(), "the first evaluation runs at once"
    with budget.timed():
        clock.now += 2.0  # an evaluation of 2 s at a 20% share: wait 8 s before the next
    assert not budget.due()
    clock.now += 7.9
    assert not budget.due()
    assert budget.due(final=True), "the final snapshot always evaluates"
    clock.now += 0.2
    assert budget.due()
    assert budget.spent_s == pytest.approx(2.0)


def test_eval_budget_keeps_a_minimum_interval_for_cheap_evaluations(clock):
    budget = EvalBudget(share=0.5, min_interval_s=3.0)
    with budget.timed():
        clock.now += 0.01
    clock.now += 2.9
    assert not budget.due()
    clock.now += 0.2
    assert budget.due()
    with pytest.raises(ValueError, match="share"):
        EvalBudget(share=0.0)


def test_eval_budget_is_always_due_with_liveprop_eval_always(clock, monkeypatch):
    """The reproduction test (tests/test_reproduce.py) evaluates at every snapshot this way."""
    monkeypatch.setenv("LIVEPROP_EVAL_ALWAYS", "1")
    budget = EvalBudget(share=0.1, min_interval_s=10.0)
    with budget.timed():
        clock.now += 1.0
    assert budget.due()
    monkeypatch.delenv("LIVEPROP_EVAL_ALWAYS")
    budget = EvalBudget(share=0.1, min_interval_s=10.0)
    with budget.timed():
        clock.now += 1.0
    assert not budget.due()


def test_eval_budget_counts_an_evaluation_that_raised(clock):
    budget = EvalBudget(share=0.5, min_interval_s=0.0)
    with pytest.raises(RuntimeError), budget.timed():
        clock.now += 1.0
        raise RuntimeError("probe failed")
    assert not budget.due() and budget.spent_s == pytest.approx(1.0)


def test_copy_cadence_copies_the_first_then_every_interval_and_always_the_final(clock):
    model = torch.nn.Linear(2, 1)
    copies = CopyCadence(every_s=5.0)
    first = copies(model)
    assert first is not None and first is not model
    assert not first.training and not any(p.requires_grad for p in first.parameters())
    clock.now += 4.0
    assert copies(model) is None
    assert copies(model, final=True) is not None
    clock.now += 4.0
    assert copies(model) is None, "the final copy restarted the interval"
    clock.now += 1.5
    assert copies(model) is not None


def test_copy_cadence_zero_copies_the_final_snapshot_only(clock):
    copies = CopyCadence(every_s=0)
    model = torch.nn.Linear(2, 1)
    assert copies(model) is None
    clock.now += 100
    assert copies(model) is None
    copy = copies(model, final=True)
    assert torch.equal(copy.weight, model.weight) and copy.weight is not model.weight


def test_pictures_come_first_then_at_most_once_a_poll_and_always_at_the_end(clock):
    progress = Progress(total=100)
    assert progress.pictures_due(0)
    clock.now += PICTURE_EVERY_S / 2
    assert not progress.pictures_due(1)
    assert progress.pictures_due(100), "the final snapshot always gets its pictures"
    clock.now += PICTURE_EVERY_S / 2
    assert not progress.pictures_due(2), "the final pictures restarted the interval"
    clock.now += PICTURE_EVERY_S / 2
    assert progress.pictures_due(3) and not progress.pictures_due(4)


def test_copy_due_says_whether_the_snapshot_will_carry_a_copy(clock):
    progress, model = Progress(total=10, copy_every_s=2.0), torch.nn.Linear(2, 1)
    assert progress.copy_due(1) and progress.snapshot(1, {}, model=model).model is not None
    clock.now += 1.0
    assert not progress.copy_due(2) and progress.snapshot(2, {}, model=model).model is None
    assert progress.copy_due(10) and progress.snapshot(10, {}, model=model).model is not None


def test_an_artifact_is_carried_until_a_newer_snapshot_replaces_it():
    a = Snapshot(1, 0.0, {"loss": 1.0}, {"picture": 1, "hist": [1]})
    b = carry_artifacts(a, Snapshot(2, 0.1, {"loss": 0.5}, {"picture": 2}))
    assert b.step == 2 and b.artifacts == {"picture": 2, "hist": [1]}
    beat = Snapshot(3, 0.2, {})  # a heartbeat stays a heartbeat
    assert carry_artifacts(b, beat) is beat and beat.heartbeat
    assert carry_artifacts(None, a) is a


def test_running_mean_of_floats_and_tensors():
    mean = RunningMean()
    assert mean.pop() == {}
    loss = torch.tensor(1.0, requires_grad=True)
    mean.add(loss=loss * 2, acc=0.5)
    mean.add(loss=torch.tensor(4.0), acc=1.0)
    mean.add(loss=3)
    out = mean.pop()
    assert out == {"loss": pytest.approx(3.0), "acc": pytest.approx(0.75)}
    assert all(type(v) is float for v in out.values())
    assert mean.pop() == {}, "nothing added since the last pop"
    mean.add(acc=0.25)
    assert mean.pop() == {"acc": pytest.approx(0.5833333)}, \
        "the last values of a name (not only those since the last pop); names without a value " \
        "since the last pop are left out"


def test_running_mean_depends_on_the_values_not_on_when_it_is_popped():
    """The mean of the last ``window`` values, whenever the snapshots come: two runs that pop at
    different steps report the same value at the same step."""
    values = [float(i * i % 7) for i in range(50)]
    often, rarely = RunningMean(window=4), RunningMean(window=4)
    for i, v in enumerate(values):
        often.add(loss=torch.tensor(v))
        rarely.add(loss=v)
        out = often.pop()
        if i % 9 == 8:
            assert rarely.pop() == out == {"loss": pytest.approx(sum(values[i - 3:i + 1]) / 4)}
    assert RunningMean(window=2).window == 2 and RunningMean().window == MEAN_WINDOW
    phase = RunningMean(window=None)  # the mean since the last pop
    for v in (1.0, 2.0, 3.0):
        phase.add(loss=v)
    assert phase.pop() == {"loss": 2.0}
    phase.add(loss=10.0)
    assert phase.pop() == {"loss": 10.0}
    with pytest.raises(ValueError, match="window"):
        RunningMean(window=0)


def test_running_mean_does_not_keep_the_graph_or_alias_the_first_tensor():
    mean = RunningMean()
    first = torch.tensor(2.0)
    mean.add(loss=first)
    mean.add(loss=torch.tensor(4.0))
    assert first.item() == 2.0, "adding must not change a tensor the trainer still holds"
    w = torch.ones(1, requires_grad=True)
    mean.add(loss=(w * 3).sum())
    assert mean.pop()["loss"] == pytest.approx(3.0)


class Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = torch.nn.Linear(2, 2)
        self.norm = torch.nn.BatchNorm1d(2)  # frozen: kept in eval mode while the rest trains


def test_eval_mode_disables_grad_and_restores_each_model_s_mode():
    a, b = Net(), torch.nn.Linear(2, 1)
    a.train()
    a.norm.eval()  # mixed modes inside one model
    b.eval()
    with eval_mode(a, b):
        assert not a.training and not a.body.training and not b.training
        assert not torch.is_grad_enabled()
        y = a.body(torch.ones(1, 2))
        assert not y.requires_grad
    assert torch.is_grad_enabled()
    assert a.training and a.body.training and not a.norm.training, "mixed modes restored"
    assert not b.training


def test_eval_mode_restores_modes_after_an_error_and_can_keep_grad():
    m = torch.nn.Linear(2, 1).train()
    with pytest.raises(RuntimeError), eval_mode(m):
        raise RuntimeError("boom")
    assert m.training and torch.is_grad_enabled()
    with eval_mode(m, no_grad=False):
        assert not m.training and torch.is_grad_enabled()
        assert m(torch.ones(1, 2)).requires_grad
    assert m.training


def test_an_evaluation_leaves_the_training_random_stream_as_it_was():
    """Whatever runs inside ``timed()`` (sampling, building a model) does not move torch's RNG,
    so a run's numbers do not depend on how often it was evaluated (issue 20's reproduction)."""
    torch.manual_seed(0)
    expected = torch.randn(3)
    torch.manual_seed(0)
    with EvalBudget().timed():
        torch.randn(100)
        torch.nn.Linear(8, 8)
    assert torch.equal(torch.randn(3), expected)


def test_progress_snapshots_the_loss_means_and_copies_the_model_at_the_end(clock):
    model = torch.nn.Linear(2, 1)
    progress = Progress(total=6, interval_s=10.0)
    snaps = []
    for step in range(1, 7):
        progress.losses.add(loss=float(step))
        clock.now += 1.0
        if progress.due(step):
            snaps.append(progress.snapshot(step, progress.losses.pop(), {"a": step}, model=model))
    assert [s.step for s in snaps] == [1, 6], "the first and the last step tick"
    assert snaps[0].metrics == {"loss": 1.0} and snaps[1].metrics == {"loss": 3.5}
    assert [s.final for s in snaps] == [False, True] and snaps[1].total_steps == 6
    assert snaps[0].model is None, "copy_every_s=0: the final snapshot only"
    assert torch.equal(snaps[1].model.weight, model.weight) and snaps[1].model is not model
    assert snaps[1].time_s == pytest.approx(6.0) and snaps[1].artifacts == {"a": 6}


def test_progress_evaluates_on_its_budget_in_eval_mode(clock):
    model = torch.nn.Dropout(0.5)
    progress = Progress(total=100, eval_share=0.5, eval_every_s=1.0)
    assert progress.evaluation_due(1)
    with progress.evaluating(model):
        assert not model.training and not torch.is_grad_enabled()
        clock.now += 4.0  # an evaluation of 4 s at a 50% share: the next waits 4 s
    assert model.training
    clock.now += 3.0
    assert not progress.evaluation_due(2) and progress.evaluation_due(100)
    clock.now += 1.5
    assert progress.evaluation_due(3)
