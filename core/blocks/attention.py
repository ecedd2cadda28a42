"""Multi-head attention and the pre-LN Transformer block every sequence model here uses.

Written after nanoGPT's ``model.py`` (Karpathy; ``CausalSelfAttention``, ``MLP``, ``Block``) and
GPT-2 (Radford et al., 2019) for the pre-LN block and its initialization; attention itself is
Vaswani et al., "Attention Is All You Need" (NeurIPS 2017)::

    head_h = softmax(Q_h K_h^T / sqrt(d_head) + M) V_h,     MHA(x) = concat_h(head_h) W_o
    x = x + MHA(LN_1(x));   [x = x + CrossMHA(LN_x(x), memory)];   x = x + MLP(LN_2(x))

*Locality self-attention* (Lee, Lee & Song 2021, "Vision Transformer for Small-Size Datasets"),
``locality=True``: the temperature is learned (``Q K^T / τ``, ``τ`` initialised to
``sqrt(d_head)``) and no token attends to itself (the diagonal is masked), which sharpens the
attention of ViTs trained from scratch on small data.

Two paths give the same numbers: the explicit one above returns the attention weights (for
pages that draw them, ``need_weights=True``); otherwise
:func:`torch.nn.functional.scaled_dot_product_attention` runs fused.

Defaults of the models that use :class:`Block` (kept from their references):

==========================  ==========  =========  ===================
model                       activation  MLP ratio  init
==========================  ==========  =========  ===================
``transformer`` (GPT)       ReLU        4          :func:`gpt2_init_`
``decision_transformer``    GELU        4          :func:`gpt2_init_`
``captioning`` decoder      GELU        2          PyTorch default
==========================  ==========  =========  ===================

Shapes: ``x`` (B, T, d_model); ``memory`` (B, S, d_model); attention weights
(B, n_heads, T, S) with rows = queries, each row summing to 1.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["MultiHeadAttention", "MLP", "Block", "gpt2_init_", "attention_mask"]

ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU}


def attention_mask(n_queries: int, n_keys: int, causal: bool = False,
                   key_padding_mask: torch.Tensor | None = None,
                   device: torch.device | None = None,
                   no_self: bool = False) -> torch.Tensor | None:
    """The boolean mask of allowed (query, key) pairs, True = may attend, or None for no mask.

    Args:
        causal: query ``i`` sees keys ``j <= i`` only.
        key_padding_mask: (B, S) bool, True = padding (ignored as a key), as in
            :class:`torch.nn.MultiheadAttention`. In self-attention a query whose keys are all
            padding attends to itself, so that no softmax row is empty.
        no_self: query ``i`` does not see key ``i`` (locality self-attention's diagonal
            masking; self-attention only, without ``causal``, whose first row would be empty).

    Returns:
        (T, S) or (B, 1, T, S) bool, broadcastable to the weights (B, n_heads, T, S).

    Raises:
        ValueError: for ``no_self`` with ``causal`` or with ``n_queries != n_keys``.
    """
    if no_self and (causal or n_queries != n_keys):
        raise ValueError("no_self needs non-causal self-attention")
    if not causal and key_padding_mask is None and not no_self:
        return None
    allowed = torch.ones(n_queries, n_keys, dtype=torch.bool, device=device)
    if causal:
        allowed = allowed.tril()
    if no_self:
        allowed = allowed & ~torch.eye(n_queries, dtype=torch.bool, device=device)
    if key_padding_mask is not None:
        allowed = allowed & ~key_padding_mask[:, None, None, :]
        if n_queries == n_keys:
            allowed = allowed | torch.eye(n_queries, dtype=torch.bool, device=device)
    return allowed


class MultiHeadAttention(nn.Module):
    """Multi-head self- or cross-attention (nanoGPT's ``CausalSelfAttention``, generalised).

    ``c_attn`` holds ``W_q, W_k, W_v`` of all heads as one (3 d_model, d_model) linear map;
    cross-attention applies its ``W_q`` rows to ``x`` and its ``W_k, W_v`` rows to ``memory``.
    ``c_proj`` is ``W_o``. ``locality=True`` is locality self-attention (module docstring):
    a learned ``log_temperature`` and no attention of a token to itself.

    Raises:
        ValueError: if ``d_model`` is not divisible by ``n_heads``.
    """

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0,
                 locality: bool = False) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} must be divisible by n_heads={n_heads}")
        self.n_heads, self.d_head = n_heads, d_model // n_heads
        self.locality = locality
        if locality:  # τ = exp(log_temperature), initialised to sqrt(d_head)
            self.log_temperature = nn.Parameter(torch.tensor(0.5 * math.log(self.d_head)))
        self.c_attn = nn.Linear(d_model, 3 * d_model)
        self.c_proj = nn.Linear(d_model, d_model)
        self.dropout = dropout
        self.attn_dropout = nn.Dropout(dropout)
        self.resid_dropout = nn.Dropout(dropout)

    def _heads(self, t: torch.Tensor) -> torch.Tensor:
        """(B, T, d_model) -> (B, n_heads, T, d_head)."""
        return t.view(*t.shape[:2], self.n_heads, self.d_head).transpose(1, 2)

    def qkv(self, x: torch.Tensor, memory: torch.Tensor | None = None
            ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Queries from ``x``, keys and values from ``memory`` (``x`` itself if None), per head."""
        d = x.shape[-1]
        if memory is None:
            q, k, v = self.c_attn(x).split(d, dim=2)
        else:
            w, b = self.c_attn.weight, self.c_attn.bias
            q = F.linear(x, w[:d], b[:d])
            k, v = F.linear(memory, w[d:], b[d:]).split(d, dim=2)
        return self._heads(q), self._heads(k), self._heads(v)

    def forward(self, x: torch.Tensor, memory: torch.Tensor | None = None, causal: bool = False,
                key_padding_mask: torch.Tensor | None = None, need_weights: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Attend from ``x`` (B, T, d) to ``memory`` (B, S, d) or to ``x`` itself.

        Args:
            causal, key_padding_mask: as :func:`attention_mask`.
            need_weights: compute the weights explicitly and return them; else the fused path.

        Returns:
            ``(y (B, T, d), weights (B, n_heads, T, S) or None)``.
        """
        q, k, v = self.qkv(x, memory)
        B, _, T, _ = q.shape
        no_self = self.locality and memory is None
        mask = attention_mask(T, k.shape[2], causal, key_padding_mask, x.device, no_self)
        scale = (torch.exp(-self.log_temperature) if self.locality
                 else 1.0 / math.sqrt(self.d_head))
        if need_weights:
            scores = q @ k.transpose(-2, -1) * scale  # (B, H, T, S)
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            weights = scores.softmax(dim=-1)
            y = self.attn_dropout(weights) @ v
        else:
            weights = None
            if self.locality:  # a learned scale: fold it into q (SDPA's scale is a float)
                q = q * (scale * math.sqrt(self.d_head))
            y = F.scaled_dot_product_attention(
                q, k, v, attn_mask=None if causal and key_padding_mask is None else mask,
                dropout_p=self.dropout if self.training else 0.0,
                is_causal=causal and key_padding_mask is None)
        y = y.transpose(1, 2).reshape(B, T, -1)  # concatenate the heads
        return self.resid_dropout(self.c_proj(y)), weights


class MLP(nn.Module):
    """Position-wise ``c_proj(act(c_fc(x)))`` with hidden size ``mlp_ratio * d_model``."""

    def __init__(self, d_model: int, mlp_ratio: int = 4, activation: str = "gelu",
                 dropout: float = 0.0) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation={activation!r}; allowed: {', '.join(ACTIVATIONS)}")
        self.c_fc = nn.Linear(d_model, mlp_ratio * d_model)
        self.act = ACTIVATIONS[activation]()
        self.c_proj = nn.Linear(mlp_ratio * d_model, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.c_proj(self.act(self.c_fc(x))))


class Block(nn.Module):
    """Pre-LN Transformer block: ``ln_1, attn, [ln_x, cross_attn], ln_2, mlp``.

    ``cross_attention=True`` adds attention from the sequence to a ``memory`` (an encoder's
    output, e.g. image regions) between self-attention and the MLP; ``locality=True`` makes the
    self-attention locality self-attention (ViT on small data).
    """

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0,
                 activation: str = "gelu", mlp_ratio: int = 4,
                 cross_attention: bool = False, locality: bool = False) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(d_model)
        self.attn = MultiHeadAttention(d_model, n_heads, dropout, locality)
        if cross_attention:
            self.ln_x = nn.LayerNorm(d_model)
            self.cross_attn = MultiHeadAttention(d_model, n_heads, dropout)
        self.ln_2 = nn.LayerNorm(d_model)
        self.mlp = MLP(d_model, mlp_ratio, activation, dropout)

    def forward(self, x: torch.Tensor, memory: torch.Tensor | None = None, causal: bool = True,
                key_padding_mask: torch.Tensor | None = None, need_weights: bool = False
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x (B, T, d) -> ``(x (B, T, d), weights or None)``: the self-attention weights
        (B, H, T, T), or with a ``memory`` the cross-attention weights (B, H, T, S).

        Self-attention is causal unless ``causal=False`` (every model here is a decoder);
        ``key_padding_mask`` masks padded positions of ``x`` (see :func:`attention_mask`)."""
        a, weights = self.attn(self.ln_1(x), causal=causal, key_padding_mask=key_padding_mask,
                               need_weights=need_weights)
        x = x + a
        if memory is not None:
            a, weights = self.cross_attn(self.ln_x(x), memory, need_weights=need_weights)
            x = x + a
        return x + self.mlp(self.ln_2(x)), weights


def gpt2_init_(model: nn.Module, n_layers: int) -> nn.Module:
    """GPT-2's initialization, in place: linear and embedding weights ~ N(0, 0.02^2), biases 0,
    and the residual projections (every ``c_proj``) ~ N(0, (0.02 / sqrt(2 n_layers))^2), so the
    residual stream's variance does not grow with depth. LayerNorms keep (1, 0). Returns
    ``model``."""
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)
    for name, p in model.named_parameters():
        if name.endswith("c_proj.weight"):
            nn.init.normal_(p, std=0.02 / math.sqrt(2 * n_layers))
    return model
