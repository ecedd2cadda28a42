"""Benchmark: matmul GFLOP/s over sizes with the /tensors trainer (``core.foundations.tensors``),
CPU (and CUDA when present), with 1 thread and with torch's default thread count; plus the
engine's gradient check on the micrograd README example and the (N,) target bug's final weights.

    .venv/bin/python bench/foundations/bench_matmul.py [--max-size 2048] [--seconds 0.6]

Writes bench/results/tensors.md. Keep it short on a shared machine (about a minute).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def sweep(max_size: int, seconds: float, dtype: str) -> list[dict]:
    from core.foundations import tensors as tn

    cfg = tn.MatmulConfig(max_size=max_size, seconds=seconds, dtype=dtype)
    return [dict(s.metrics) for s in tn.train_matmul(cfg)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-size", type=int, default=2048)
    ap.add_argument("--seconds", type=float, default=0.6)
    args = ap.parse_args()
    import torch

    from core.foundations import autograd as ag
    from core.foundations import tensors as tn

    info = tn.machine()
    default_threads = torch.get_num_threads()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    rows = {}
    t0 = time.time()
    for threads in sorted({1, default_threads}):
        torch.set_num_threads(threads)
        for dtype in ("float32", "float64"):
            rows[(threads, dtype)] = sweep(args.max_size, args.seconds, dtype)
    torch.set_num_threads(default_threads)
    took = time.time() - t0
    g = ag.build_graph(ag.parse_program(ag.MICROGRAD_EXAMPLE), {})
    bug = list(tn.train_broadcast_bug(tn.BroadcastBugConfig()))[-1].metrics
    lines = ["# /tensors: measured figures", "",
             f"Machine: {info['cpu'] or 'unknown CPU'}, {info['cores']} cores "
             f"({info['usable_cores']} usable), GPU: {info['gpu'] or 'none'}"
             + (f" (fp32 peak {info['gpu_peak']} TFLOP/s by the data sheet)"
                if info["gpu_peak"] else "")
             + f". 1-minute load average at the start: {load:.1f}. Sweep took {took:.0f} s.",
             "", "## Matmul throughput, GFLOP/s (best of three rounds per size)", ""]
    sizes = [int(m["n"]) for m in next(iter(rows.values()))]
    keys = [k for k in rows]
    head = "| n | " + " | ".join(f"CPU {d}, {t} thread{'s' if t > 1 else ''}" for t, d in keys)
    has_cuda = any("gflops_cuda" in m for r in rows.values() for m in r)
    lines += [head + (" | CUDA float32 |" if has_cuda else " |"),
              "|" + "---|" * (len(keys) + 1 + has_cuda)]
    for i, n in enumerate(sizes):
        cells = [f"{rows[k][i].get('gflops_cpu', float('nan')):.3g}" for k in keys]
        cuda = [f"{rows[keys[0]][i].get('gflops_cuda', float('nan')):.0f}"] if has_cuda else []
        lines.append(f"| {n} | " + " | ".join(cells + cuda) + " |")
    lines += ["", "A size left blank (nan) was skipped: one product was estimated to take over "
              "2 s from the previous size's rate.", "",
              "## Correctness figures", "",
              f"- micrograd README example through the typed-expression engine: g = "
              f"{g.output.data:.4f}, a.grad = {g.inputs['a'].grad:.4f}, b.grad = "
              f"{g.inputs['b'].grad:.4f} (micrograd: 24.7041, 138.8338, 645.5773).",
              f"- Broadcasting bug, defaults (w = 2, b = 1, N = 64, 300 SGD steps): targets (N, 1) "
              f"learn w = {bug['w_right']:.3f}, b = {bug['b_right']:.3f}; targets (N,) learn "
              f"w = {bug['w_wrong']:.3f}, b = {bug['b_wrong']:.3f} (the mean of y), per-point "
              f"MSE {bug['mse_wrong']:.2f} vs {bug['loss_right']:.3f}.", "",
              "## Notes", "",
              "- This machine is shared by several sessions at once (see the load average): "
              "the CPU figures are lower bounds and vary from run to run; with 2 threads on a "
              "busy 2-core machine OpenMP threads wait on each other, which is why 1 thread can "
              "beat 2 here. This was not measured on an idle machine; run this script again there.",
              "- No CPU peak is given: it needs the clock under load and the vector units, which "
              "software cannot read reliably. The GPU peak comes from a table of data-sheet "
              "figures (`core.foundations.tensors.GPU_FP32_PEAK`) when the GPU's name is in it.",
              "- No CUDA figures unless a GPU was present when this ran."]
    out = ROOT / "bench" / "results" / "tensors.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
