"""What one page hands another: the results of a finished run that a second demo builds on.

Today: the DQN page's policy checkpoints (:data:`POLICIES`) become the Decision Transformer's
offline dataset, and the CLIP page's image encoder (:data:`IMAGE_ENCODERS`) becomes the
segmentation page's frozen feature extractor. A *producer* trainer calls :func:`publish` at the
end of a run; a *consumer* names the run it wants by its producer demo and settings (:func:`run_name`, e.g.
``"steps=20000,seed=3"``) or by a file written by the CLI, and calls :func:`obtain`, which reuses
a finished run, reads the file, or trains the producer demo now. Finished runs are kept on disk
under ``<data folder>/handoff/<kind>/`` (written atomically, read with ``weights_only=True``), so
every process sees them: runs train in worker processes, and the pages list what they finished.
A file named by a consumer must lie under the data folder (:func:`core.data.data_root`): a
setting from a link can name no other path on the server. Neither side
imports the other: the producer is found by name (:func:`core.registry.get_demo`), and what is
handed over is plain tensors (``torch.load(..., weights_only=True)`` reads them back).

A kind's payload is also the producer's final-snapshot artifact of the same name, so
``python -m core train dqn --out DIR`` writes it as ``DIR/cartpole_policies.pt``.

Kinds and their payloads:

* :data:`POLICIES` (``"cartpole_policies"``, producer ``dqn``): the Q-network after each greedy
  evaluation of one DQN run on CartPole-v1, of mixed quality by construction::

      {"steps": int64 (n,), "eval_returns": float32 (n,), "hidden": int,
       "state_dicts": [n state dicts of mlp([4, hidden, hidden, 2])]}

  ``steps``: environment steps at each checkpoint; ``eval_returns``: its mean greedy return.
  :func:`policy` rebuilds checkpoint ``i`` as a module ``obs (B, 4) -> Q values (B, 2)``.

* :data:`IMAGE_ENCODERS` (``"clip_image_encoder"``, producer ``clip``): the image tower of one
  finished CLIP run (a :class:`ConvEncoder`, without its projection head), which the
  segmentation page freezes and decodes into masks, and, from a run on scenes, its text
  tower's embeddings of every attribute phrase, which condition that decoder on a prompt::

      {"width": int, "depth": int, "state_dict": state dict of ConvEncoder(width, depth),
       "image_size": int, "zero_shot_seen": float,
       "phrase_embeddings": float tensor (len(attribute_phrases()), d) (scenes runs only)}

  ``image_size``: the side of the square RGB scenes it was trained on; ``zero_shot_seen``: its
  final zero-shot accuracy on seen compositions; ``phrase_embeddings``: unit vectors of
  :func:`core.data.scenes.attribute_phrases`, in that order. :func:`image_encoder` rebuilds the
  encoder as a frozen module ``x (B, 3, H, W) -> [feature map of each stage]``;
  :func:`phrase_embeddings` returns the table (or None for a run on digit strips).
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from core.blocks.convnet import ConvEncoder  # what IMAGE_ENCODERS hands over
from core.blocks.mlp import mlp
from core.data.scenes import attribute_phrases
from core.protocol import Snapshot, config_diff, config_from_strings, find_nonfinite_loss

POLICIES = "cartpole_policies"  # kind: a DQN run's policy checkpoints
IMAGE_ENCODERS = "clip_image_encoder"  # kind: a CLIP run's image encoder
STORE_SIZE = 8  # finished runs kept per kind (least recently used are dropped)
CARTPOLE_OBS_DIM = 4
CARTPOLE_N_ACTIONS = 2


@dataclass(frozen=True)
class Export:
    """One finished run's hand-over: ``kind`` of payload, producer ``demo``, its settings as a
    :func:`run_name` (``run``), and the ``payload`` itself."""

    kind: str
    demo: str
    run: str
    payload: Any


_LOCK = threading.Lock()


def _folder(kind: str) -> Path:
    from core.data import data_root

    return data_root() / "handoff" / kind


# --------------------------------------------------------------------------------- run names


def run_name(config: Any) -> str:
    """The settings of ``config`` that differ from its class's defaults, as ``"k=v,k=v"`` in
    field order (``""`` = the defaults). Equal configs give equal names."""
    return ",".join(f"{k}={v}" for k, (_, v) in config_diff(type(config)(), config).items())


def _pairs(run: str) -> dict[str, str]:
    """``"a=1,b=x,y"`` -> ``{"a": "1", "b": "x,y"}``: a piece without ``=`` continues the value
    before it (values such as ``hidden=4,2`` hold commas)."""
    values: dict[str, str] = {}
    last = None
    for piece in run.split(","):
        if "=" in piece:
            last, value = (s.strip() for s in piece.split("=", 1))
            values[last] = value
        elif last is not None:
            values[last] += "," + piece.strip()
        elif piece.strip():
            raise ValueError(f"{piece.strip()!r} is not a setting; write settings as "
                             "key=value pairs separated by commas, e.g. steps=20000,seed=3")
    return values


def _is_file(run: str) -> bool:
    return run.strip().endswith(".pt")


def _demo_and_config(demo_name: str, run: str) -> tuple[Any, Any]:
    from core.registry import get_demo

    try:
        demo = get_demo(demo_name)
    except KeyError as e:
        raise ValueError(str(e.args[0])) from None
    return demo, config_from_strings(demo.config_cls, _pairs(run))


def canonical_run(demo_name: str, run: str) -> str:
    """``run`` as :func:`run_name` writes it (a ``.pt`` path as it is), so that equal settings
    written differently (order, spaces, earlier field names) compare equal.

    Raises:
        ValueError: as :func:`check_run`.
    """
    if _is_file(run):
        return run.strip()
    return run_name(_demo_and_config(demo_name, run)[1])


def check_run(demo_name: str, run: str) -> None:
    """Check a run's settings before anything is trained (a ``.pt`` path is checked when it is
    obtained). Earlier field names (``param(aliases=...)``) are accepted.

    Raises:
        ValueError: naming the unknown demo, the malformed piece, the unknown setting (with the
            known ones) or the bad value (with the allowed ones).
    """
    if not _is_file(run):
        _demo_and_config(demo_name, run)


# --------------------------------------------------------------------------------- the store


def _check_kind(kind: str) -> None:
    if kind not in _CHECKS:
        raise ValueError(f"unknown kind {kind!r}; known kinds: {', '.join(_CHECKS)}")


def _file(kind: str, demo_name: str, run: str) -> Path:
    digest = hashlib.sha256(f"{demo_name}\n{run}".encode()).hexdigest()[:20]
    return _folder(kind) / f"{demo_name}-{digest}.pt"


def publish(kind: str, demo_name: str, config: Any, payload: Any) -> None:
    """Keep a finished run's payload under ``(kind, demo_name, run_name(config))``, replacing an
    earlier one; at most :data:`STORE_SIZE` runs per kind are kept (the least recently used go).
    Safe across threads and processes (atomic writes).

    Raises:
        ValueError: for an unknown kind.
    """
    _check_kind(kind)
    run = run_name(config)
    path = _file(kind, demo_name, run)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
    torch.save({"kind": kind, "demo": demo_name, "run": run, "payload": payload}, tmp)
    os.replace(tmp, path)
    _touch_newest(path)
    with _LOCK:
        files = sorted(path.parent.glob("*.pt"), key=_mtime, reverse=True)
        for old in files[STORE_SIZE:]:
            old.unlink(missing_ok=True)


def _touch_newest(path: Path) -> None:
    """Make ``path`` the most recent file of its folder (file clocks tick in milliseconds, so
    two writes in a row can share a time)."""
    newest = max((f.stat().st_mtime_ns for f in path.parent.glob("*.pt") if f != path),
                 default=0)
    ns = max(time.time_ns(), newest + 1000)
    os.utime(path, ns=(ns, ns))


def _mtime(p: Path) -> int:
    try:
        return p.stat().st_mtime_ns
    except OSError:
        return 0


def _read(path: Path) -> Export | None:
    """The export in ``path`` (read once per version of the file: pages list the finished
    runs on every rerun), or None for a file being replaced or damaged."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return _read_version(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=64)
