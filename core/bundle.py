"""A run as files: the layout ``python -m core train --out DIR`` writes and the pages' **Download
run** zips, so a run taken home and a run trained headless look the same.

Layout (every file optional except ``config.json``, ``metrics.*`` and ``README.txt``)::

    config.json        {"demo": name, field: value, ...}: every setting of the run
    metrics.jsonl      one JSON object per snapshot: step, time_s and the scalar metrics
    metrics.csv        the same rows as CSV (columns: the union of the metric names)
    model.safetensors  the model's state dict (safetensors: no code runs when it is loaded)
    model.pt           the same state dict for ``torch.load(path, weights_only=True)``
    curves.png         every metric against the step, one small panel each
    <artifact>.png     every uint8 image artifact of the last snapshot (the page's figures)
    <artifact>.json / .pt / artifacts.npz   the other artifacts of the last snapshot
    README.txt         what the run is and the exact command that reproduces it

No Streamlit here: the CLI (``core/__main__.py``) and the pages (``ui/live.py``) both call
:func:`bundle_files`.
"""

from __future__ import annotations

import csv
import io
import json
import shlex
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.protocol import RunOptions, Snapshot, config_to_dict

__all__ = ["bundle_files", "write_bundle", "zip_bundle", "reproduce_command", "metrics_row"]

RESERVED = ("config", "metrics", "model", "artifacts", "README", "curves")


def metrics_row(snap: Snapshot) -> dict[str, float]:
    """One ``metrics.jsonl`` row: step, time_s (seconds since the run started) and the
    snapshot's scalar metrics."""
    row = {"step": snap.step, "time_s": round(float(snap.time_s), 4)}
    row.update({k: float(v) for k, v in snap.metrics.items() if isinstance(v, (int, float))})
    return row


def reproduce_command(demo_name: str, config: Any) -> str:
    """The shell command that trains ``config`` again headless: every setting that differs from
    the config class's defaults as ``--set key=value`` (shell-quoted)."""
    default = type(config)()
    parts = ["python", "-m", "core", "train", demo_name]
    for key, value in config_to_dict(config).items():
        if value != config_to_dict(default)[key]:
            text = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
            parts += ["--set", shlex.quote(f"{key}={text.lower() if isinstance(value, bool) else text}")]
    return " ".join(parts)


def _has_tensor(value: Any) -> bool:
    if isinstance(value, torch.Tensor):
        return True
    if isinstance(value, dict):
        return any(_has_tensor(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_has_tensor(v) for v in value)
    return False


def _png(image: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


def _artifact_files(artifacts: dict[str, Any]) -> dict[str, bytes]:
    """Image artifacts as PNG, tensor dicts as ``.pt``, plain dicts as JSON, other arrays in
    one ``artifacts.npz``; anything else (a figure object for the page only) is skipped."""
    files: dict[str, bytes] = {}
    arrays = {}
    for key, value in artifacts.items():
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in key)
        if safe in RESERVED:
            safe = f"artifact_{safe}"
        if isinstance(value, np.ndarray) and value.dtype == np.uint8 and (
                value.ndim == 2 or (value.ndim == 3 and value.shape[2] in (3, 4))):
            files[f"{safe}.png"] = _png(value)
        elif isinstance(value, np.ndarray) and value.dtype != object:
            arrays[safe] = value
        elif isinstance(value, dict) and _has_tensor(value):  # e.g. DQN checkpoints
            buf = io.BytesIO()
            torch.save(value, buf)
            files[f"{safe}.pt"] = buf.getvalue()
        elif isinstance(value, dict):  # plain values, e.g. final accuracies
            try:
                files[f"{safe}.json"] = json.dumps(value, indent=2, default=float).encode()
            except (TypeError, ValueError):
                continue
    if arrays:
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        files["artifacts.npz"] = buf.getvalue()
    return files


def _model_files(model: torch.nn.Module) -> dict[str, bytes]:
    """The state dict as safetensors and as a ``weights_only``-loadable ``.pt``."""
    from safetensors.torch import save

    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    buf = io.BytesIO()
    torch.save(state, buf)
    # safetensors refuses tensors that share memory: give each its own contiguous copy
    return {"model.safetensors": save({k: v.contiguous().clone() for k, v in state.items()}),
            "model.pt": buf.getvalue()}


def _csv(rows: list[dict[str, float]]) -> bytes:
    columns: list[str] = []
    for r in rows:
        columns += [k for k in r if k not in columns]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns)
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode()


def _curves_png(rows: list[dict[str, float]], max_panels: int = 12) -> bytes | None:
    """Every metric against the step as small panels (matplotlib, no display needed)."""
    names = []
    for r in rows:
        names += [k for k in r if k not in ("step", "time_s") and k not in names]
    names = names[:max_panels]
    if not names or len(rows) < 2:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = min(3, len(names))
    nrows = -(-len(names) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4 * cols, 2.6 * nrows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        pts = [(r["step"], r[name]) for r in rows if name in r and np.isfinite(r[name])]
        if pts:
            ax.plot(*zip(*pts), lw=1.5)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def _readme(demo_name: str, config: Any, last: Snapshot | None, files: Iterable[str]) -> bytes:
    final = "" if last is None else "  ".join(
        f"{k}={v:.6g}" for k, v in last.metrics.items() if isinstance(v, (int, float)))
    text = f"""Liveprop run: {demo_name} ({type(config).__name__})
{'' if last is None else f"step {last.step}, {last.time_s:.1f} s of training"}{
    ' (finished)' if last is not None and last.final else ''}
final metrics: {final or '-'}

Reproduce it (from a clone of Liveprop, after `make run` or `pip install -r requirements.txt`):

    {reproduce_command(demo_name, config)} --out my_run

which writes the same files as this bundle into my_run/. Load the weights with
    torch.load("model.pt", weights_only=True)   or
    safetensors.torch.load_file("model.safetensors")

Files: {', '.join(sorted(files))}
"""
    return text.encode()


def bundle_files(demo_name: str, config: Any, rows: list[dict[str, float]],
                 last: Snapshot | None, model: torch.nn.Module | None = None) -> dict[str, bytes]:
    """Every file of a run's bundle, by name.

    Args:
        demo_name: the demo's registry name (``python -m core train NAME``).
        config: the run's frozen config.
        rows: the metric rows (:func:`metrics_row`), oldest first.
        last: the newest snapshot (its artifacts become files), or None.
        model: the model to save (the snapshot's frozen copy), or None.
    """
    if last is not None and last.final and isinstance(config, RunOptions):
        config = config.reproducible(last.metrics)  # a wall-clock budget pins the work done
    files = {"config.json": json.dumps({"demo": demo_name, **config_to_dict(config)},
                                       indent=2).encode(),
             "metrics.jsonl": "".join(json.dumps(r) + "\n" for r in rows).encode(),
             "metrics.csv": _csv(rows)}
    curves = _curves_png(rows)
    if curves is not None:
        files["curves.png"] = curves
    if last is not None:
        files.update(_artifact_files(last.artifacts))
    if model is not None:
        files.update(_model_files(model))
    files["README.txt"] = _readme(demo_name, config, last, [*files, "README.txt"])
    return files


def write_bundle(out: Path, files: dict[str, bytes]) -> None:
    """Write ``files`` into the folder ``out`` (created).

    Raises:
        OSError: when the folder cannot be written.
    """
    out.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (out / name).write_bytes(data)


def zip_bundle(files: dict[str, bytes], folder: str = "liveprop_run") -> bytes:
    """``files`` as a zip archive (inside one ``folder``), as bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(f"{folder}/{name}", data)
    return buf.getvalue()
