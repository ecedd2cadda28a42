"""The trainer protocol every Liveprop demo follows.

A *trainer* is a plain generator function ``train(config) -> Iterator[Snapshot]``:

* ``config`` is a frozen dataclass whose fields are declared with :func:`param` (default, range or
  choices, help). It holds every hyperparameter and the common run options ``seed`` and
  ``device`` (inherit :class:`RunOptions`), so the config alone reproduces a run.
* The trainer yields :class:`Snapshot` objects at a bounded rate (use :class:`Ticker`): step,
  elapsed seconds, scalar metrics and optional artifacts (images, embeddings, attention maps...).
  The last snapshot has ``final=True``.
* A trainer is resumable for free: it is a generator, so pausing means "stop calling ``next``".

What every trainer needs beyond its own algorithm is written once here: :class:`EvalBudget`
(how much of the time evaluation may take), :class:`CopyCadence` (when a snapshot carries a
:func:`frozen_copy` of the model), :class:`RunningMean` (smoothed losses), :func:`eval_mode`
(evaluate without touching the training mode), :func:`start` (seed + device), and
:class:`Progress`, which bundles the first three with the :class:`Ticker` so a loop holds one
object and ``yield progress.snapshot(step, metrics, artifacts, model=model)``. A trainer does not
check its losses for NaN: the engine (:mod:`core.engine`) and the CLI do that on every snapshot.

Nothing here imports Streamlit: the same trainers run headless through
``python -m core train ...`` and from a notebook::

    from core.foundations.playground import PlaygroundConfig, train
    for snap in train(PlaygroundConfig(dataset="xor", steps=500)):
        print(snap.step, snap.metrics)
"""

from __future__ import annotations

import collections
import contextlib
import copy
import dataclasses
import functools
import math
import operator
import os
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

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
    aliases: tuple[str, ...] = (),
) -> Any:
    """Declare a config field with its default, allowed values and help text.

    Use inside a ``@dataclass(frozen=True)`` config::

        lr: float = param(0.03, lo=1e-5, hi=10.0, log=True, help="Adam learning rate")
        activation: str = param("tanh", choices=("relu", "tanh", "sigmoid", "linear"))

    ``lo``/``hi`` bound numeric fields (inclusive); ``choices`` lists the allowed values (for
    numeric fields too: they become a select slider in the UI); ``log`` asks the UI for a
    log-spaced slider; ``step`` is the UI slider step; ``aliases`` are earlier names of the field,
    still accepted from links and the CLI. The metadata drives validation, the CLI's ``list``
    output and the generic UI controls.
    """
    meta = {"lo": lo, "hi": hi, "choices": tuple(choices) if choices is not None else None,
            "step": step, "log": log, "label": label, "help": help, "aliases": tuple(aliases)}
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
    aliases: tuple[str, ...] = ()

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


