"""Tensor mechanics with real torch operations: broadcasting, views and strides, the silent
broadcasting bug in a loss, and matrix-multiply throughput.

* :func:`broadcast` runs an element-wise op on two shapes and reports the aligned shapes, the
  expanded views (``expand``: a broadcast dimension has stride 0, no copy) and the result, or
  torch's exact error message.
* :func:`view_table` applies ``view``, ``reshape``, ``transpose``, ``permute``, ``contiguous``,
  slicing and ``unsqueeze`` to a small tensor and reports shape, ``stride()``,
  ``storage_offset()`` and whether the storage is shared; :func:`trace_element` follows one
  element to its storage offset ``offset + Σ index_k · stride_k``.
* Demo ``broadcast_bug``: a 1-feature linear regression trained twice from the same start, once
  with targets of shape (N, 1) and once with (N,). ``pred (N, 1) - y (N,)`` broadcasts to an
  (N, N) matrix, so the second run minimises the mean over all *pairs* and learns w ≈ 0,
  b ≈ mean(y) (PyTorch issue 16045).
* Demo ``matmul``: GFLOP/s of ``A @ B`` (n x n) over sizes on the CPU and on CUDA when present,
  ``2 n³`` floating-point operations per product.

References: NumPy broadcasting rules (numpy.org/doc/stable/user/basics.broadcasting.html);
PyTorch "Tensor Views" docs; github.com/pytorch/pytorch/issues/16045.
"""

from __future__ import annotations

import math
import os
import re
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from core.checks import check_choice
from core.protocol import Demo, RunOptions, Snapshot, Ticker, param, start

MAX_DIMS = 5
MAX_SIZE = 64  # largest size of one dimension
MAX_NUMEL = 4096
OPS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "+": torch.add, "-": torch.sub, "*": torch.mul, "/": torch.div, "maximum": torch.maximum,
    "==": torch.eq}


def parse_shape(text: str) -> tuple[int, ...]:
    """``"3, 1"``, ``"(3, 1)"``, ``"[3 1]"`` or ``"3x1"`` -> ``(3, 1)``; ``""``/``"()"`` is a
    0-d tensor.

    Raises:
        ValueError: one sentence: not integers, more than :data:`MAX_DIMS` dimensions, a size
            above :data:`MAX_SIZE`, or more than :data:`MAX_NUMEL` elements.
    """
    raw = str(text).strip()
    if len(raw) > 60:
        raise ValueError("a shape has at most a few numbers, like 3, 1")
    parts = [p for p in re.split(r"[\s,x×]+", raw.strip("()[] ")) if p]
    if not all(re.fullmatch(r"\d+", p) for p in parts):
        raise ValueError(f"the shape {raw[:30]!r} must be sizes separated by commas, like 3, 1")
    shape = tuple(int(p) for p in parts)
    if len(shape) > MAX_DIMS:
        raise ValueError(f"use at most {MAX_DIMS} dimensions (got {len(shape)})")
    if any(s > MAX_SIZE for s in shape):
        raise ValueError(f"each size must be at most {MAX_SIZE}")
    if math.prod(shape) > MAX_NUMEL:
        raise ValueError(f"the tensor would have {math.prod(shape)} elements; use at most "
                         f"{MAX_NUMEL}")
    return shape


@dataclass
class Broadcast:
    """What :func:`broadcast` found. ``rows`` align the shapes from the right: one dict per
    result dimension with ``a``/``b`` sizes (None where a shape has no such dimension), the
    result size (None on a mismatch) and the rule applied. ``error`` is torch's own message."""

    a_shape: tuple[int, ...]
    b_shape: tuple[int, ...]
    op: str
    rows: list[dict[str, Any]]
    a: torch.Tensor
    b: torch.Tensor
    result: torch.Tensor | None = None
    error: str = ""
    a_view: torch.Tensor | None = None  # a.expand(result shape): stride 0 where broadcast
    b_view: torch.Tensor | None = None


