"""How far back the error signal reaches, what the gates do, and the clipped update.

Vanishing gradients (Bengio, Simard & Frasconi 1994; Pascanu, Mikolov & Bengio 2013): the
gradient reaching step ``k`` from the loss at ``T`` is a product of ``T - k`` Jacobians
``dh_t / dh_{t-1}``; :func:`input_gradient_norms` measures ``|dL / dx_k|`` per step.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from core.protocol import eval_mode
from core.sequences.forecasting.data import target_windows
from core.sequences.forecasting.models import Forecaster, RecurrentNet

__all__ = ["input_gradient_norms", "forecast_gradients", "gate_trace", "clip_step"]


def input_gradient_norms(net: nn.Module, x: torch.Tensor,
                         loss_fn: Callable[[torch.Tensor], torch.Tensor]) -> np.ndarray:
    """``|dL / dx_t|`` per time step (the norm over the input channels, averaged over the
    batch): how far back the error signal reaches. ``x`` (B, T, n_in); ``loss_fn(y (B, T,
    n_out))`` -> scalar. Returns (T,)."""
    x = x.detach().clone().requires_grad_(True)
    with eval_mode(net, no_grad=False):
        y, _ = net(x)
        grad, = torch.autograd.grad(loss_fn(y), x)
    return grad.norm(dim=2).mean(0).cpu().numpy()


def forecast_gradients(model: Forecaster, v: np.ndarray, targets: np.ndarray,
                       window: int) -> np.ndarray:
    """:func:`input_gradient_norms` of the last position's squared error on windows ending
    before ``targets`` (the network part only, not the skip ``s_t``): (window,)."""
    s = model.scale(torch.as_tensor(target_windows(v, targets, window), dtype=torch.float32,
                                    device=model.mean.device))
    y = model.scale(torch.as_tensor(v[targets], dtype=torch.float32, device=model.mean.device))

    def loss(out: torch.Tensor) -> torch.Tensor:
        return ((s[:, -1] + out[:, -1, 0] - y) ** 2).mean()

    return input_gradient_norms(model.net, model.net_input(s), loss)


def gate_trace(net: nn.Module, x: torch.Tensor, gate: int = 1) -> np.ndarray | None:
    """One recorded gate of the first layer over time for the first sequence of ``x`` (B, T,
    n_in): (T, hidden); ``gate`` 1 is the LSTM's forget gate. None for models without gates.
    Only this sequence runs step by step (recording); training runs the fused kernels."""
    if not isinstance(net, RecurrentNet) or net.kind != "lstm":
        return None
    with eval_mode(net):
        _, gates = net(x[:1], record=True)
    return gates[0, :, 0, gate].cpu().numpy()


def clip_step(params: list, opt: torch.optim.Optimizer, loss: torch.Tensor,
              max_grad_norm: float) -> torch.Tensor:
    """Backward, clip (``max_grad_norm`` > 0; Pascanu et al. 2013) and step; returns the
    gradient norm before clipping."""
    opt.zero_grad()
    loss.backward()
    norm = torch.nn.utils.clip_grad_norm_(params, max_grad_norm if max_grad_norm > 0 else math.inf)
    opt.step()
    return norm

