"""The captioning trainer (demo ``captioning``): its config, one Adam step of every decoder on
the same batch, the held-out scores and views, and the loop."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from core.data.captions import CAPTION_DATASETS, CaptionData, Vocab
from core.protocol import Demo, Progress, RunOptions, Snapshot, eval_mode, param, start
from core.sequences.captioning.data import get_data
from core.sequences.captioning.decoding import cross_attention, decode
from core.sequences.captioning.evaluation import evaluate, grad_through_time
from core.sequences.captioning.model import DECODERS, build_models, caption_loss

__all__ = ["DECODER_SETS", "DEMOS", "N_SAMPLES", "CaptioningConfig", "evaluate_decoders",
           "n_params", "train", "train_step"]

DECODER_SETS = {"all": DECODERS, "rnn+lstm": ("rnn", "lstm"), "rnn": ("rnn",),
                "lstm": ("lstm",), "transformer": ("transformer",)}
N_SAMPLES = 6  # held-out images shown with their generated captions


@dataclass(frozen=True)
class CaptioningConfig(RunOptions):
    """Every setting of one captioning run (data, the three decoders, training, decoding)."""

    dataset: str = param("shapes", choices=CAPTION_DATASETS,
                         help="shapes: generated scenes; digits: MNIST digit strips; flickr8k and "
                         "coco only when their files are on this machine")
    style: str = param("long", choices=("long", "short"),
                       help="shapes captions: long names sizes (10 words), short does not (6)")
    n_train: int = param(4000, lo=200, hi=20000, step=100, label="Training images")
    decoders: str = param("all", choices=tuple(DECODER_SETS),
                          help="which decoders to train side by side")
    hidden: int = param(128, choices=(32, 64, 128, 256), label="Hidden size",
                        help="RNN/LSTM state size and Transformer width (also the word embedding)")
    n_layers: int = param(2, lo=1, hi=4, label="Transformer layers", aliases=("layers",))
    n_heads: int = param(4, choices=(1, 2, 4, 8), label="Attention heads", aliases=("heads",))
    lr: float = param(2e-3, lo=1e-5, hi=1.0, log=True, label="Learning rate")
    batch_size: int = param(32, choices=(8, 16, 32, 64, 128, 256), label="Batch size")
    max_grad_norm: float = param(1.0, lo=0.0, hi=100.0, label="Gradient clipping",
                                 help="clip the gradient norm to this (0 = off)",
                                 aliases=("clip",))
    steps: int = param(800, lo=10, hi=50000, step=10)
    decoding: str = param("greedy", choices=("greedy", "beam"))
    beam_size: int = param(3, lo=1, hi=8, label="Beam size")
    eval_size: int = param(100, lo=20, hi=2000, step=10, label="Held-out images scored")

    def __post_init__(self) -> None:
        if self.hidden % self.n_heads:
            raise ValueError(f"hidden={self.hidden} must be divisible by "
                             f"n_heads={self.n_heads}")

    @property
    def decoder_list(self) -> tuple[str, ...]:
        return DECODER_SETS[self.decoders]


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def train_step(models: nn.ModuleDict, opts: dict[str, torch.optim.Optimizer],
               images: torch.Tensor, tokens: torch.Tensor, max_grad_norm: float
               ) -> dict[str, torch.Tensor]:
    """One Adam step of every captioner on the same batch; ``{"loss_<decoder>": loss}``
    (detached)."""
    losses = {}
    for k, m in models.items():
        loss = caption_loss(m, images, tokens)
        opts[k].zero_grad()
        loss.backward()
        if max_grad_norm > 0:
            nn.utils.clip_grad_norm_(m.parameters(), max_grad_norm)
        opts[k].step()
        losses[f"loss_{k}"] = loss.detach()
    return losses


def evaluate_decoders(models: nn.ModuleDict, cfg: CaptioningConfig, test: CaptionData
                      ) -> tuple[dict[str, float], dict]:
    """Held-out scores of every captioner (``bleu4_<d>``, ``exact_match_<d>`` and their means
    ``bleu4``, ``exact_match``) and the page's views of them: ``captions`` of the sample images,
    the Transformer's cross-``attention``, the recurrent decoders' ``grad_time``."""
    dev = next(models.parameters()).device
    samples = test.images[:N_SAMPLES].to(dev)
    max_len = test.tokens.shape[1]
    scores: dict[str, float] = {}
    art: dict = {"captions": {}, "grad_time": {}}
    for k, m in models.items():
        scores[f"bleu4_{k}"], scores[f"exact_match_{k}"], _ = evaluate(
            m, test, min(cfg.eval_size, len(test)), cfg.decoding, cfg.beam_size)
        with eval_mode(m):
            toks = decode(m, samples, max_len, cfg.decoding, cfg.beam_size)
            art["captions"][k] = [test.vocab.decode(t) for t in toks.cpu()]
            if k == "transformer":
                words, attn = cross_attention(m, samples, max_len)
                art["attention"] = {"words": [[test.vocab.itos[i] for i in row if i != Vocab.pad]
                                              for row in words.tolist()], "attn": attn}
        if k in ("rnn", "lstm"):
            art["grad_time"][k] = grad_through_time(m, test.images[:64].to(dev),
                                                    test.tokens[:64].to(dev))
    scores["bleu4"] = float(np.mean([scores[f"bleu4_{k}"] for k in models]))
    scores["exact_match"] = float(np.mean([scores[f"exact_match_{k}"] for k in models]))
    if not art["grad_time"]:
        del art["grad_time"]
    return scores, art


def train(cfg: CaptioningConfig) -> Iterator[Snapshot]:
    """Train the chosen decoders side by side on the same batches; yield snapshots.

    Metrics, per decoder d in ``cfg.decoders``: ``loss_d`` (teacher-forcing cross-entropy in
    nats/word, mean over the last 32 steps), and when scored on held-out images
    (from the second snapshot on, at most every 1.5 s and a quarter of the time, and at the end)
    ``bleu4_d`` and ``exact_match_d`` in [0, 1]. The plain ``loss``, ``bleu4``, ``exact_match``
    are their means over the decoders trained.

    Artifacts: ``samples`` (held-out images (6, C, H, W) float), ``references`` and ``captions``
    ({decoder: [str]}) for them; ``attention`` ({"words": [[str]], "attn": (6, n_layers, T,
    rows, cols)}) for the Transformer; ``grad_time`` ({decoder: (n+1,) array}) for the RNN/LSTM;
    ``params`` ({decoder: count}); ``vocab`` (the words by id); ``eval_step``. ``model`` (an
    ``nn.ModuleDict`` of the captioners) on the final snapshot.
    """
    device = start(cfg)
    gen = torch.Generator().manual_seed(cfg.seed)
    tr, te = get_data(cfg.dataset, cfg.n_train, cfg.style)
    models = build_models(cfg, tr).to(device)
    opts = {k: torch.optim.Adam(m.parameters(), lr=cfg.lr) for k, m in models.items()}
    x_tr, y_tr = tr.images.to(device), tr.tokens.to(device)
    art: dict = {"params": {k: n_params(m) for k, m in models.items()},
                 "samples": te.images[:N_SAMPLES].numpy(), "references": te.captions[:N_SAMPLES],
                 "vocab": tr.vocab.itos, "dataset": tr.name, "note": tr.note}
    progress = Progress(cfg.steps, eval_share=0.25, eval_every_s=1.5)
    for step in range(1, cfg.steps + 1):
        idx = torch.randint(0, len(x_tr), (min(cfg.batch_size, len(x_tr)),), generator=gen)
        idx = idx.to(device)
        progress.losses.add(**train_step(models, opts, x_tr[idx], y_tr[idx], cfg.max_grad_norm))
        if not progress.due(step):
            continue
        metrics = progress.losses.pop()
        metrics["loss"] = float(np.mean([metrics[f"loss_{k}"] for k in models]))
        # the first snapshot comes at once, its evaluation with the next
        if progress.evaluation_due(step) and (step > 1 or progress.is_final(step)):
            with progress.budget.timed():
                scores, views = evaluate_decoders(models, cfg, te)
            metrics.update(scores)
            art = {**art, **views, "eval_step": step}
        yield progress.snapshot(step, metrics, dict(art), model=models)


DEMOS = [Demo("captioning", CaptioningConfig, train, title="Image captioning",
              description="A CNN encoder with a vanilla RNN, an LSTM and a Transformer decoder "
              "caption shape scenes or MNIST digit strips, side by side.")]
