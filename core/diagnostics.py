"""Training diagnostics, written once: a trainer opts in with one line, ``watch(model)``, and
every snapshot of its run then carries, per layer (every module with its own weights):

* ``diag.grad_norm/<layer>``: the L2 norm of the layer's gradient from the last backward pass;
* ``diag.update_ratio/<layer>``: ||ΔW|| / ||W|| of one optimizer step (measured on the first
  step after each snapshot; Karpathy's rule of thumb puts a healthy value near 1e-3);
* ``diag.act_mean/<layer>``, ``diag.act_std/<layer>``: statistics of the layer's output on one
  training batch (the first forward pass after each snapshot);
* ``diag.dead/<layer>``: the share of the layer's output units (channels) that were never
  positive on that batch (dead if a ReLU follows; for a ``ReLU`` module, units that output only
  0), or
  ``diag.saturated/<layer>`` for a ``Tanh``/``Sigmoid`` module (share of outputs within 1% of
  the bounds);
* the artifact ``diag_hist``: ``{layer: (counts, edges)}`` histograms of each layer's weights.

The runs' driver (:class:`core.executors.Driver`) adds these to each snapshot, so trainers write
nothing else. Cost: a forward hook that exists only during the first training step after each
snapshot (a snapshot comes at most every 0.25 s) and one copy of the weights per snapshot;
measured in ``bench/bench_diagnostics.py``.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["watch", "active", "Diagnostics", "PREFIX", "HIST_KEY"]

PREFIX = "diag."
HIST_KEY = "diag_hist"
MAX_LAYERS = 24  # the first layers with weights, in module order
_local = threading.local()
_hooks_installed = False
_hooks_lock = threading.Lock()


def _layers(model: nn.Module) -> dict[str, nn.Module]:
    """Modules with their own trainable weight (Linear, Conv, Embedding, norms...), by name."""
    out = {}
    for name, m in model.named_modules():
        w = getattr(m, "weight", None)
        if isinstance(w, nn.Parameter) and w.requires_grad:
            out[name or type(m).__name__] = m
        if len(out) >= MAX_LAYERS:
            break
    return out


def _activations(model: nn.Module) -> dict[str, nn.Module]:
    kinds = (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid, nn.GELU)
    return {n: m for n, m in model.named_modules() if isinstance(m, kinds)}


class Diagnostics:
    """The measurements of one watched model (see the module docstring).

    Nothing is attached to the model (its frozen copies stay plain and picklable): after each
    snapshot a process-wide forward hook records the watched modules' outputs on the next
    training forward pass (with gradients on), and the optimizer step hooks measure the next
    step's update; both stop after that step.
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.layers = _layers(model)
        acts = {n: m for n, m in _activations(model).items() if n not in self.layers}
        self.names = {id(m): n for n, m in {**self.layers, **acts}.items()}
        self.params = {id(m.weight) for m in self.layers.values()}
        self.pending: dict[str, float] = {}
        self._seen: set[str] = set()
        self._before: dict[str, torch.Tensor] = {}
        self._arm_step = False
        self._forward_handle: Any = None
        self.arm()

    def arm(self) -> None:
        """Measure the next training step (forward pass and optimizer step)."""
        from torch.nn.modules.module import register_module_forward_hook

        self._seen, self._arm_step = set(), True
        if self._forward_handle is None:
            self._forward_handle = register_module_forward_hook(self._forward_hook)

    def _disarm_forward(self) -> None:
        if self._forward_handle is not None:
            self._forward_handle.remove()
            self._forward_handle = None

    def _forward_hook(self, mod: nn.Module, inputs: Any, output: Any) -> None:
        name = self.names.get(id(mod))
        if (name is None or name in self._seen or not mod.training
                or not torch.is_grad_enabled() or not isinstance(output, torch.Tensor)):
            return
        self._seen.add(name)
        with torch.no_grad():
            out = output.detach().float()
            self.pending[f"{PREFIX}act_mean/{name}"] = float(out.mean())
            self.pending[f"{PREFIX}act_std/{name}"] = float(out.std()) if out.numel() > 1 else 0.0
            if isinstance(mod, (nn.Tanh, nn.Sigmoid)):
                lo, hi = (-1.0, 1.0) if isinstance(mod, nn.Tanh) else (0.0, 1.0)
                edge = (out <= lo + 0.01 * (hi - lo)) | (out >= hi - 0.01 * (hi - lo))
                self.pending[f"{PREFIX}saturated/{name}"] = float(edge.float().mean())
            elif out.dim() >= 2 and out.shape[0] > 1:
                units = out.transpose(0, 1).reshape(out.shape[1], -1)  # (units, batch x ...)
                self.pending[f"{PREFIX}dead/{name}"] = float((units <= 0).all(1).float().mean())

    def before_step(self, optimizer: torch.optim.Optimizer) -> None:
        if self._arm_step and self._owns(optimizer):
            self._before = {n: m.weight.detach().clone() for n, m in self.layers.items()}

    def after_step(self, optimizer: torch.optim.Optimizer) -> None:
        if not self._before or not self._owns(optimizer):
            return
        with torch.no_grad():
            for n, m in self.layers.items():
                w = m.weight.detach()
                delta = (w - self._before[n]).norm()
                if float(delta) > 0:  # a layer this optimizer does not step is left out
                    self.pending[f"{PREFIX}update_ratio/{n}"] = float(delta / (w.norm() + 1e-12))
        self._before, self._arm_step = {}, False
        self._disarm_forward()

    def _owns(self, optimizer: torch.optim.Optimizer) -> bool:
        return any(id(p) in self.params for g in optimizer.param_groups for p in g["params"])

    def collect(self) -> tuple[dict[str, float], dict[str, Any]]:
        """Metrics and the histogram artifact for a snapshot now; arms the measurement of the
        next training step for the next snapshot."""
        metrics = dict(self.pending)
        hist = {}
        with torch.no_grad():
            for n, m in self.layers.items():
                g = m.weight.grad
                if g is not None:
                    metrics[f"{PREFIX}grad_norm/{n}"] = float(g.detach().float().norm())
                w = m.weight.detach().float().flatten().cpu().numpy()
                w = w[np.isfinite(w)]  # a diverging run is reported by its loss, not here
                if w.size:
                    counts, edges = np.histogram(w, bins=30)
                    hist[n] = (counts.astype(np.int64), edges.astype(np.float32))
        self.pending = {}
        self.arm()
        return metrics, {HIST_KEY: hist}

    def close(self) -> None:
        self._disarm_forward()
        self._arm_step = False


