"""Fused Triton kernels for kinematics attention (KIMNet eq. 8-11).

Forward, one program per (block of BLOCK_J query joints, batch element), all on grid axis 0:
  1. reduce over the H*W positions in BLOCK_P chunks into a (BLOCK_J, BLOCK_K) logit tile held in
     registers (BLOCK_K covers every key joint);
  2. normalise over the key joints in registers (eq. 10: a softmax, or with SUM_NORM the printed
     ``o / sum_l o``), and store the (B, J, J) attention in fp32 and each row's normaliser (B, J);
  3. stream the value maps in BLOCK_PV chunks and store attn @ value.
No (B, J, H*W)-sized intermediate is written; only the outputs are.

Backward, two kernels and no atomics, so results are bitwise reproducible:
  rows    (per query block): dA = dPred @ V^T (+ dAttn), then dS = scale * A * (dA - rowsum(A * dA))
          (softmax) or dS = scale * (dA - rowsum(A * dA)) / s (sum; 0 where s = 0), store dS,
          dQ = dS @ K;
  columns (per key block):   dK = dS^T @ Q, dV = A^T @ dPred.
The J x J tiles are tiny; every pass streams the maps once.

Dots go through :func:`posemods.triton._common.dot`: TF32 for fp32 only when torch's matmul would
use it, native fp16/bf16 with fp32 accumulation otherwise.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from posemods._ops.kinematics_attention import RECORD
from posemods.triton._common import (
    SUPPORTED_DTYPES,
    dot_config,
    gram_accumulate,
    kmm_normalize,
    launch,
    matmul_rows_store,
    program_blocks,
)

MAX_JOINTS = 256  # BLOCK_K covers all joints in registers; beyond this it would spill
BLOCK_J = 16  # the smallest M that tl.dot accepts
NORMALIZATIONS = ("softmax", "sum")  # KIMNet eq. 10: the text's softmax, or the printed o / sum_l o


@triton.jit
def _forward_kernel(
    q_ptr, k_ptr, v_ptr, pred_ptr, attn_ptr, norm_ptr,
    J, P, PV, scale,
    SUM_NORM: tl.constexpr,
    BLOCK_J: tl.constexpr, BLOCK_K: tl.constexpr, BLOCK_P: tl.constexpr, BLOCK_PV: tl.constexpr,
    DOT_PRECISION: tl.constexpr, UPCAST: tl.constexpr,
):  # fmt: skip
    b, block = program_blocks(J, BLOCK_J)
    rows = block * BLOCK_J + tl.arange(0, BLOCK_J)  # this block's query joints
    cols = tl.arange(0, BLOCK_K)  # every key joint
    row_ok = rows < J
    col_ok = cols < J

    logits = tl.zeros((BLOCK_J, BLOCK_K), dtype=tl.float32)
    logits = gram_accumulate(logits, q_ptr + b * J * P, rows, row_ok, k_ptr + b * J * P, cols, col_ok, P,
                             BLOCK_P, DOT_PRECISION, UPCAST)  # fmt: skip
    attn, total = kmm_normalize(logits * scale, col_ok, J, SUM_NORM)
    # The attention is stored, and saved for backward, in fp32 whatever the inputs' dtype: the backward
    # then differentiates the attention the forward computed, not an 8-bit (bf16) rounding of it.
    tl.store(attn_ptr + b * J * J + rows[:, None] * J + cols[None, :], attn, mask=row_ok[:, None] & col_ok[None, :])
    tl.store(norm_ptr + b * J + rows, total, mask=row_ok)

    matmul_rows_store(attn.to(v_ptr.dtype.element_ty), v_ptr + b * J * PV, cols, col_ok,
                      pred_ptr + b * J * PV, rows, row_ok, PV, BLOCK_PV, DOT_PRECISION, UPCAST)  # fmt: skip


@triton.jit
def _backward_rows_kernel(
    grad_pred_ptr, grad_attn_ptr, k_ptr, v_ptr, attn_ptr, norm_ptr, dlogits_ptr, grad_q_ptr,
    J, P, PV, scale,
    HAS_GRAD_ATTN: tl.constexpr, SUM_NORM: tl.constexpr,
    BLOCK_J: tl.constexpr, BLOCK_K: tl.constexpr, BLOCK_P: tl.constexpr, BLOCK_PV: tl.constexpr,
    DOT_PRECISION: tl.constexpr, UPCAST: tl.constexpr,
):  # fmt: skip
    b, block = program_blocks(J, BLOCK_J)
    rows = block * BLOCK_J + tl.arange(0, BLOCK_J)
    cols = tl.arange(0, BLOCK_K)
    row_ok = rows < J
    col_ok = cols < J
    jj_mask = row_ok[:, None] & col_ok[None, :]
    jj_offsets = b * J * J + rows[:, None] * J + cols[None, :]

    # dA = dPred @ V^T (+ the gradient arriving at the attention output itself).
    grad_attn = tl.zeros((BLOCK_J, BLOCK_K), dtype=tl.float32)
    grad_attn = gram_accumulate(grad_attn, grad_pred_ptr + b * J * PV, rows, row_ok, v_ptr + b * J * PV, cols,
                                col_ok, PV, BLOCK_PV, DOT_PRECISION, UPCAST)  # fmt: skip
    if HAS_GRAD_ATTN:
        grad_attn += tl.load(grad_attn_ptr + jj_offsets, mask=jj_mask, other=0.0).to(tl.float32)

    # Normalisation backward along each row; padded columns have attn = 0 and so contribute nothing.
    attn = tl.load(attn_ptr + jj_offsets, mask=jj_mask, other=0.0)
    centred = grad_attn - tl.sum(attn * grad_attn, axis=1)[:, None]
    if SUM_NORM:
        # w = o / s: dL/do_k = (dA_k - sum_i dA_i w_i) / s; a row with s = 0 is the constant 1 / J.
        total = tl.load(norm_ptr + b * J + rows, mask=row_ok, other=1.0)
        safe = tl.where(total == 0.0, 1.0, total)
        dlogits = tl.where((total[:, None] == 0.0) | ~jj_mask, 0.0, centred / safe[:, None]) * scale
    else:
        dlogits = attn * centred * scale
    tl.store(dlogits_ptr + jj_offsets, dlogits, mask=jj_mask)

    # dQ = dS @ K
    matmul_rows_store(dlogits.to(k_ptr.dtype.element_ty), k_ptr + b * J * P, cols, col_ok,
                      grad_q_ptr + b * J * P, rows, row_ok, P, BLOCK_P, DOT_PRECISION, UPCAST)  # fmt: skip


@triton.jit
def _backward_cols_kernel(
    grad_pred_ptr, q_ptr, attn_ptr, dlogits_ptr, grad_k_ptr, grad_v_ptr,
    J, P, PV,
    BLOCK_J: tl.constexpr, BLOCK_K: tl.constexpr, BLOCK_P: tl.constexpr, BLOCK_PV: tl.constexpr,
    DOT_PRECISION: tl.constexpr, UPCAST: tl.constexpr,
):  # fmt: skip
    # This program owns key joints `keys` and reduces over every query joint `rows`.
    b, block = program_blocks(J, BLOCK_J)
    keys = block * BLOCK_J + tl.arange(0, BLOCK_J)
    rows = tl.arange(0, BLOCK_K)
    key_ok = keys < J
    row_ok = rows < J
    # Transposed (key, query) tiles of dS and A.
    t_offsets = b * J * J + rows[None, :] * J + keys[:, None]
    t_mask = key_ok[:, None] & row_ok[None, :]
    dlogits_t = tl.load(dlogits_ptr + t_offsets, mask=t_mask, other=0.0).to(q_ptr.dtype.element_ty)
    attn_t = tl.load(attn_ptr + t_offsets, mask=t_mask, other=0.0).to(grad_pred_ptr.dtype.element_ty)

    # dK = dS^T @ Q and dV = A^T @ dPred
    matmul_rows_store(dlogits_t, q_ptr + b * J * P, rows, row_ok, grad_k_ptr + b * J * P, keys, key_ok, P,
                      BLOCK_P, DOT_PRECISION, UPCAST)  # fmt: skip
    matmul_rows_store(attn_t, grad_pred_ptr + b * J * PV, rows, row_ok, grad_v_ptr + b * J * PV, keys, key_ok, PV,
                      BLOCK_PV, DOT_PRECISION, UPCAST)  # fmt: skip


def unsupported_reason(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> str:
    """``""`` when the kernels handle these inputs, otherwise why not."""
    if query.dtype not in SUPPORTED_DTYPES:
        return f"dtype {query.dtype} is not one of the kernels' {SUPPORTED_DTYPES}"
    if query.shape[1] > MAX_JOINTS:
        return f"J={query.shape[1]} exceeds the kernels' limit of {MAX_JOINTS} joints"
    return ""


def launch_config(joints: int, fp32_ieee: bool = False, kernel: str = "forward") -> dict[str, int]:
    """Tiles and warps for J joints. BLOCK_K spans every joint, and the map chunks shrink as it grows,
    so a (BLOCK_K, BLOCK_P) tile stays near 1024 elements. Chosen from ptxas sweeps on sm_90: at
    J=17 this gives about 64 registers; at J=133 (BLOCK_K=256) 8 warps keep it spill-free, except the
    ``"rows"`` backward in fp32 with "ieee" dots (FMA, not tensor cores): 48 spill bytes on sm_80 at 8
    warps (255 registers), none at 16 (96). The forward goes the other way (16 warps spill 16 bytes on
    sm_80, 8 none), so only that kernel gets 16."""
    block_k = max(16, triton.next_power_of_2(joints))
    block_p = max(16, min(64, 1024 // block_k))
    warps = 4 if block_k <= 64 else (16 if fp32_ieee and kernel == "rows" and block_k > 128 else 8)
    return {
        "BLOCK_J": BLOCK_J, "BLOCK_K": block_k, "BLOCK_P": block_p, "BLOCK_PV": block_p,
        "num_warps": warps, "num_stages": 2,
    }  # fmt: skip


def _config(joints: int, dtype: torch.dtype, kernel: str = "forward") -> dict[str, object]:
    dots = dot_config(dtype)
    fp32_ieee = dtype == torch.float32 and dots["DOT_PRECISION"] == "ieee"
    return {**launch_config(joints, fp32_ieee, kernel), **dots}


def forward(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, scale: float, normalization: str = "softmax"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return ``pred`` (B, J, Hv, Wv) in the inputs' dtype, ``attn`` (B, J, J) in fp32 and each row's
    normaliser (B, J) in fp32 (the sum of the logits for ``"sum"``, which its backward needs)."""
    batch, joints, height, width = query.shape
    query, key, value = query.contiguous(), key.contiguous(), value.contiguous()
    pred, attn, norm = RECORD.forward_outputs(query, key, value)
    if batch == 0:
        return pred, attn, norm
    launch(
        _forward_kernel, (batch * triton.cdiv(joints, BLOCK_J),), query,
        query, key, value, pred, attn, norm,
        joints, height * width, value.shape[2] * value.shape[3], scale,
        SUM_NORM=normalization == "sum", **_config(joints, query.dtype),
    )  # fmt: skip
    return pred, attn, norm