def _align(a: tuple[int, ...], b: tuple[int, ...]) -> list[dict[str, Any]]:
    n = max(len(a), len(b))
    pa, pb = (None,) * (n - len(a)) + a, (None,) * (n - len(b)) + b
    rows = []
    for i, (x, y) in enumerate(zip(pa, pb)):
        if x is None or y is None:
            size, rule = (y if x is None else x), f"{'a' if x is None else 'b'} missing: " \
                "counts as 1, stretched"
        elif x == y:
            size, rule = x, "equal"
        elif x == 1 or y == 1:
            size, rule = (y if x == 1 else x), f"{'a' if x == 1 else 'b'} is 1: stretched " \
                "(stride 0)"
        else:
            size, rule = None, "mismatch: neither is 1"
        rows.append({"dim": i - n, "a": x, "b": y, "result": size, "rule": rule})
    return rows


def broadcast(a_shape: tuple[int, ...], b_shape: tuple[int, ...], op: str = "+") -> Broadcast:
    """Run ``OPS[op](a, b)`` with ``a = arange(numel(a)).reshape(a_shape)`` and ``b`` likewise
    (times 10, so the two are told apart), float32.

    Raises:
        ValueError: for an unknown ``op``.
    """
    check_choice("operation", op, OPS)
    a = torch.arange(math.prod(a_shape), dtype=torch.float32).reshape(a_shape)
    b = (torch.arange(math.prod(b_shape), dtype=torch.float32) * 10).reshape(b_shape)
    out = Broadcast(a_shape, b_shape, op, _align(a_shape, b_shape), a, b)
    try:
        out.result = OPS[op](a, b)
    except RuntimeError as e:
        out.error = str(e).split("\n")[0]
        return out
    out.a_view, out.b_view = a.expand(out.result.shape), b.broadcast_to(out.result.shape)
    return out


def copies_mask(shape: tuple[int, ...], out_shape: tuple[int, ...]) -> np.ndarray:
    """Bool array of ``out_shape``: True where the expanded view of a ``shape`` tensor shows its
    own element (index 0 along every stretched dimension), False for the virtual copies."""
    pad = (1,) * (len(out_shape) - len(shape)) + tuple(shape)
    idx = np.indices(out_shape) if out_shape else np.zeros((0,), int)
    mask = np.ones(out_shape, dtype=bool)
    for d, (s, o) in enumerate(zip(pad, out_shape)):
        if s == 1 and o != 1:
            mask &= idx[d] == 0
    return mask


# ----------------------------------------------------------------------- views and strides


def view_ops(rows: int, cols: int) -> dict[str, tuple[str, Callable[[torch.Tensor], torch.Tensor]]]:
    """The operations shown on ``x`` (rows, cols): ``{key: (the code a user writes, fn)}``."""
    n = rows * cols
    return {
        "x": ("x", lambda x: x),
        "view": (f"x.view({cols}, {rows})", lambda x: x.view(cols, rows)),
        "reshape": (f"x.reshape({n})", lambda x: x.reshape(n)),
        "t": ("x.t()", lambda x: x.t()),
        "transpose": ("x.transpose(0, 1)", lambda x: x.transpose(0, 1)),
        "permute": ("x.permute(1, 0)", lambda x: x.permute(1, 0)),
        "contiguous": ("x.t().contiguous()", lambda x: x.t().contiguous()),
        "t_view": ("x.t().view(-1)", lambda x: x.t().view(-1)),
        "t_reshape": ("x.t().reshape(-1)", lambda x: x.t().reshape(-1)),
        "cols": ("x[:, 1:]", lambda x: x[:, 1:]),
        "step": ("x[::2]", lambda x: x[::2]),
        "row": ("x[1]", lambda x: x[1]),
        "unsqueeze0": ("x.unsqueeze(0)", lambda x: x.unsqueeze(0)),
        "unsqueeze1": ("x.unsqueeze(1)", lambda x: x.unsqueeze(1)),
        "flatten": ("x.flatten()", lambda x: x.flatten()),
        "clone": ("x.clone()", lambda x: x.clone()),
    }


VIEW_KEYS = tuple(view_ops(3, 4))


def storage_of(t: torch.Tensor) -> torch.Tensor:
    """The whole storage behind ``t`` as a 1-D tensor (what ``t.untyped_storage()`` holds)."""
    s = t.untyped_storage()
    n = s.nbytes() // t.element_size()
    return torch.tensor([], dtype=t.dtype).set_(s, 0, (n,), (1,))