def _read_version(path: Path, mtime_ns: int, size: int) -> Export | None:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
        return Export(obj["kind"], obj["demo"], obj["run"], obj["payload"])
    except Exception:  # noqa: BLE001 - a file being replaced or damaged is skipped
        return None


def finished(kind: str) -> list[Export]:
    """The runs of ``kind`` finished (or obtained) on this machine, most recent first.

    Raises:
        ValueError: for an unknown kind.
    """
    _check_kind(kind)
    files = sorted(_folder(kind).glob("*.pt"), key=_mtime, reverse=True)
    return [e for e in map(_read, files) if e is not None and e.kind == kind]


def obtain(kind: str, demo_name: str, run: str) -> Any:
    """:func:`obtain_steps` run to its end: the payload (see there)."""
    gen = obtain_steps(kind, demo_name, run)
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


def obtain_steps(kind: str, demo_name: str, run: str) -> Generator[Snapshot, None, Any]:
    """The payload of ``kind`` from one run of the producer demo ``demo_name``, yielding heartbeat
    snapshots while the producer trains (so a consumer's trainer can ``yield from`` it and stay
    stoppable, with the producer's progress as its own).

    ``run`` is either settings (a :func:`run_name`; the payload of a finished run with those
    settings is reused, else the demo is trained to its end now, which is reproducible on the CPU,
    and its final snapshot's ``artifacts[kind]`` is published and returned), or the path of a
    ``.pt`` file written by ``python -m core train`` (read with ``weights_only=True`` and
    checked).

    Raises:
        ValueError: with a plain sentence for an unknown kind or demo, bad settings, a missing,
            unreadable or wrong file, or a run that diverged or does not produce ``kind``.
    """
    _check_kind(kind)
    if _is_file(run):
        return _load(kind, run.strip())
    demo, config = _demo_and_config(demo_name, run)
    path = _file(kind, demo_name, run_name(config))
    hit = _read(path) if path.exists() else None
    if hit is not None and _is_current(kind, hit.payload):
        _touch_newest(path)  # most recently used
        return hit.payload
    payload = yield from _train(kind, demo, config)
    publish(kind, demo_name, config, payload)
    return payload


