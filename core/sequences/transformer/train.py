"""The Transformer's config and trainer: AdamW with warm-up and cosine decay on the answer
tokens, held-out evaluation and attention maps at every snapshot (minGPT's training set-up:
betas (0.9, 0.95), weight decay on matrices only, gradient clipping at 1.0)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from core.checks import check_choice
from core.protocol import Demo, Progress, RunOptions, Snapshot, eval_mode, param, start
from core.sequences.transformer.data import N_ABLATION, N_EXAMPLES, TASKS, TaskData, decode
from core.sequences.transformer.evaluation import answer_loss, evaluate, generate
from core.sequences.transformer.model import GPT, build_model

__all__ = ["TransformerConfig", "held_out_metrics", "lr_at", "make_optimizer",
           "snapshot_artifacts", "train", "train_step"]

@dataclass(frozen=True)
class TransformerConfig(RunOptions):
    """Every setting of one run: task, architecture, optimizer (and the run options)."""

    task: str = param("reverse", choices=TASKS, help="what the model learns: copy, reverse or "
                      "sort a digit string, or two-digit addition (and subtraction)")
    length: int = param(8, lo=4, hi=12, label="Sequence length",
                        help="digits per sequence (copy, reverse, sort)")
    reverse_answer: bool = param(True, label="Write sums backwards",
                                 help="add/addsub: emit the answer least-significant digit first "
                                 "(as minGPT's adder does), so carries flow the way the model "
                                 "writes")
    n_layers: int = param(2, lo=1, hi=4, label="Layers")
    n_heads: int = param(2, choices=(1, 2, 4, 8), label="Heads")
    d_model: int = param(64, choices=(16, 32, 64, 128, 256), label="Width (d_model)")
    pos_encoding: str = param("learned", choices=("learned", "sinusoidal", "none"),
                              label="Positional encoding")
    dropout: float = param(0.0, lo=0.0, hi=0.5, step=0.05)
    lr: float = param(3e-3, lo=1e-5, hi=1e-1, log=True, label="Learning rate")
    warmup: int = param(50, lo=0, hi=5000, label="Warm-up steps",
                        help="linear learning-rate warm-up from 0")
    lr_schedule: str = param("cosine", choices=("cosine", "constant"), label="LR schedule",
                             help="after warm-up: cosine decay to 10% of the rate, or constant")
    weight_decay: float = param(0.1, lo=0.0, hi=1.0, step=0.05,
                                help="AdamW weight decay on weight matrices")
    batch_size: int = param(128, choices=(16, 32, 64, 128, 256, 512, 1024), label="Batch size")
    steps: int = param(400, lo=10, hi=100000, help="optimization steps")

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads:
            raise ValueError(f"width d_model={self.d_model} must be divisible by "
                             f"n_heads={self.n_heads}")
        check_choice("task", self.task, TASKS)


def lr_at(step: int, cfg: TransformerConfig) -> float:
    """Learning rate at ``step`` (1-based): linear warm-up, then cosine to 10% or constant."""
    if cfg.warmup and step <= cfg.warmup:
        return cfg.lr * step / cfg.warmup
    if cfg.lr_schedule == "constant":
        return cfg.lr
    t = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


def make_optimizer(model: GPT, cfg: TransformerConfig) -> torch.optim.AdamW:
    """AdamW (betas 0.9, 0.95) with weight decay on weight matrices only (minGPT's recipe)."""
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "pos_emb" not in n
             and "tok_emb" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "pos_emb" not in n
                                                               and "tok_emb" not in n)]
    return torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}],
                             lr=cfg.lr, betas=(0.9, 0.95))


def train_step(model: GPT, opt: torch.optim.Optimizer, seqs: torch.Tensor, n_answer: int,
               lr: float) -> torch.Tensor:
    """One AdamW step at learning rate ``lr`` on a batch of sequences (B, S); returns the loss
    (detached), with gradients clipped to norm 1 (minGPT)."""
    for g in opt.param_groups:
        g["lr"] = lr
    logits, _ = model(seqs[:, :-1])
    loss = answer_loss(logits, seqs, n_answer)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss.detach()


