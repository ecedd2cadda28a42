"""The Transformer's algorithmic tasks: the vocabulary, the prompt/answer layout of every task,
and the fixed held-out split with a sampler of training batches that never hits it.

The addition task and its reversed answers follow Karpathy's minGPT (``projects/adder``).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["ARITH_TASKS", "N_ABLATION", "N_EXAMPLES", "N_TEST", "SEQ_TASKS", "STOI", "TASKS",
           "VOCAB", "TaskData", "arith_answer", "arith_table", "decode", "encode", "layout",
           "seq_answer"]

VOCAB = "0123456789+-="
STOI = {c: i for i, c in enumerate(VOCAB)}
TASKS = ("copy", "reverse", "sort", "add", "addsub")
SEQ_TASKS = ("copy", "reverse", "sort")
ARITH_TASKS = ("add", "addsub")
N_TEST = 1000  # held-out sequences (fewer when the task has few distinct sequences)
N_ABLATION = 250  # held-out sequences for the no-positional-encoding ablation
N_EXAMPLES = 6  # held-out examples whose attention maps every snapshot carries


def layout(task: str, length: int = 8) -> tuple[int, int]:
    """``(n_prompt, n_answer)``: tokens in the prompt (ending in ``=``) and in the answer.

    The model reads ``n_prompt + n_answer - 1`` tokens (its block size).
    """
    if task in SEQ_TASKS:
        return length + 1, length
    if task in ARITH_TASKS:
        return 6, 3
    raise ValueError(f"unknown task {task!r}; allowed: {', '.join(TASKS)}")


def encode(text: str) -> list[int]:
    """Token ids of a string over :data:`VOCAB` (raises ``KeyError`` on other characters)."""
    return [STOI[c] for c in text]


def decode(ids) -> str:
    """The string of token ids (a list or 1-D tensor)."""
    return "".join(VOCAB[int(i)] for i in ids)


def seq_answer(task: str, digits: torch.Tensor) -> torch.Tensor:
    """The target of a copy/reverse/sort task: digits (N, L) int64 -> answer (N, L)."""
    if task == "copy":
        return digits.clone()
    if task == "reverse":
        return digits.flip(1)
    if task == "sort":
        return digits.sort(1).values
    raise ValueError(f"{task!r} is not a sequence task")


def arith_answer(a: int, b: int, op: str) -> str:
    """The three answer characters of ``a op b`` in reading order: ``068``, ``198``, ``-22``."""
    if op == "+":
        return f"{a + b:03d}"
    c = a - b
    return ("-" if c < 0 else "+") + f"{abs(c):02d}"


def arith_table(task: str, reverse_answer: bool) -> torch.Tensor:
    """Every two-digit problem of the task as token ids: (10000 or 20000, 9) int64."""
    ops = "+" if task == "add" else "+-"
    rows = []
    for op in ops:
        for a in range(100):
            for b in range(100):
                ans = arith_answer(a, b, op)
                rows.append(encode(f"{a:02d}{op}{b:02d}=" + (ans[::-1] if reverse_answer
                                                             else ans)))
    return torch.tensor(rows, dtype=torch.long)


def _digits_of(keys: torch.Tensor, length: int) -> torch.Tensor:
    """Integer keys (N,) -> their ``length`` decimal digits (N, length), most significant first."""
    p = 10 ** torch.arange(length - 1, -1, -1, dtype=torch.long)
    return keys[:, None] // p % 10


def _keys_of(digits: torch.Tensor) -> torch.Tensor:
    """Digits (N, L) -> one int64 key per row (the number they spell)."""
    p = 10 ** torch.arange(digits.shape[1] - 1, -1, -1, dtype=torch.long, device=digits.device)
    return (digits * p).sum(1)


class TaskData:
    """The task's fixed held-out split and a sampler of training batches that never hits it.

    ``test``: (N_test, S) int64 complete sequences (prompt + answer), ``S = n_prompt + n_answer``.
    Arithmetic tasks enumerate every problem and hold out a random 1,000 of them; sequence tasks
    hold out ``min(1000, 10**L // 10)`` random digit strings and re-draw any training string
    that collides with them.
    """

    def __init__(self, task: str, length: int, reverse_answer: bool, seed: int,
                 device: torch.device) -> None:
        self.task, self.length, self.device = task, length, device
        self.n_prompt, self.n_answer = layout(task, length)
        rng = np.random.default_rng(seed + 12345)
        if task in ARITH_TASKS:
            table = arith_table(task, reverse_answer)
            perm = torch.from_numpy(rng.permutation(len(table)))
            self.test = table[perm[:N_TEST]].to(device)
            self.train_pool = table[perm[N_TEST:]].to(device)
            self.test_keys = None
        else:
            n_test = min(N_TEST, 10 ** length // 10)
            keys = torch.from_numpy(rng.choice(10 ** length, size=n_test, replace=False))
            self.test_keys = keys.sort().values.to(device)
            self.test = self._build(_digits_of(keys, length).to(device))
            self.train_pool = None

    def _build(self, digits: torch.Tensor) -> torch.Tensor:
        eq = torch.full((len(digits), 1), STOI["="], dtype=torch.long, device=digits.device)
        return torch.cat([digits, eq, seq_answer(self.task, digits)], 1)

    def batch(self, batch_size: int, gen: torch.Generator) -> torch.Tensor:
        """A training batch of complete sequences (batch_size, S), none from the held-out set."""
        if self.train_pool is not None:
            idx = torch.randint(0, len(self.train_pool), (batch_size,), generator=gen)
            return self.train_pool[idx.to(self.device)]
        digits = torch.randint(0, 10, (batch_size, self.length), generator=gen)
        digits = digits.to(self.device)
        for _ in range(100):
            hit = torch.isin(_keys_of(digits), self.test_keys)
            if not bool(hit.any()):
                break
            n = int(hit.sum())
            digits[hit] = torch.randint(0, 10, (n, self.length), generator=gen).to(self.device)
        return self._build(digits)