def backward(
    grad_pred: torch.Tensor,
    grad_attn: torch.Tensor | None,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attn: torch.Tensor,
    norm: torch.Tensor,
    scale: float,
    normalization: str = "softmax",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    batch, joints, height, width = query.shape
    positions, value_positions = height * width, value.shape[2] * value.shape[3]
    # Incoming gradients may be expanded (stride 0) views, e.g. from .sum().backward().
    grad_pred = grad_pred.contiguous()
    grad_attn = None if grad_attn is None else grad_attn.contiguous()
    query, key, value = query.contiguous(), key.contiguous(), value.contiguous()
    attn, norm = attn.float().contiguous(), norm.float().contiguous()
    grad_q, grad_k, grad_v = RECORD.backward_outputs(query, key, value)
    if batch == 0:
        return grad_q, grad_k, grad_v
    dlogits = torch.empty((batch, joints, joints), device=query.device, dtype=torch.float32)
    grid = (batch * triton.cdiv(joints, BLOCK_J),)
    launch(
        _backward_rows_kernel, grid, query,
        grad_pred, grad_attn if grad_attn is not None else attn, key, value, attn, norm, dlogits, grad_q,
        joints, positions, value_positions, scale, HAS_GRAD_ATTN=grad_attn is not None,
        SUM_NORM=normalization == "sum", **_config(joints, query.dtype, "rows"),
    )  # fmt: skip
    launch(
        _backward_cols_kernel, grid, query,
        grad_pred, query, attn, dlogits, grad_k, grad_v, joints, positions, value_positions,
        **_config(joints, query.dtype, "cols"),
    )  # fmt: skip
    return grad_q, grad_k, grad_v
