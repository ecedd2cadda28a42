"""The long-memory experiment (demo ``adding``): RNN, LSTM and GRU side by side on the adding
problem or the copy-memory task (Hochreiter & Schmidhuber 1997; Arjovsky, Shah & Bengio 2016).

The vanilla RNN's error signal fades as it travels back (a product of Jacobians), so it stays
at the trivial baseline; the LSTM's cell path (``dc_t / dc_{t-1} = diag(f_t)``) carries it.
With ``chrono_init`` the LSTM's forget and input gates (the GRU's update gate) start with
memory time scales up to the sequence length (Tallec & Ollivier 2018), which lets the LSTM
solve the adding problem at length 100 in a few hundred updates. Training runs the fused
native kernels; only the one sequence whose gates are drawn runs step by step.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from core.data.series import adding_problem, copy_memory
from core.protocol import Demo, EvalBudget, Progress, RunOptions, Snapshot, eval_mode, param, start
from core.sequences.forecasting.gradients import (
    clip_step,
    gate_trace,
    input_gradient_norms,
)
from core.sequences.forecasting.models import LARGE_GAIN, build_net, chrono_init_

__all__ = ["ADDING_BASELINE", "N_TEST", "MemoryConfig", "memory_batch", "memory_loss",
           "memory_baseline", "memory_nets", "memory_eval", "train_memory"]

ADDING_BASELINE = 1.0 / 6.0  # MSE of always predicting 1 on the adding problem
N_TEST = 512  # fixed test sequences
COPY_EXTRA = 10  # the copy task's sequence is seq_len + 10 steps (5 symbols, delimiter, answer)


@dataclass(frozen=True)
class MemoryConfig(RunOptions):
    """The long-memory experiment: RNN, LSTM and GRU side by side on one synthetic task."""

    task: str = param("adding", choices=("adding", "copy"), help="adding: sum the two marked "
                      "numbers; copy: repeat 5 symbols after a long gap")
    seq_len: int = param(100, lo=5, hi=1000, label="Sequence length",
                         help="steps between the information and the answer")
    models: str = param("rnn,lstm,gru", choices=("rnn,lstm,gru", "rnn,lstm", "lstm,gru", "rnn",
                                                 "lstm", "gru"))
    hidden: int = param(64, lo=4, hi=256)
    lr: float = param(1e-2, lo=1e-5, hi=1.0, log=True, label="Learning rate")
    max_grad_norm: float = param(1.0, lo=0.0, hi=100.0, label="Gradient clipping",
                                 help="clip the gradient's norm to this (0: off)")
    chrono_init: bool = param(True, label="Chrono initialisation",
                              help="LSTM forget-gate biases (GRU update-gate biases) log U(1, "
                              "T - 1), input gate the negative (Tallec & Ollivier 2018); off: "
                              "forget bias 1, GRU biases 0")
    large_init: bool = param(False, label="Initialise recurrent weights large",
                             help=f"orthogonal recurrent matrices times {LARGE_GAIN}")
    batch_size: int = param(32, choices=(16, 32, 64, 128, 256))
    steps: int = param(1000, lo=10, hi=100_000)

    @property
    def kinds(self) -> list[str]:
        return self.models.split(",")

    @property
    def total_len(self) -> int:
        """Time steps of one input sequence."""
        return self.seq_len + (COPY_EXTRA if self.task == "copy" else 0)


def memory_batch(cfg: MemoryConfig, n: int, gen: torch.Generator
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of the task: adding ``x`` (n, T, 2), ``y`` (n,); copy ``x`` (n, T + 10, 10),
    ``y`` (n, 5)."""
    if cfg.task == "adding":
        return adding_problem(n, cfg.seq_len, gen)
    return copy_memory(n, cfg.seq_len, gen)


