"""The optimizers the labs compare, by name: every one a real ``torch.optim`` optimizer.

References: Kingma & Ba, "Adam", ICLR 2015; Loshchilov & Hutter, "Decoupled Weight Decay
Regularization" (AdamW), ICLR 2019; Duchi et al. (Adagrad), JMLR 2011; Tieleman & Hinton
(RMSprop), 2012; Sutskever et al. (Nesterov momentum in deep learning), ICML 2013.
"""

from __future__ import annotations

import torch

__all__ = ["NAMES", "OPTIMIZERS", "make_optimizer", "parse_optimizers"]

OPTIMIZERS = ("sgd", "momentum", "nesterov", "rmsprop", "adagrad", "adam", "adamw")
NAMES = {"sgd": "SGD", "momentum": "Momentum", "nesterov": "Nesterov", "rmsprop": "RMSprop",
         "adagrad": "Adagrad", "adam": "Adam", "adamw": "AdamW"}


def make_optimizer(name: str, params: list, lr: float, momentum: float = 0.9,
                   beta1: float = 0.9, beta2: float = 0.999,
                   weight_decay: float = 0.01) -> torch.optim.Optimizer:
    """The real ``torch.optim`` optimizer ``name`` (one of :data:`OPTIMIZERS`) over ``params``
    (tensors or param-group dicts). ``momentum`` is SGD's β (momentum, Nesterov) and RMSprop's
    α-smoothing stays torch's 0.99; ``weight_decay`` is AdamW's decoupled decay only. Nesterov
    with β = 0 is plain SGD (torch refuses ``nesterov=True`` without momentum).

    Raises:
        ValueError: for an unknown name.
    """
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr)
    if name == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=momentum)
    if name == "nesterov":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=momentum > 0)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr)
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=lr)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=(beta1, beta2))
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, betas=(beta1, beta2), weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}; allowed: {', '.join(OPTIMIZERS)}")


def parse_optimizers(text: str) -> list[str]:
    """``"adam, sgd"`` -> ``["sgd", "adam"]`` (in :data:`OPTIMIZERS` order, no repeats).

    Raises:
        ValueError: for an unknown name or an empty list.
    """
    names = [t.strip().lower() for t in str(text).split(",") if t.strip()]
    bad = [n for n in names if n not in OPTIMIZERS]
    if bad:
        raise ValueError(f"unknown optimizer {bad[0][:20]!r}; allowed: {', '.join(OPTIMIZERS)}")
    if not names:
        raise ValueError("choose at least one optimizer")
    return [o for o in OPTIMIZERS if o in names]