def held_out_metrics(model: GPT, data: TaskData, pos_encoding: str) -> dict[str, float]:
    """``test_loss``, ``token_acc``, ``exact_match`` on the held-out set and, with a positional
    encoding, ``exact_match_no_pe`` on its first N_ABLATION sequences with positions removed."""
    ev = evaluate(model, data.test, data.n_answer)
    metrics = {"test_loss": ev["loss"], "token_acc": ev["token_acc"],
               "exact_match": ev["exact_match"]}
    if pos_encoding != "none":
        metrics["exact_match_no_pe"] = evaluate(model, data.test[:N_ABLATION], data.n_answer,
                                                use_pe=False)["exact_match"]
    return metrics


def snapshot_artifacts(model: GPT, examples: torch.Tensor, n_answer: int) -> dict:
    """Attention maps (N, n_layers, n_heads, T, T) and greedy answers of the fixed examples."""
    with eval_mode(model):
        _, atts = model(examples[:, :-1], need_weights=True)
    seqs, _ = generate(model, examples[:, :-n_answer], n_answer)
    pe = None if model.pos_encoding == "none" else model.pos_emb.detach().float().cpu().numpy()
    return {"attention": torch.stack(atts, 1).float().cpu().numpy(),
            "examples": [decode(s) for s in examples],
            "predictions": [decode(s[-n_answer:]) for s in seqs],
            "pos_encoding": None if pe is None else pe.copy()}


def train(cfg: TransformerConfig) -> Iterator[Snapshot]:
    """Train the GPT on the task and yield live snapshots.

    Metrics: ``loss`` (training answer cross-entropy, nats/token, mean of the last 32 steps),
    ``test_loss``, ``token_acc`` and ``exact_match`` on the held-out sequences (fractions),
    ``exact_match_no_pe`` (exact match on the first 250 held-out sequences with the positional
    encoding removed at test time; absent when ``pos_encoding="none"``) and ``lr``. Every
    snapshot evaluates; snapshots come at most every 0.25 s and so that evaluating takes at most
    ~20% of the time.

    Artifacts: ``attention`` (N_EXAMPLES, n_layers, n_heads, T, T) float32 for fixed held-out
    examples; ``examples`` (list of their full strings); ``predictions`` (greedy answers for
    them); ``pos_encoding`` (T, d_model) float32 or None. ``model``: a frozen copy at most
    every second and on the final snapshot (the page decodes typed input with the newest).
    """
    device = start(cfg)
    gen = torch.Generator().manual_seed(cfg.seed)
    data = TaskData(cfg.task, cfg.length, cfg.reverse_answer, cfg.seed, device)
    model = build_model(cfg).to(device)
    opt = make_optimizer(model, cfg)
    progress = Progress(cfg.steps, copy_every_s=1.0, eval_share=0.2, eval_every_s=0.25)
    for step in range(1, cfg.steps + 1):
        lr = lr_at(step, cfg)
        batch = data.batch(cfg.batch_size, gen)
        progress.losses.add(loss=train_step(model, opt, batch, data.n_answer, lr))
        if progress.due(step) and progress.evaluation_due(step):
            with progress.budget.timed():
                metrics = {**progress.losses.pop(),
                           **held_out_metrics(model, data, cfg.pos_encoding), "lr": lr}
                art = snapshot_artifacts(model, data.test[:N_EXAMPLES], data.n_answer)
            yield progress.snapshot(step, metrics, art, model=model)


DEMOS = [Demo("transformer", TransformerConfig, train, title="Transformer attention",
              description="A small decoder-only Transformer learns copy, reverse, sort and "
              "two-digit addition; attention maps per layer and head.")]