def _install_optimizer_hooks() -> None:
    """Process-wide optimizer step hooks that hand each step to this thread's diagnostics."""
    global _hooks_installed
    with _hooks_lock:
        if _hooks_installed:
            return
        from torch.optim.optimizer import (
            register_optimizer_step_post_hook,
            register_optimizer_step_pre_hook,
        )

        def pre(opt, args, kwargs):
            d = active()
            if d is not None:
                d.before_step(opt)

        def post(opt, args, kwargs):
            d = active()
            if d is not None:
                d.after_step(opt)

        register_optimizer_step_pre_hook(pre)
        register_optimizer_step_post_hook(post)
        _hooks_installed = True


def watch(model: nn.Module) -> nn.Module:
    """Opt this run into diagnostics: every later snapshot of the run carries them (module
    docstring). Call once, after building the model; returns ``model``."""
    old = active()
    if old is not None:
        old.close()
    _install_optimizer_hooks()
    _local.diagnostics = Diagnostics(model)
    return model


def active() -> Diagnostics | None:
    """The diagnostics of the run training in this thread, if it opted in."""
    return getattr(_local, "diagnostics", None)


def release() -> None:
    """Remove this thread's diagnostics (the run ended)."""
    d = active()
    if d is not None:
        d.close()
    _local.diagnostics = None


def add_to(snap: Any) -> Any:
    """``snap`` with this thread's diagnostics added (unchanged when the run did not opt in,
    or for a heartbeat)."""
    d = active()
    if d is None or snap.heartbeat:
        return snap
    metrics, artifacts = d.collect()
    return dataclasses.replace(snap, metrics={**snap.metrics, **metrics},
                               artifacts={**snap.artifacts, **artifacts})