def _is_current(kind: str, payload: Any) -> bool:
    """False for an export written before its kind gained a field: a CLIP run on scenes
    without ``phrase_embeddings``. Such a run is trained again (and its export replaced)."""
    if kind == IMAGE_ENCODERS and isinstance(payload, dict):
        return payload.get("data") == "digits" or payload.get("phrase_embeddings") is not None
    return True


def _train(kind: str, demo: Any, config: Any) -> Generator[Snapshot, None, Any]:
    """Run the producer to its end, yielding a heartbeat per producer snapshot (its share of the
    producer's run, and a phase sentence); return its final ``artifacts[kind]``, checked."""
    where = f"the {demo.name} run {run_name(config) or 'with default settings'}"
    for snap in demo.train(config):
        if not snap.final and snap.total_steps:
            yield Snapshot(snap.step, snap.time_s, {}, total_steps=snap.total_steps,
                           phase=f"training {where} first: step {snap.step} of "
                                 f"{snap.total_steps}")
        bad = find_nonfinite_loss(snap.metrics)
        if bad is not None:
            raise ValueError(f"{where} diverged ({bad} became {snap.metrics[bad]} at step "
                             f"{snap.step}), so it has no {kind}; try other settings")
        if snap.final:
            if kind not in snap.artifacts:
                raise ValueError(f"the {demo.name} demo does not produce {kind}")
            return _CHECKS[kind](snap.artifacts[kind], where)
    raise ValueError(f"{where} ended before its final snapshot")


def _load(kind: str, path: str) -> Any:
    from core.data import data_root

    root = data_root().resolve()
    full = (root / path).resolve() if not Path(path).is_absolute() else Path(path).resolve()
    if not full.is_relative_to(root):
        raise ValueError(f"{path!r} is not in the data folder ({root}); copy the file written "
                         "by the CLI there, or name a run by its settings")
    path = str(full)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ValueError(f"cannot read {path!r}: there is no such file") from None
    except Exception as e:  # noqa: BLE001 - any unreadable file is the user's input error
        raise ValueError(f"cannot read {path!r}: it is not a file written by the CLI "
                         f"({type(e).__name__})") from None
    return _CHECKS[kind](obj, repr(path))


# ----------------------------------------------------------------------------- cartpole policies


def _policy_net(hidden: int) -> nn.Sequential:
    return mlp([CARTPOLE_OBS_DIM, hidden, hidden, CARTPOLE_N_ACTIONS])


def _check_policies(obj: Any, where: str) -> dict[str, Any]:
    """``obj`` as a :data:`POLICIES` payload (files written before the ``width`` -> ``hidden``
    rename and the shared MLP block are converted).

    Raises:
        ValueError: if ``obj`` is not one, naming what is wrong.
    """
    if not isinstance(obj, dict):
        raise ValueError(f"{where} does not hold DQN policy checkpoints")
    obj = dict(obj)
    if "hidden" not in obj and "width" in obj:
        obj["hidden"] = obj.pop("width")
    missing = [k for k in ("steps", "eval_returns", "hidden", "state_dicts") if k not in obj]
    if missing:
        raise ValueError(f"{where} does not hold DQN policy checkpoints (missing "
                         f"{', '.join(missing)})")
    try:
        steps = torch.as_tensor(obj["steps"]).to(torch.int64).reshape(-1)
        returns = torch.as_tensor(obj["eval_returns"]).to(torch.float32).reshape(-1)
        states = [{k.removeprefix("net."): v for k, v in sd.items()} for sd in obj["state_dicts"]]
        hidden = int(obj["hidden"])
    except (TypeError, ValueError, RuntimeError, AttributeError):
        raise ValueError(f"{where} does not hold DQN policy checkpoints (a field has the wrong "
                         "type)") from None
    if not states or not len(steps) == len(returns) == len(states):
        raise ValueError(f"{where} holds {len(states)} checkpoints for {len(steps)} steps and "
                         f"{len(returns)} returns; expected one or more of each, as many")
    net = _policy_net(hidden)
    for i, sd in enumerate(states):
        try:
            net.load_state_dict(sd)
        except (RuntimeError, TypeError) as e:
            raise ValueError(f"checkpoint {i} of {where} does not fit a Q-network with "
                             f"{hidden} hidden units ({str(e).splitlines()[0]})") from None
    return {"steps": steps, "eval_returns": returns, "hidden": hidden, "state_dicts": states}


