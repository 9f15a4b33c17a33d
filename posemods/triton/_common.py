"""Helpers shared by every posemods kernel."""

from __future__ import annotations

import os

import torch
import triton
import triton.language as tl


@triton.jit
def dot(a, b, acc, DOT_PRECISION: tl.constexpr, UPCAST: tl.constexpr):
    """``tl.dot(a, b, acc)`` that upcasts to fp32 when ``UPCAST``.

    Triton's interpreter multiplies the raw bit patterns of bfloat16 ``tl.dot`` operands
    (triton-lang/triton#11584), so launchers set ``UPCAST`` only when interpreting bf16. Compiled
    kernels never take that branch: it is a constexpr and vanishes.
    """
    if UPCAST:
        return tl.dot(a.to(tl.float32), b.to(tl.float32), acc, input_precision="ieee")
    return tl.dot(a, b, acc, input_precision=DOT_PRECISION)


def dot_config(dtype: torch.dtype) -> dict[str, object]:
    """Constexprs for :func:`dot`. fp32 uses TF32 only if torch's matmul would
    (``torch.backends.cuda.matmul.allow_tf32``); fp16/bf16 multiply natively with fp32 accumulation."""
    interpreting = os.environ.get("TRITON_INTERPRET", "0") == "1"
    precision = "tf32" if dtype == torch.float32 and torch.backends.cuda.matmul.allow_tf32 else "ieee"
    return {"DOT_PRECISION": precision, "UPCAST": interpreting and dtype == torch.bfloat16}


@triton.jit
def gram_accumulate(
    acc, a_base, a_rows, a_ok, b_base, b_rows, b_ok, P,
    BLOCK_P: tl.constexpr, DOT_PRECISION: tl.constexpr, UPCAST: tl.constexpr,
):  # fmt: skip
    """``acc + a[a_rows, :P] @ b[b_rows, :P]^T`` for row-major (rows, P) maps, reading P in chunks."""
    for p0 in range(0, P, BLOCK_P):
        p = p0 + tl.arange(0, BLOCK_P)
        p_ok = p < P
        a = tl.load(a_base + a_rows[:, None] * P + p[None, :], mask=a_ok[:, None] & p_ok[None, :], other=0.0)
        b = tl.load(b_base + b_rows[:, None] * P + p[None, :], mask=b_ok[:, None] & p_ok[None, :], other=0.0)
        acc = dot(a, tl.trans(b), acc, DOT_PRECISION, UPCAST)
    return acc


@triton.jit
def matmul_rows_store(
    small, src_base, src_rows, src_ok, dst_base, dst_rows, dst_ok, P,
    BLOCK_P: tl.constexpr, DOT_PRECISION: tl.constexpr, UPCAST: tl.constexpr,
):  # fmt: skip
    """``dst[dst_rows, :P] = small @ src[src_rows, :P]`` for row-major (rows, P) maps, in P chunks.

    ``small`` is a register tile (e.g. J x J attention); the maps stream through once.
    """
    for p0 in range(0, P, BLOCK_P):
        p = p0 + tl.arange(0, BLOCK_P)
        p_ok = p < P
        src = tl.load(src_base + src_rows[:, None] * P + p[None, :], mask=src_ok[:, None] & p_ok[None, :], other=0.0)
        out = dot(small, src, None, DOT_PRECISION, UPCAST)
        tl.store(dst_base + dst_rows[:, None] * P + p[None, :], out.to(dst_base.dtype.element_ty),
                 mask=dst_ok[:, None] & p_ok[None, :])  # fmt: skip