def memory_loss(cfg: MemoryConfig, y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Adding: MSE of the last step's output (B, T, 1) against ``y`` (B,); copy: cross-entropy
    of the last 5 steps' logits (B, T, 8) against ``y`` (B, 5)."""
    if cfg.task == "adding":
        return F.mse_loss(y_hat[:, -1, 0], y)
    k = y.shape[1]
    return F.cross_entropy(y_hat[:, -k:].reshape(-1, y_hat.shape[-1]), y.reshape(-1))


def memory_baseline(cfg: MemoryConfig) -> float:
    """The trivial solution's loss: 1/6 (adding, predict 1) or log 8 (copy, guess)."""
    return ADDING_BASELINE if cfg.task == "adding" else math.log(8)


def memory_nets(cfg: MemoryConfig, device: torch.device) -> dict[str, nn.Module]:
    """One one-layer :class:`~core.sequences.forecasting.models.RecurrentNet` per kind, built
    in the order of :attr:`MemoryConfig.kinds` (so their random initialisation is fixed by the
    seed), chrono-initialised with ``chrono_init``."""
    n_in, n_out = (2, 1) if cfg.task == "adding" else (10, 8)
    nets = {}
    for kind in cfg.kinds:
        net = build_net(kind, n_in, cfg.hidden, 1, n_out, 0.0, cfg.large_init)
        if cfg.chrono_init:
            for cell in net.cells:
                chrono_init_(cell, cfg.total_len)
        nets[kind] = net.to(device)
    return nets


def memory_eval(cfg: MemoryConfig, nets: dict, x: torch.Tensor, y: torch.Tensor,
                full: bool) -> tuple[dict[str, float], dict]:
    """Test loss (and copy accuracy) per model; with ``full`` also gradient norms per step
    ``{kind: (T,)}`` and the LSTM's forget gates (T, hidden) on the first test sequence."""
    metrics, grads = {}, {}
    for kind, net in nets.items():
        with eval_mode(net):
            y_hat, _ = net(x)
        metrics[f"test_loss_{kind}"] = float(memory_loss(cfg, y_hat, y))
        if cfg.task == "copy":
            k = y.shape[1]
            metrics[f"test_acc_{kind}"] = float((y_hat[:, -k:].argmax(-1) == y).float().mean())
        if full:
            grads[kind] = input_gradient_norms(net, x[:64], lambda o: memory_loss(cfg, o, y[:64]))
    art: dict = {}
    if full:
        art["grad_norms"] = grads
        if "lstm" in nets:
            art["forget_gates"] = gate_trace(nets["lstm"], x)
    return metrics, art


def _train_step(cfg: MemoryConfig, nets: dict, opts: dict, x: torch.Tensor, y: torch.Tensor
                ) -> dict[str, torch.Tensor]:
    """One clipped Adam update of every net on the batch ``x``, ``y``: their losses and
    gradient norms (before clipping)."""
    out = {}
    for k, net in nets.items():
        loss = memory_loss(cfg, net(x)[0], y)
        out[f"grad_norm_{k}"] = clip_step(list(net.parameters()), opts[k], loss,
                                          cfg.max_grad_norm)
        out[f"loss_{k}"] = loss.detach()
    return out


def train_memory(cfg: MemoryConfig) -> Iterator[Snapshot]:
    """Train one network per kind in :attr:`MemoryConfig.kinds` on the same batches.

    Metrics: ``loss_<kind>`` (train), ``grad_norm_<kind>`` (before clipping), ``baseline``,
    and on evaluation snapshots (the first, the last, and some 15% of the time between)
    ``test_loss_<kind>`` on 512 fixed test sequences and ``test_acc_<kind>`` (copy).
    Artifacts: ``grad_norms`` ``{kind: (T,)}``, ``forget_gates`` (T, hidden) or None.
    """
    device = start(cfg)
    nets = memory_nets(cfg, device)
    opts = {k: torch.optim.Adam(n.parameters(), lr=cfg.lr) for k, n in nets.items()}
    gen = torch.Generator().manual_seed(cfg.seed)
    x_test, y_test = (t.to(device) for t in memory_batch(cfg, N_TEST,
                                                         torch.Generator().manual_seed(12345)))
    progress = Progress(cfg.steps, eval_share=0.2)
    # the test loss on a fixed share of the time (on a busy machine a snapshot every 0.25 s
    # would otherwise spend more on evaluating than on training); full evaluations add the
    # gradient norms per step and the forget gates
    light = EvalBudget(share=0.15, min_interval_s=0.5)
    kept: dict = {}  # the newest full evaluation's artifacts ride on every later snapshot
    for step in range(cfg.steps + 1):
        if step > 0:
            x, y = (t.to(device) for t in memory_batch(cfg, cfg.batch_size, gen))
            progress.losses.add(**_train_step(cfg, nets, opts, x, y))
        if not progress.due(step):
            continue
        metrics = {**progress.losses.pop(), "baseline": memory_baseline(cfg)}
        full = progress.evaluation_due(step)
        if full or light.due():
            with (progress.budget if full else light).timed():
                m, art = memory_eval(cfg, nets, x_test, y_test, full)
            metrics.update(m)
            kept.update(art)
        yield progress.snapshot(step, metrics, dict(kept))


DEMOS = [
    Demo("adding", MemoryConfig, train_memory, title="Long memory",
         description="RNN vs LSTM vs GRU on the adding and copy-memory problems: vanishing "
         "gradients made visible."),
]