def policy(payload: dict[str, Any], i: int) -> nn.Module:
    """Checkpoint ``i`` of a :data:`POLICIES` payload as an eval-mode CPU module without
    gradients: ``obs (B, 4) float32 -> Q values (B, 2)``; act greedily with ``argmax(1)``.

    Raises:
        IndexError: if there is no checkpoint ``i``.
    """
    net = _policy_net(int(payload["hidden"]))
    net.load_state_dict(payload["state_dicts"][i])
    return net.eval().requires_grad_(False)


# ------------------------------------------------------------------------- CLIP image encoders


def _check_encoder(obj: Any, where: str) -> dict[str, Any]:
    """``obj`` as an :data:`IMAGE_ENCODERS` payload.

    Raises:
        ValueError: if ``obj`` is not one, naming what is wrong.
    """
    what = f"{where} does not hold a CLIP image encoder"
    if not isinstance(obj, dict):
        raise ValueError(what)
    missing = [k for k in ("width", "depth", "state_dict", "image_size") if k not in obj]
    if missing:
        raise ValueError(f"{what} (missing {', '.join(missing)})")
    try:
        width, depth, size = int(obj["width"]), int(obj["depth"]), int(obj["image_size"])
        state = dict(obj["state_dict"])
        zs = float(obj.get("zero_shot_seen", float("nan")))
    except (TypeError, ValueError, RuntimeError, AttributeError):
        raise ValueError(f"{what} (a field has the wrong type)") from None
    if not (1 <= width <= 256 and 1 <= depth <= 5 and 4 <= size <= 512):
        raise ValueError(f"{what} (width {width}, depth {depth} or image size {size} is out "
                         "of range)")
    try:
        ConvEncoder(width, depth).load_state_dict(state)
    except (RuntimeError, TypeError) as e:
        raise ValueError(f"{where} does not fit an image encoder of width {width} and depth "
                         f"{depth} ({str(e).splitlines()[0]})") from None
    out = {"width": width, "depth": depth, "state_dict": state, "image_size": size,
           "zero_shot_seen": zs, "data": "digits" if obj.get("data") == "digits" else "scenes"}
    if obj.get("phrase_embeddings") is not None:
        out["phrase_embeddings"] = _check_phrases(obj["phrase_embeddings"], what)
    return out


def _check_phrases(table: Any, what: str) -> torch.Tensor:
    """``table`` as a finite float tensor (len(attribute_phrases()), d).

    Raises:
        ValueError: if it is not one.
    """
    n = len(attribute_phrases())
    if not (isinstance(table, torch.Tensor) and table.is_floating_point() and table.dim() == 2
            and table.shape[0] == n and 1 <= table.shape[1] <= 1024
            and bool(torch.isfinite(table).all())):
        raise ValueError(f"{what} (its phrase embeddings are not a finite ({n}, d) table)")
    return table.float()


def image_encoder(payload: dict[str, Any]) -> ConvEncoder:
    """The :data:`IMAGE_ENCODERS` payload's encoder as a frozen (eval-mode, no gradients) CPU
    module: x (B, 3, H, W) in [0, 1] -> list of stage feature maps (see :class:`ConvEncoder`)."""
    net = ConvEncoder(int(payload["width"]), int(payload["depth"]))
    net.load_state_dict(payload["state_dict"])
    return net.eval().requires_grad_(False)


def phrase_embeddings(payload: dict[str, Any]) -> torch.Tensor | None:
    """The :data:`IMAGE_ENCODERS` payload's text-tower embeddings of
    :func:`core.data.scenes.attribute_phrases`: (n_phrases, d) unit vectors, or None when the
    run was trained on digit strips (its words name no colors or shapes)."""
    table = payload.get("phrase_embeddings")
    return None if table is None else table.detach().float().clone()


_CHECKS: dict[str, Callable[[Any, str], Any]] = {POLICIES: _check_policies,
                                                  IMAGE_ENCODERS: _check_encoder}
