"""The seq2seq arithmetic trainer (demo ``seq2seq``): its config, one training step and the
loop (Adam, gradient norm clipped at 1, teacher forcing; scored on the clock)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from core.protocol import Demo, Progress, RunOptions, Snapshot, param, start
from core.sequences.seq2seq.data import SymbolBank, symbol_bank
from core.sequences.seq2seq.evaluation import eval_questions, evaluate
from core.sequences.seq2seq.model import Seq2Seq, build_model, loss_fn, make_inputs, make_targets

__all__ = ["DEMOS", "EVAL_EVERY_S", "MODALITIES", "Seq2SeqConfig", "train", "train_step"]

MODALITIES = ("text2text", "image2text", "text2image")
EVAL_EVERY_S = 1.0  # seconds between evaluations during training


@dataclass(frozen=True)
class Seq2SeqConfig(RunOptions):
    """Every setting of one seq2seq arithmetic run."""

    modality: str = param("text2text", choices=MODALITIES,
                          help="text2text: tokens in and out; image2text: the question is MNIST "
                          "digit images; text2image: the answer is drawn as images")
    ops: str = param("+-", choices=("+-", "+", "-"), label="Operators",
                     help="which questions to train and test on")
    train_fraction: float = param(1.0, lo=0.05, hi=1.0, step=0.05, label="Questions used",
                                  help="share of the 9,000 non-held-out questions per operator "
                                  "the model may see")
    reverse_input: bool = param(True, label="Reverse the question",
                                help="feed the question back to front (Sutskever et al. 2014): "
                                "the ones digits then sit next to the first answer steps")
    n_layers: int = param(1, lo=1, hi=3, label="LSTM layers", help="stacked LSTM layers",
                          aliases=("layers",))
    hidden: int = param(128, choices=(16, 32, 64, 128, 256), label="Hidden units",
                        help="size of h and c in every LSTM layer")
    embed_dim: int = param(32, choices=(8, 16, 32, 64), label="Embedding size",
                       help="size of each input vector fed to the LSTMs")
    teacher_forcing: float = param(1.0, lo=0.0, hi=1.0, step=0.1, label="Teacher forcing",
                                   help="probability of feeding the true previous answer symbol "
                                   "to the decoder during training (else its own guess)")
    lr: float = param(1e-2, lo=1e-4, hi=1e-1, log=True, label="Learning rate", help="Adam")
    batch_size: int = param(128, choices=(16, 32, 64, 128, 256, 512), label="Batch size")
    steps: int = param(4000, lo=10, hi=50000, step=10, help="mini-batch updates")

    def __post_init__(self) -> None:
        if self.modality not in MODALITIES:
            raise ValueError(f"modality={self.modality!r}; allowed: {', '.join(MODALITIES)}")

    @property
    def op_ids(self) -> tuple[int, ...]:
        """Operator ids used: 0 for ``+``, 1 for ``-``."""
        return tuple(i for i, o in enumerate("+-") if o in self.ops)



def train_step(model: Seq2Seq, opt: torch.optim.Optimizer, cfg: Seq2SeqConfig,
               q: np.ndarray, bank: SymbolBank | None, gen: torch.Generator) -> torch.Tensor:
    """One Adam step on questions ``q`` (B, 3) with teacher forcing ``cfg.teacher_forcing``
    and the gradient norm clipped at 1; returns the loss (detached)."""
    device = next(model.parameters()).device
    x = make_inputs(model, q, bank, cfg.reverse_input, gen).to(device)
    y = make_targets(model.image_out, q, bank, gen).to(device)
    loss = loss_fn(model, model(x, y, cfg.teacher_forcing, gen)["out"], y)
    opt.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss.detach()


def train(cfg: Seq2SeqConfig) -> Iterator[Snapshot]:
    """Train the LSTM encoder-decoder with Adam (gradient norm clipped at 1) and yield snapshots.

    Metrics: ``loss`` (training loss with teacher forcing, mean of the last 32 steps: nats
    per answer symbol, or nats per pixel for image answers), and, scored on the untrained model
    at step 0, then at most every EVAL_EVERY_S and 20% of the time, and at the end:
    ``exact_match`` (unseen questions, greedy decoding), ``exact_match_seen``,
    ``exact_match_add``/``exact_match_sub`` (unseen, per operator), ``symbol_acc`` (unseen, per
    answer symbol). Artifacts: ``digit_errors`` (4, 12), ``examples`` (unseen questions with the
    model's answers), ``answer_images`` (uint8, image output only). ``model``: a frozen copy at
    most every 3 s and on the final snapshot.
    """
    device = start(cfg)
    gen = torch.Generator().manual_seed(cfg.seed)
    train_q, seen_eval, unseen_eval = eval_questions(cfg)
    model = build_model(cfg)
    bank = symbol_bank("train") if cfg.modality != "text2text" else None
    if model.image_out:
        model.templates.copy_(bank.templates())
    model.to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    progress, art = Progress(cfg.steps, copy_every_s=3.0, eval_share=0.2,
                             eval_every_s=EVAL_EVERY_S), {}
    for step in range(0, cfg.steps + 1):
        if step > 0:
            idx = torch.randint(0, len(train_q), (cfg.batch_size,), generator=gen).numpy()
            progress.losses.add(loss=train_step(model, opt, cfg, train_q[idx], bank, gen))
        if progress.due(step):
            metrics = progress.losses.pop()
            if progress.evaluation_due(step):
                with progress.budget.timed():
                    scores, art = evaluate(model, cfg, seen_eval, unseen_eval, device)
                metrics.update(scores)
            yield progress.snapshot(step, metrics, art, model=model)


DEMOS = [Demo("seq2seq", Seq2SeqConfig, train, title="Seq2seq arithmetic",
              description="An LSTM encoder-decoder learns two-digit addition and subtraction "
              "from text or MNIST digit images, and answers in text or drawn digits.")]
