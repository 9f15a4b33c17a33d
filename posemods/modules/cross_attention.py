"""CrossAttention: queries from one token sequence, keys and values from another (BMD's cross branch).

Shapes use the vocabulary of :mod:`posemods._shapes`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from posemods._shapes import (
    expect_inputs,
    expect_module_dtype,
    expect_positive,
)


class CrossAttention(nn.Module):
    """Multi-head attention of x's tokens over a context's tokens, through ``F.scaled_dot_product_attention``.

    For x (B, Lq, C) and context (B, L, Cz), per head g with D = C / G:

        q = W_q x,  k = W_k context,  v = W_v context,
        out = W_o concat_g softmax_l(q_g k_gᵀ / sqrt(D)) v_g                          (B, Lq, C)

    In BMD the queries are a motion stream's tokens and the context is the enhanced feature F, so each
    motion token gathers the appearance features it matches, anywhere on the grid (the global
    counterpart of DCA's few sampled points). timm has self-attention (``timm.layers.Attention``) but
    no cross-attention layer, so this is its cross-attention twin: same projections, same SDPA call,
    which is fused (flash / memory-efficient) on GPU and never writes out the (Lq, L) map there.

    A NaN anywhere in a query token makes that token's output NaN, as the formula does (CPU SDPA alone
    would return zeros there). NaN in the context spreads to every query through the softmax.

    Args:
        dim: C, the width of x, of q, k, v and of the output.
        num_heads: G; C must be a multiple of it.
        context_dim: Cz, the width of the context; default C.
        qkv_bias: bias in W_q, W_k and W_v.
    """

    def __init__(self, dim: int, num_heads: int = 8, context_dim: int | None = None, qkv_bias: bool = True) -> None:
        super().__init__()
        expect_positive("dim", dim)
        expect_positive("num_heads", num_heads)
        if dim % num_heads:
            raise ValueError(f"dim: expected a multiple of num_heads={num_heads}, got {dim}")
        if context_dim is not None:
            expect_positive("context_dim", context_dim)
        self.dim, self.num_heads = dim, num_heads
        self.context_dim = dim if context_dim is None else context_dim
        self.q_proj = nn.Linear(dim, dim, bias=qkv_bias)  # W_q
        self.kv_proj = nn.Linear(self.context_dim, 2 * dim, bias=qkv_bias)  # [W_k; W_v], one matmul
        self.out_proj = nn.Linear(dim, dim)  # W_o

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        """x (B, Lq, C) queries, context (B, L, Cz) keys and values. Returns (B, Lq, C)."""
        dims = expect_inputs({"C": self.dim, "Cz": self.context_dim}, x=(x, "B Lq C"), context=(context, "B L Cz"))
        expect_module_dtype("x", x, self)  # also checks the device
        expect_module_dtype("context", context, self)
        batch, queries, length = dims["B"], dims["Lq"], dims["L"]
        heads, head_dim = self.num_heads, self.dim // self.num_heads

        query = self.q_proj(x).view(batch, queries, heads, head_dim).transpose(1, 2)  # (B, G, Lq, D)
        # unbind, not tuple unpacking: iterating over a tensor is what torch.jit.trace warns about.
        key, value = self.kv_proj(context).view(batch, length, 2, heads, head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        out = F.scaled_dot_product_attention(query, key, value)  # (B, G, Lq, D), scale 1 / sqrt(D)
        # CPU SDPA returns 0 for a query row whose logits are all NaN (its flash kernel skips the row);
        # the maths gives NaN there, and NaN in must give NaN out. One isnan per query and head.
        out = torch.where(query.isnan().any(-1, keepdim=True), query.new_tensor(float("nan")), out)
        return self.out_proj(out.transpose(1, 2).reshape(batch, queries, self.dim))

    def extra_repr(self) -> str:
        return f"dim={self.dim}, num_heads={self.num_heads}, context_dim={self.context_dim}"