@dataclass
class ViewInfo:
    """One row of :func:`view_table`: the code, the result (or torch's ``error``) and its
    shape, stride, storage offset, contiguity and whether it shares ``x``'s storage."""

    key: str
    code: str
    tensor: torch.Tensor | None = None
    shape: tuple[int, ...] = ()
    stride: tuple[int, ...] = ()
    offset: int = 0
    contiguous: bool = True
    shares: bool = False
    error: str = ""


def view_table(rows: int = 3, cols: int = 4) -> tuple[torch.Tensor, list[ViewInfo]]:
    """``x = arange(rows*cols).reshape(rows, cols)`` and one :class:`ViewInfo` per operation of
    :func:`view_ops` (rows, cols in 2..6).

    Raises:
        ValueError: when rows or cols is outside 2..6.
    """
    if not (2 <= rows <= 6 and 2 <= cols <= 6):
        raise ValueError("rows and columns must be between 2 and 6")
    x = torch.arange(rows * cols).reshape(rows, cols)
    ptr = x.untyped_storage().data_ptr()
    out = []
    for key, (code, fn) in view_ops(rows, cols).items():
        try:
            t = fn(x)
        except RuntimeError as e:
            out.append(ViewInfo(key, code, error=str(e).split("\n")[0]))
            continue
        out.append(ViewInfo(key, code, t, tuple(t.shape), tuple(t.stride()), t.storage_offset(),
                            t.is_contiguous(), t.untyped_storage().data_ptr() == ptr))
    return x, out


def trace_element(t: torch.Tensor, index: tuple[int, ...]) -> dict[str, Any]:
    """Where ``t[index]`` lives: ``offset = storage_offset + Σ index_k · stride_k``, the formula
    as text and the value read from the storage (equal to ``t[index]``).

    Raises:
        ValueError: for an index of the wrong length or out of range.
    """
    if len(index) != t.dim() or any(not 0 <= i < s for i, s in zip(index, t.shape)):
        raise ValueError(f"index {index} is not inside shape {tuple(t.shape)}")
    offset = t.storage_offset() + sum(i * s for i, s in zip(index, t.stride()))
    terms = " + ".join(f"{i}·{s}" for i, s in zip(index, t.stride())) or "0"
    storage = storage_of(t)
    return {"offset": offset, "formula": f"{t.storage_offset()} + {terms} = {offset}",
            "value": storage[offset].item(), "direct": t[index].item() if index else t.item()}


# ------------------------------------------------------------------ the broadcasting bug


@dataclass(frozen=True)
class BroadcastBugConfig(RunOptions):
    """One 1-feature linear regression ``y = w x + b + noise`` trained twice from the same
    start: with targets (N, 1) and with targets (N,)."""

    n_points: int = param(64, lo=8, hi=512, step=8, label="Points N")
    true_w: float = param(2.0, lo=-5.0, hi=5.0, step=0.5, label="True weight w")
    true_b: float = param(1.0, lo=-5.0, hi=5.0, step=0.5, label="True bias b")
    noise: float = param(0.3, lo=0.0, hi=2.0, step=0.1, help="standard deviation of the noise")
    lr: float = param(0.1, lo=1e-3, hi=1.0, log=True, label="Learning rate",
                      help="plain SGD, full batch")
    steps: int = param(300, lo=10, hi=5000, help="gradient steps")


MATRIX_N = 24  # points drawn in the (N, N) difference matrix