def resolve_keys(config_cls: type, values: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Map earlier field names (``param(aliases=...)``) to today's and drop the config's retired
    keys (``RETIRED_KEYS``, settings that no longer exist): ``(values by field name, dropped)``.

    Old links and commands keep working; a key that is neither a field, an alias nor retired
    is kept as it is (:func:`config_from_strings` rejects it)."""
    alias = {a: s.name for s in field_specs(config_cls) for a in s.aliases}
    retired = set(getattr(config_cls, "RETIRED_KEYS", ()))
    out, dropped = {}, []
    for key, raw in values.items():
        if key in retired:
            dropped.append(key)
            continue
        name = alias.get(key, key)
        if name not in out or key == name:  # today's name wins over an alias
            out[name] = raw
    return out, dropped


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
    values, _ = resolve_keys(config_cls, values)
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
        artifacts: anything a page draws: ``np.ndarray`` images (uint8, HxW or HxWx3 are written
            as PNG by the CLI; other arrays go to ``artifacts.npz``), embeddings, attention maps.
        total_steps: the planned number of steps (for progress bars and ETAs), if known.
        final: True on the last snapshot of a run.
        model: optional detached copy of the model(s) in eval mode (see :func:`frozen_copy`),
            for pages that run the model interactively and for saving weights.
        pace_s: seconds the engine waits before the next step (an animation pace, e.g. the grid
            world's agent walking); a trainer never sleeps itself, so a paced run holds no
            training slot while it waits.
        phase: what the trainer is doing now, for the status line (e.g. "depth 4: epoch 120").

    A snapshot without metrics and artifacts (and not final) is a *heartbeat*: a long phase (training each
    depth of a sweep, a DQN the dataset needs, an evaluation) yields one at least once a second
    so that Stop and the budgets act at once; ``step / total_steps`` then give the fraction of
    the whole run done, in the phase's own units. Heartbeats add no history row.
    """

    step: int
    time_s: float
    metrics: dict[str, float]
    artifacts: dict[str, Any] = field(default_factory=dict)
    total_steps: int | None = None
    final: bool = False
    model: torch.nn.Module | None = None
    pace_s: float = 0.0
    phase: str = ""

    @property
    def heartbeat(self) -> bool:
        """True for a progress-only snapshot (no metrics, no artifacts, not final)."""
        return not self.metrics and not self.artifacts and not self.final


def carry_artifacts(previous: Snapshot | None, snap: Snapshot) -> Snapshot:
    """``snap`` with every artifact of ``previous`` that it does not replace.

    What a page (and the CLI's bundle) sees of a run is the newest value of each artifact, so a
    trainer sends an expensive picture or evaluation result only on the snapshots where it is
    due (an evaluation's class histogram stays on the page until the next evaluation). Used by
    the engine's :class:`~core.engine.Run` and by ``python -m core train``; heartbeats pass as
    they are."""
    if previous is None or snap.heartbeat or not previous.artifacts:
        return snap
    return dataclasses.replace(snap, artifacts={**previous.artifacts, **snap.artifacts})


def heartbeats(inner: Iterator[Any], total: int, done: int = 0, phase: str = "",
               interval_s: float = 0.5) -> Generator[Snapshot, None, tuple[Any, Any]]:
    """Run a long inner phase, yielding heartbeat snapshots while it works.

    ``inner`` is a generator whose items are units of work (an epoch, an optimizer step); a
    :class:`Snapshot` it yields is passed on. At most every ``interval_s`` seconds this yields a
    heartbeat ``Snapshot(done + units, ..., total_steps=total, phase=phase)`` (``{units}`` in
    ``phase`` is replaced by the units done). Returns ``(last item, inner's return value)``::

        last_epoch, _ = yield from heartbeats(fit(cfg), total=n * cfg.epochs, done=i * cfg.epochs,
                                              phase="depth 4: epoch {units}")
    """
    t0 = last = time.perf_counter()
    units, item = 0, None
    while True:
        try:
            nxt = next(inner)
        except StopIteration as stop:
            return item, stop.value
        if isinstance(nxt, Snapshot):
            yield nxt
            continue
        units, item = units + 1, nxt
        now = time.perf_counter()
        if now - last >= interval_s:
            last = now
            yield Snapshot(done + units, now - t0, {}, total_steps=total,
                           phase=phase.format(units=units) if phase else "")


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


@dataclass(frozen=True)
class RunOptions:
    """The run options every config has: inherit them (``class GanConfig(RunOptions)``).

    Their fields come first in :func:`field_specs`; a config may redeclare one to change its
    default (the grid world runs on the CPU)."""

    seed: int = param(0, lo=0, hi=2**31 - 1,
                      help="random seed: the same seed and settings give the same run")
    device: str = param("auto", choices=("auto", "cpu", "cuda"),
                        help="auto: the GPU when there is one, else the CPU")

    def reproducible(self, metrics: dict[str, float]) -> RunOptions:
        """The config that repeats this finished run exactly, given its final ``metrics``: the
        config itself, unless its trainer stops on the wall clock, which then pins the work done
        (``core.bundle`` writes this config and its command into a run's bundle)."""
        return self


def start(config: RunOptions) -> torch.device:
    """Seed every RNG from ``config.seed`` and return ``config.device`` resolved: the first line
    of every trainer.

    Raises:
        ValueError: as :func:`resolve_device`.
    """
    device = resolve_device(config.device)
    seed_everything(config.seed)
    return device


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


class EvalBudget:
    """When an expensive evaluation (an FID, a t-SNE map, a probe) may run: it takes at most
    ``share`` of the wall-clock time and runs at most every ``min_interval_s`` seconds, and it
    always runs on the final snapshot. Usage::

        budget = EvalBudget(share=0.2)
        ...
        if tick(step):
            if budget.due(final):
                with budget.timed():
                    metrics["fid"] = fid(...)

    After an evaluation that took ``c`` seconds the next one waits
    ``max(min_interval_s, c * (1 - share) / share)``. ``LIVEPROP_EVAL_ALWAYS=1`` (tests) makes
    every call due: what an evaluation does must not change the run however often it comes.
    """

    def __init__(self, share: float = 0.25, min_interval_s: float = 1.0) -> None:
        if not 0 < share <= 1:
            raise ValueError(f"share={share} must be in (0, 1]")
        self.share, self.min_interval_s = share, min_interval_s
        self._next = -math.inf  # the first evaluation runs at once
        self.spent_s = 0.0  # seconds spent evaluating so far
        self.always = os.environ.get("LIVEPROP_EVAL_ALWAYS") == "1"

    def due(self, final: bool = False) -> bool:
        """True when an evaluation may run now (always when ``final``)."""
        return final or self.always or time.perf_counter() >= self._next

    @contextlib.contextmanager
    def timed(self) -> Iterator[None]:
        """Time the evaluation inside the block and schedule the next one from its cost.

        The block runs on a fork of torch's global RNG (CPU, and the current CUDA device once
        CUDA is initialized): whatever it draws, or a module it builds, leaves the training's
        random stream as it was, so evaluating more or less often does not change the run.
        """
        t0 = time.perf_counter()
        cuda = [torch.cuda.current_device()] if torch.cuda.is_initialized() else []
        try:
            with torch.random.fork_rng(devices=cuda):
                yield
        finally:
            cost = time.perf_counter() - t0
            self.spent_s += cost
            self._next = time.perf_counter() + max(self.min_interval_s,
                                                   cost * (1 - self.share) / self.share)


class CopyCadence:
    """Which snapshots carry a :func:`frozen_copy` of the model: the final one always, others at
    most every ``every_s`` seconds (``0``: the final one only; the first due snapshot gets one).

    ``model=copies(model, final)`` on a snapshot: the copy costs a deep copy, so pages that run
    the model interactively get a recent one without paying for it at every snapshot."""

    def __init__(self, every_s: float = 5.0) -> None:
        self.every_s = every_s
        self._last = -math.inf

    def due(self, final: bool = False) -> bool:
        """True when a snapshot now would carry a copy (checks only; the call copies)."""
        return final or (self.every_s > 0 and time.perf_counter() - self._last >= self.every_s)

    def __call__(self, model: torch.nn.Module, final: bool = False) -> torch.nn.Module | None:
        if self.due(final):
            self._last = time.perf_counter()
            return frozen_copy(model)
        return None


MEAN_WINDOW = 32  # values in a RunningMean's reported mean (see there)


class RunningMean:
    """The training loss reported at a snapshot: per name, the mean of the last ``window``
    values added (fewer at the start), for the names added since the last :meth:`pop`.

    The window counts values, not seconds: snapshots come on the wall clock (:class:`Ticker`),
    so a mean "since the last snapshot" would change from run to run; this one depends only on
    the run's steps, and the final metrics reproduce from the config. ``window=None``: the mean
    of the values since the last :meth:`pop` (for a phase of a fixed number of steps).

    Tensors are kept on their device and read once per :meth:`pop` (no GPU sync per step)::

        losses = RunningMean()
        for step in ...:
            losses.add(loss=loss.detach(), acc=acc)
            if tick(step):
                metrics = losses.pop()          # {"loss": ..., "acc": ...}
    """

    def __init__(self, window: int | None = MEAN_WINDOW) -> None:
        if window is not None and window < 1:
            raise ValueError(f"window={window} must be at least 1 (or None)")
        self.window = window
        self._values: dict[str, collections.deque] = {}
        self._fresh: dict[str, None] = {}  # names added since the last pop, in order

    def add(self, **values: float | torch.Tensor) -> None:
        """Add one value per name."""
        for k, v in values.items():
            if isinstance(v, torch.Tensor):
                v = v.detach().float()
            self._values.setdefault(k, collections.deque(maxlen=self.window)).append(v)
            self._fresh[k] = None

    def pop(self) -> dict[str, float]:
        """``{name: mean}`` for the names added since the last call (names with no value since
        are left out)."""
        out = {}
        for k in self._fresh:
            total = functools.reduce(operator.add, self._values[k])
            out[k] = float(total) / len(self._values[k])
        self._fresh.clear()
        if self.window is None:
            self._values.clear()
        return out


def ema_decay_at(decay: float, n: torch.Tensor) -> torch.Tensor:
    """The warmed-up decay ``min(decay, (1 + n) / (10 + n))`` after ``n`` averaged steps (as
    TensorFlow's ``ExponentialMovingAverage(num_updates=...)`` and timm's ``ModelEma``): early
    on the average follows the weights closely, later it spans about the last ``n / 9`` steps
    until the decay reaches ``decay``. ``n``: a 0-d tensor; returns one on its device."""
    return ((1.0 + n) / (10.0 + n)).clamp(max=decay)


def weight_average(model: torch.nn.Module, decay: float
                   ) -> torch.optim.swa_utils.AveragedModel | None:
    """An exponential moving average (Polyak & Juditsky 1992) of ``model``'s weights:
    ``torch.optim.swa_utils.AveragedModel`` with the decay of :func:`ema_decay_at` (no device
    sync per step). Call ``update_parameters(model)`` after each step and evaluate ``.module``.
    None for ``decay <= 0`` (off)."""
    if decay <= 0:
        return None

    def ema(avg: list[torch.Tensor], new: list[torch.Tensor], n: torch.Tensor) -> None:
        weight = 1.0 - ema_decay_at(decay, n)
        for a, b in zip(avg, new):
            a.lerp_(b, weight)

    return torch.optim.swa_utils.AveragedModel(model, multi_avg_fn=ema)


@contextlib.contextmanager
def eval_mode(*models: torch.nn.Module, no_grad: bool = True) -> Iterator[None]:
    """Evaluate ``models`` in eval mode (and under ``torch.no_grad()`` unless ``no_grad=False``),
    then restore the training mode of every module and submodule as it was (a frozen
    BatchNorm inside a training model stays in eval mode)."""
    was = [(mod, mod.training) for m in models for mod in m.modules()]
    for m in models:
        m.eval()
    try:
        with torch.no_grad() if no_grad else contextlib.nullcontext():
            yield
    finally:
        for mod, training in was:  # parents first: each call resets its subtree, then children
            mod.train(training)


PICTURE_EVERY_S = 1.0  # pages redraw a training run once a second (ui.live.POLL_S)


class Progress:
    """The snapshot plumbing of a trainer in one object: when to snapshot (:class:`Ticker`),
    the loss means (:class:`RunningMean`, ``progress.losses``), which snapshots carry a model
    copy (:class:`CopyCadence`), when an expensive evaluation may run (:class:`EvalBudget`) and
    when the pictures are worth drawing (:meth:`pictures_due`).
    With it a trainer's loop reads like its reference implementation::

        progress = Progress(cfg.steps, copy_every_s=3.0, eval_share=0.2)
        for step in range(1, cfg.steps + 1):
            progress.losses.add(**train_step(model, opt, batch))
            if progress.due(step):
                metrics = progress.losses.pop()
                if progress.evaluation_due(step):
                    with progress.evaluating(model):
                        metrics |= evaluate(model)
                yield progress.snapshot(step, metrics, artifacts, model=model)

    ``total`` (steps, episodes or epochs) makes step ``total`` final; ``copy_every_s=0`` copies
    the model on the final snapshot only; ``mean_window``: :class:`RunningMean`'s ``window``.
    """

    def __init__(self, total: int | None = None, *, copy_every_s: float = 0.0,
                 eval_share: float = 0.25, eval_every_s: float = 1.0,
                 mean_window: int | None = MEAN_WINDOW, interval_s: float | None = None) -> None:
        self.total = total
        self.tick = Ticker(total, interval_s)
        self.losses = RunningMean(mean_window)
        self.copies = CopyCadence(copy_every_s)
        self.budget = EvalBudget(eval_share, eval_every_s)
        self._pictures_at = -math.inf

    @property
    def elapsed(self) -> float:
        """Seconds since the trainer started."""
        return self.tick.elapsed

    def due(self, step: int) -> bool:
        """True when step ``step`` should yield a snapshot (:class:`Ticker`)."""
        return self.tick(step)

    def is_final(self, step: int) -> bool:
        """True for the last step (``step >= total``)."""
        return self.total is not None and step >= self.total

    def evaluation_due(self, step: int) -> bool:
        """True when an expensive evaluation may run at ``step`` (always on the final one)."""
        return self.budget.due(self.is_final(step))

    def pictures_due(self, step: int) -> bool:
        """True when the snapshot of ``step`` should carry freshly drawn pictures: the first
        one, the final one and otherwise at most every :data:`PICTURE_EVERY_S` (a page redraws
        once a second; snapshots come more often). A snapshot without them still shows the last
        ones (:func:`carry_artifacts`). Call once per snapshot: a True starts the interval."""
        now = time.perf_counter()
        if self.is_final(step) or now - self._pictures_at >= PICTURE_EVERY_S:
            self._pictures_at = now
            return True
        return False

    def copy_due(self, step: int) -> bool:
        """True when the snapshot of ``step`` will carry a model copy (:class:`CopyCadence`)."""
        return self.copies.due(self.is_final(step))

    @contextlib.contextmanager
    def evaluating(self, *models: torch.nn.Module) -> Iterator[None]:
        """Evaluate ``models`` in eval mode without gradients, on the budget's clock and on a
        fork of torch's RNG (:meth:`EvalBudget.timed`)."""
        with self.budget.timed(), eval_mode(*models):
            yield

    def snapshot(self, step: int, metrics: dict[str, float], artifacts: dict | None = None, *,
                 model: torch.nn.Module | None = None, final: bool | None = None,
                 total_steps: int | None = None, **fields: Any) -> Snapshot:
        """The :class:`Snapshot` of ``step``: final when ``step >= total`` (unless ``final`` is
        given), carrying a frozen copy of ``model`` when the copy cadence says so; ``fields``
        (``phase``, ``pace_s``) go to the snapshot as they are."""
        final = self.is_final(step) if final is None else final
        copy_ = self.copies(model, final) if model is not None else None
        return Snapshot(step, self.elapsed, metrics, artifacts or {},
                        total_steps=total_steps or self.total, final=final, model=copy_, **fields)


_LOSS_NAMES = ("nt_xent", "neg_elbo", "recon", "kl")


def _is_loss_key(key: str) -> bool:
    """Loss-like metric names: containing ``loss``, or one of :data:`_LOSS_NAMES` alone or as
    a suffix (``ae_recon``, ``train_neg_elbo``)."""
    return "loss" in key or any(key == n or key.endswith("_" + n) for n in _LOSS_NAMES)


def find_nonfinite_loss(metrics: dict[str, float]) -> str | None:
    """The name of the first loss-like metric that is NaN/inf, or None."""
    for k, v in metrics.items():
        if _is_loss_key(k) and isinstance(v, (int, float)) and not math.isfinite(v):
            return k
    return None
