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
