"""Seq2seq arithmetic evaluation: greedy answers, exact match on seen and unseen questions,
errors by answer position, and the page's views (a typed question answered with its gates, a
preview of the training questions, strips of symbol images).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from core.blocks.images import image_grid
from core.protocol import eval_mode
from core.sequences.seq2seq.data import (
    A_LEN,
    POSITIONS,
    Q_LEN,
    SYMBOLS,
    decode_answer,
    encode_answers,
    encode_questions,
    format_question,
    parse_question,
    question_status,
    split_questions,
    symbol_bank,
    true_answer,
)
from core.sequences.seq2seq.model import Seq2Seq, make_inputs

if TYPE_CHECKING:
    from core.sequences.seq2seq.train import Seq2SeqConfig

__all__ = ["EVAL_MAX", "answer_strip", "ask", "digit_errors", "eval_questions", "evaluate",
           "predict", "preview"]

EVAL_MAX = 1000  # questions per evaluation (unseen and seen each)


def predict(model: Seq2Seq, cfg: Seq2SeqConfig, q: np.ndarray, device: torch.device | str = "cpu",
            seed: int = 0, batch: int = 1000) -> dict[str, torch.Tensor]:
    """Greedy answers for questions ``q`` (N, 3), with question images drawn from the MNIST
    *test* split (image input) using a generator seeded with ``seed``.

    Returns:
        ``{"pred": (N, 4) ids, "true": (N, 4) ids, "images": (N, 4, 784) generated answer
        images in [0, 1] (image output only), "question_images": (N, 5, 1, 28, 28) the
        question images in reading order (image input only)}``, all on the CPU.
    """
    bank = symbol_bank("test") if model.image_in else None
    gen = torch.Generator().manual_seed(seed)
    preds, imgs, qimgs = [], [], []
    with eval_mode(model):
        for i in range(0, len(q), batch):
            x = make_inputs(model, q[i:i + batch], bank, cfg.reverse_input, gen).to(device)
            r = model(x)
            preds.append(r["pred"].cpu())
            if model.image_out:
                imgs.append(torch.sigmoid(r["out"]).cpu())
            if model.image_in:
                qimgs.append((x.flip(1) if cfg.reverse_input else x).cpu())
    res = {"pred": torch.cat(preds), "true": encode_answers(q)}
    if imgs:
        res["images"] = torch.cat(imgs)
    if qimgs:
        res["question_images"] = torch.cat(qimgs)
    return res


def digit_errors(pred: torch.Tensor, true: torch.Tensor) -> np.ndarray:
    """Error rate by answer position (rows: sign, hundreds, tens, ones) and true symbol
    (columns: 0-9, +, -): (4, 12) float, NaN where the symbol never occurs at that position."""
    err = np.full((A_LEN, len(SYMBOLS)), np.nan)
    wrong = (pred != true).numpy()
    t = true.numpy()
    for p in range(A_LEN):
        for s in range(len(SYMBOLS)):
            m = t[:, p] == s
            if m.any():
                err[p, s] = wrong[m, p].mean()
    return err


def answer_strip(images: torch.Tensor, per_row: int | None = None) -> np.ndarray:
    """Symbol images (T, 784) or (T, 1, 28, 28) in [0, 1] as one uint8 image, ``per_row``
    symbols a row (all T by default) with 2-px white gutters: (30 * rows + 2, 30 * per_row + 2).
    """
    imgs = images.reshape(-1, 1, 28, 28)
    return image_grid(imgs, ncol=per_row or len(imgs), pad=2)


def ask(model: Seq2Seq, cfg: Seq2SeqConfig, text: str, seed: int = 0) -> dict:
    """Answer a typed question with a trained (frozen) model.

    Returns:
        ``{"question": "45+23", "answer": model's answer text, "correct": true answer text,
        "ok": bool, "status": seen/unseen/unused, "question_image": uint8 strip (image input),
        "answer_image": uint8 strip (image output), "gates": (T, n_layers, 4, hidden) float
        array for the encoder's 5 and decoder's 4 steps, "steps": their T labels, e.g.
        ``"1: read 3"`` ... ``"9: write ones"``}``.

    Raises:
        ValueError: from :func:`parse_question` for text that is not a question.
    """
    a, op, b = parse_question(text)
    q = np.array([[a, op, b]])
    bank = symbol_bank("test") if model.image_in else None
    gen = torch.Generator().manual_seed(seed)
    x = make_inputs(model, q, bank, cfg.reverse_input, gen)
    with eval_mode(model):
        r = model(x, record=True)
    read = encode_questions(q, cfg.reverse_input)[0]
    res = {"question": format_question(a, op, b), "answer": decode_answer(r["pred"][0]),
           "correct": str(true_answer(a, op, b)), "status": question_status(cfg, a, op, b),
           "gates": torch.stack([g[0] for g in r["gates"]]).numpy(),
           "steps": [f"{k + 1}: read {SYMBOLS[int(t)]}" for k, t in enumerate(read)]
           + [f"{k + Q_LEN + 1}: write {p}" for k, p in enumerate(POSITIONS)]}
    res["ok"] = bool((r["pred"][0] == encode_answers(q)[0]).all())
    if model.image_in:
        shown = x[0].flip(0) if cfg.reverse_input else x[0]
        res["question_image"] = answer_strip(shown)
    if model.image_out:
        res["answer_image"] = answer_strip(torch.sigmoid(r["out"][0]))
    return res


def preview(cfg: Seq2SeqConfig, n: int = 6, seed: int = 0) -> list[dict]:
    """A few training questions as the model will see them, for the page before training:
    ``[{"question", "answer", "question_image" (image input), "answer_image" (image output)}]``.
    """
    train_q, _ = split_questions(cfg)
    rng = np.random.default_rng(seed)
    q = train_q[rng.choice(len(train_q), size=min(n, len(train_q)), replace=False)]
    gen = torch.Generator().manual_seed(seed)
    out = []
    for row in q:
        d = {"question": format_question(*row), "answer": str(true_answer(*row))}
        if cfg.modality == "image2text":
            ids = encode_questions(row[None])[0]
            d["question_image"] = answer_strip(symbol_bank("train").sample(ids, gen))
        if cfg.modality == "text2image":
            ids = encode_answers(row[None])[0]
            d["answer_image"] = answer_strip(symbol_bank("train").sample(ids, gen))
        out.append(d)
    return out


def evaluate(model: Seq2Seq, cfg: Seq2SeqConfig, seen_q: np.ndarray, unseen_q: np.ndarray,
             device: torch.device) -> tuple[dict[str, float], dict]:
    """Exact match (all 4 symbols right) on unseen and seen questions, per-operator unseen
    scores, per-symbol accuracy, and artifacts for the page (error heatmap, examples)."""
    pu = predict(model, cfg, unseen_q, device, seed=1)
    ps = predict(model, cfg, seen_q, device, seed=2)
    ok_u = (pu["pred"] == pu["true"]).all(1)
    ok_s = (ps["pred"] == ps["true"]).all(1)
    m = {"exact_match": float(ok_u.float().mean()), "exact_match_seen": float(ok_s.float().mean()),
         "symbol_acc": float((pu["pred"] == pu["true"]).float().mean())}
    for op, name in ((0, "add"), (1, "sub")):
        sel = torch.from_numpy(unseen_q[:, 1] == op)
        if sel.any():
            m[f"exact_match_{name}"] = float(ok_u[sel].float().mean())
    ex_idx = np.linspace(0, len(unseen_q) - 1, 8).astype(int)
    examples = []
    for i in ex_idx:
        d = {"question": format_question(*unseen_q[i]), "answer": decode_answer(pu["pred"][i]),
             "correct": str(true_answer(*unseen_q[i])), "ok": bool(ok_u[i])}
        if "images" in pu:
            d["answer_image"] = answer_strip(pu["images"][i])
        if "question_images" in pu:
            d["question_image"] = answer_strip(pu["question_images"][i])
        examples.append(d)
    art = {"digit_errors": digit_errors(pu["pred"], pu["true"]), "examples": examples}
    if "images" in pu:
        art["answer_images"] = answer_strip(pu["images"][ex_idx[:6]], per_row=A_LEN)
    return m, art


def eval_questions(cfg: Seq2SeqConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(training pool, seen questions scored, unseen questions scored)``, each (N, 3): up to
    EVAL_MAX random training questions (by ``cfg.seed``) and EVAL_MAX evenly spaced held-out
    ones."""
    train_q, unseen_q = split_questions(cfg)
    rng = np.random.default_rng(cfg.seed)
    seen = train_q[rng.choice(len(train_q), size=min(EVAL_MAX, len(train_q)), replace=False)]
    unseen = unseen_q[np.linspace(0, len(unseen_q) - 1, min(EVAL_MAX, len(unseen_q)))
                      .astype(int)]
    return train_q, seen, unseen