def regression_data(cfg: BroadcastBugConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """``x`` (N, 1) uniform in [-2, 2] and ``y`` (N,) = w x + b + noise, from ``cfg.seed``. This
    is a synthetic set on purpose: its true weights are known."""
    g = torch.Generator().manual_seed(cfg.seed)
    x = torch.rand(cfg.n_points, 1, generator=g) * 4 - 2
    y = cfg.true_w * x[:, 0] + cfg.true_b + cfg.noise * torch.randn(cfg.n_points, generator=g)
    return x, y


def fit_step(model: nn.Linear, opt: torch.optim.Optimizer, x: torch.Tensor,
             target: torch.Tensor) -> float:
    """One SGD step on ``F.mse_loss(model(x), target)``: the same line for both runs, only the
    target's shape differs; (N, 1) vs (N,) broadcasts silently (with a UserWarning)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        loss = nn.functional.mse_loss(model(x), target)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss.item()


def mse_warning(cfg: BroadcastBugConfig) -> str:
    """The exact UserWarning torch emits for ``mse_loss`` of (N, 1) predictions and (N,)
    targets (empty when torch warns nothing)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        nn.functional.mse_loss(torch.zeros(cfg.n_points, 1), torch.zeros(cfg.n_points))
    return str(caught[0].message) if caught else ""


def _bug_artifacts(right: nn.Linear, wrong: nn.Linear, x: torch.Tensor,
                   y: torch.Tensor) -> dict[str, np.ndarray]:
    with torch.no_grad():
        n = min(MATRIX_N, len(x))
        return {"diff_matrix": (wrong(x[:n]) - y[:n]).cpu().numpy(),  # (n, 1) - (n,) -> (n, n)
                "diff_right": (right(x[:n]) - y[:n, None]).cpu().numpy(),  # (n, 1)
                "x": x[:, 0].cpu().numpy(), "y": y.cpu().numpy()}


def train_broadcast_bug(cfg: BroadcastBugConfig) -> Iterator[Snapshot]:
    """Train the two regressions side by side with plain SGD.

    Metrics: ``w_right``, ``b_right``, ``w_wrong``, ``b_wrong`` (the learned parameters),
    ``loss_right`` (the MSE each run optimises) and ``loss_wrong`` (the buggy mean over N²
    pairs), ``mse_wrong`` (the true per-point MSE of the buggy run). Artifacts:
    ``diff_matrix`` (n, n) ``pred - y`` of the buggy run for the first n = 24 points,
    ``diff_right`` (n, 1), ``x`` (N,), ``y`` (N,), ``warning`` (torch's message).
    """
    device = start(cfg)
    x, y = regression_data(cfg)
    right = nn.Linear(1, 1).to(device)
    wrong = nn.Linear(1, 1).to(device)
    wrong.load_state_dict(right.state_dict())  # the same start
    opts = [torch.optim.SGD(m.parameters(), lr=cfg.lr) for m in (right, wrong)]
    xd, yd = x.to(device), y.to(device)
    warning = mse_warning(cfg)
    tick = Ticker(total=cfg.steps)
    for step in range(cfg.steps + 1):
        if step > 0:
            fit_step(right, opts[0], xd, yd.view(-1, 1))  # targets (N, 1): right
            fit_step(wrong, opts[1], xd, yd)  # targets (N,): broadcast to (N, N)
        if tick(step):
            with torch.no_grad():
                loss_r = float(((right(xd) - yd[:, None]) ** 2).mean())
                loss_w = float(((wrong(xd) - yd) ** 2).mean())
                mse_w = float(((wrong(xd)[:, 0] - yd) ** 2).mean())
            metrics = {"w_right": right.weight.item(), "b_right": right.bias.item(),
                       "w_wrong": wrong.weight.item(), "b_wrong": wrong.bias.item(),
                       "loss_right": loss_r, "loss_wrong": loss_w, "mse_wrong": mse_w}
            art = {**_bug_artifacts(right, wrong, xd, yd), "warning": warning}
            yield Snapshot(step, tick.elapsed, metrics, art, total_steps=cfg.steps,
                           final=step == cfg.steps)


# ------------------------------------------------------------------------ matmul throughput

# fp32 peak (non-tensor-core, boost clock) of common GPUs, TFLOP/s, from NVIDIA's data sheets
GPU_FP32_PEAK = {"H200": 67.0, "H100 SXM": 67.0, "H100 PCIe": 51.0, "H100": 51.0, "A100": 19.5,
                 "A10": 31.2, "L4": 30.3, "T4": 8.1, "V100": 15.7, "RTX 4090": 82.6,
                 "RTX 3090": 35.6, "L40S": 91.6}
SIZES = (32, 64, 128, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096)


@dataclass(frozen=True)
class MatmulConfig(RunOptions):
    """Matrix-multiply throughput over sizes n = 32 .. max_size."""

    max_size: int = param(1024, choices=(256, 512, 1024, 2048, 4096), label="Largest n")
    dtype: str = param("float32", choices=("float32", "float64", "bfloat16"))
    seconds: float = param(0.2, lo=0.1, hi=1.0, step=0.1, label="Seconds per size",
                           help="time spent timing each size on each device")


def gflops(n: int, device: torch.device, dtype: torch.dtype, seconds: float) -> float:
    """Measured GFLOP/s of ``A @ B`` with A, B (n, n) random on ``device``: ``2 n³`` flops per
    product, repeated for about ``seconds`` after one warm-up (CUDA synchronised), in three
    rounds of which the fastest counts."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    a @ b
    sync()
    best = 0.0
    for _ in range(3):  # the best of three rounds: a shared machine only ever slows one down
        reps, t0 = 0, time.perf_counter()
        while True:
            a @ b
            reps += 1
            if reps % 4 == 0 or device.type == "cpu":
                sync()
                if time.perf_counter() - t0 >= seconds / 3:
                    break
        best = max(best, 2 * n**3 * reps / (time.perf_counter() - t0) / 1e9)
    return best


def machine() -> dict[str, Any]:
    """What the measurement runs on: CPU model, cores, torch threads, GPU name and its fp32
    peak (TFLOP/s) when the name is in :data:`GPU_FP32_PEAK` (None otherwise)."""
    info: dict[str, Any] = {"cpu": "", "cores": os.cpu_count(),
                            "usable_cores": len(os.sched_getaffinity(0)) if hasattr(
                                os, "sched_getaffinity") else os.cpu_count(),
                            "threads": torch.get_num_threads(), "gpu": "", "gpu_peak": None}
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu"] = next((ln.split(":", 1)[1].strip() for ln in f
                                if ln.startswith("model name")), "")
    except OSError:
        pass
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["gpu_peak"] = next((v for k, v in GPU_FP32_PEAK.items() if k in info["gpu"]), None)
    return info


def train_matmul(cfg: MatmulConfig) -> Iterator[Snapshot]:
    """Measure GFLOP/s per size, one snapshot per size (step = index of the size).

    Metrics: ``n`` (matrix size), ``gflops_cpu``, ``gflops_cuda`` (only when CUDA is present and
    ``device`` is not ``cpu``). A CPU size whose one product is estimated to take over 2 s from
    the previous rate is skipped (left out). Artifacts: ``machine`` (see :func:`machine`).
    """
    device = start(cfg)
    dtype = getattr(torch, cfg.dtype)
    sizes = [n for n in SIZES if n <= cfg.max_size]
    devices = [torch.device("cpu")] + ([device] if device.type == "cuda" else [])
    info, rate = machine(), {}
    t0 = time.perf_counter()
    for i, n in enumerate(sizes):
        metrics: dict[str, float] = {"n": float(n)}
        for d in devices:
            last = rate.get(d.type)
            if last and 2 * n**3 / (last * 1e9) > 2.0:
                continue
            rate[d.type] = gflops(n, d, dtype, cfg.seconds)
            metrics[f"gflops_{d.type}"] = rate[d.type]
        yield Snapshot(i + 1, time.perf_counter() - t0, metrics, {"machine": info},
                       total_steps=len(sizes), final=i == len(sizes) - 1)


DEMOS = [
    Demo("broadcast_bug", BroadcastBugConfig, train_broadcast_bug,
         title="The silent broadcasting bug",
         description="A regression with targets (N, 1) vs (N,): one learns, one does not."),
    Demo("matmul", MatmulConfig, train_matmul, title="Matmul throughput",
         description="GFLOP/s of n x n matrix products over sizes on the CPU (and CUDA)."),
]


@dataclass(frozen=True)
class ExplorerConfig:
    """The /tensors explorers' settings (in the URL): two shapes and an operation for the
    broadcasting visualiser; the rows, columns, operation and element of the views table."""

    a_shape: str = param("3, 1", label="Shape of a", help="sizes separated by commas, e.g. 3, 1")
    b_shape: str = param("4", label="Shape of b", help="sizes separated by commas, e.g. 4")
    op: str = param("+", choices=tuple(OPS), label="Operation")
    rows: int = param(3, lo=2, hi=6, label="Rows of x")
    cols: int = param(4, lo=2, hi=6, label="Columns of x")
    view: str = param("t", choices=VIEW_KEYS, help="the operation whose element is traced")
    element: int = param(1, lo=0, hi=35, help="flat index (row-major) of the element traced")
