"""Fused Triton kernels for kinematics attention (KIMNet eq. 8-11).

Forward, one program per (block of BLOCK_J query joints, batch element):
  1. reduce over the H*W positions in BLOCK_P chunks into a (BLOCK_J, BLOCK_K) logit tile held in
     registers (BLOCK_K covers every key joint);
  2. softmax over the key joints in registers, and store the (B, J, J) attention (an output);
  3. stream the value maps in BLOCK_PV chunks and store attn @ value.
No (B, J, H*W)-sized intermediate is written; only the outputs are.

Backward, two kernels and no atomics, so results are bitwise reproducible:
  rows    (per query block): dA = dPred @ V^T (+ dAttn), dS = A * (dA - rowsum(A * dA)), store dS,
          dQ = scale * dS @ K;
  columns (per key block):   dK = scale * dS^T @ Q, dV = A^T @ dPred.
The J x J tiles are tiny; every pass streams the maps once.

Dots go through :func:`posemods.triton._common.dot`: TF32 for fp32 only when torch's matmul would
use it, native fp16/bf16 with fp32 accumulation otherwise.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from posemods.triton._common import dot_config, gram_accumulate, matmul_rows_store

MAX_JOINTS = 256  # BLOCK_K covers all joints in registers; beyond this it would spill
BLOCK_J = 16  # the smallest M that tl.dot accepts
SUPPORTED_DTYPES = (torch.float32, torch.float16, torch.bfloat16)


@triton.jit
def _forward_kernel(
    q_ptr, k_ptr, v_ptr, pred_ptr, attn_ptr,
    J, P, PV, scale,
    BLOCK_J: tl.constexpr, BLOCK_K: tl.constexpr, BLOCK_P: tl.constexpr, BLOCK_PV: tl.constexpr,
    DOT_PRECISION: tl.constexpr, UPCAST: tl.constexpr,
):  # fmt: skip
    b = tl.program_id(1).to(tl.int64)
    rows = tl.program_id(0) * BLOCK_J + tl.arange(0, BLOCK_J)  # this block's query joints
    cols = tl.arange(0, BLOCK_K)  # every key joint
    row_ok = rows < J
    col_ok = cols < J

    logits = tl.zeros((BLOCK_J, BLOCK_K), dtype=tl.float32)
    logits = gram_accumulate(logits, q_ptr + b * J * P, rows, row_ok, k_ptr + b * J * P, cols, col_ok, P,
                             BLOCK_P, DOT_PRECISION, UPCAST)  # fmt: skip
    logits = tl.where(col_ok[None, :], logits * scale, float("-inf"))
    row_max = tl.max(logits, axis=1)
    expd = tl.exp(logits - row_max[:, None])
    attn = (expd / tl.sum(expd, axis=1)[:, None]).to(attn_ptr.dtype.element_ty)
    tl.store(attn_ptr + b * J * J + rows[:, None] * J + cols[None, :], attn, mask=row_ok[:, None] & col_ok[None, :])

    matmul_rows_store(attn.to(v_ptr.dtype.element_ty), v_ptr + b * J * PV, cols, col_ok,
                      pred_ptr + b * J * PV, rows, row_ok, PV, BLOCK_PV, DOT_PRECISION, UPCAST)  # fmt: skip


@triton.jit
def _backward_rows_kernel(
    grad_pred_ptr, grad_attn_ptr, k_ptr, v_ptr, attn_ptr, dlogits_ptr, grad_q_ptr,
    J, P, PV, scale,
    HAS_GRAD_ATTN: tl.constexpr,
    BLOCK_J: tl.constexpr, BLOCK_K: tl.constexpr, BLOCK_P: tl.constexpr, BLOCK_PV: tl.constexpr,
    DOT_PRECISION: tl.constexpr, UPCAST: tl.constexpr,
):  # fmt: skip
    b = tl.program_id(1).to(tl.int64)
    rows = tl.program_id(0) * BLOCK_J + tl.arange(0, BLOCK_J)
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

    # Softmax backward along each row; padded columns have attn = 0 and so contribute nothing.
    attn = tl.load(attn_ptr + jj_offsets, mask=jj_mask, other=0.0).to(tl.float32)
    dlogits = attn * (grad_attn - tl.sum(attn * grad_attn, axis=1)[:, None]) * scale
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
    b = tl.program_id(1).to(tl.int64)
    keys = tl.program_id(0) * BLOCK_J + tl.arange(0, BLOCK_J)
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


def launch_config(joints: int) -> dict[str, int]:
    """Tiles and warps for J joints. BLOCK_K spans every joint, and the map chunks shrink as it grows,
    so a (BLOCK_K, BLOCK_P) tile stays near 1024 elements. Chosen from ptxas sweeps on sm_90: at
    J=17 this gives about 64 registers; at J=133 (BLOCK_K=256) 8 warps keep it spill-free."""
    block_k = max(16, triton.next_power_of_2(joints))
    block_p = max(16, min(64, 1024 // block_k))
    return {
        "BLOCK_J": BLOCK_J, "BLOCK_K": block_k, "BLOCK_P": block_p, "BLOCK_PV": block_p,
        "num_warps": 4 if block_k <= 64 else 8, "num_stages": 2,
    }  # fmt: skip


def forward(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, scale: float
) -> tuple[torch.Tensor, torch.Tensor]:
    batch, joints, height, width = query.shape
    query, key, value = query.contiguous(), key.contiguous(), value.contiguous()
    pred = torch.empty_like(value)
    attn = torch.empty((batch, joints, joints), device=query.device, dtype=query.dtype)
    if batch == 0:
        return pred, attn
    grid = (triton.cdiv(joints, BLOCK_J), batch)
    _forward_kernel[grid](
        query, key, value, pred, attn,
        joints, height * width, value.shape[2] * value.shape[3], scale,
        **launch_config(joints), **dot_config(query.dtype),
    )  # fmt: skip
    return pred, attn


def backward(
    grad_pred: torch.Tensor,
    grad_attn: torch.Tensor | None,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attn: torch.Tensor,
    scale: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    batch, joints, height, width = query.shape
    positions, value_positions = height * width, value.shape[2] * value.shape[3]
    # Incoming gradients may be expanded (stride 0) views, e.g. from .sum().backward().
    grad_pred = grad_pred.contiguous()
    grad_attn = None if grad_attn is None else grad_attn.contiguous()
    query, key, value, attn = query.contiguous(), key.contiguous(), value.contiguous(), attn.contiguous()
    grad_q, grad_k, grad_v = torch.empty_like(query), torch.empty_like(key), torch.empty_like(value)
    if batch == 0:
        return grad_q, grad_k, grad_v
    dlogits = torch.empty((batch, joints, joints), device=query.device, dtype=torch.float32)
    config = {**launch_config(joints), **dot_config(query.dtype)}
    grid = (triton.cdiv(joints, BLOCK_J), batch)
    _backward_rows_kernel[grid](
        grad_pred, grad_attn if grad_attn is not None else attn, key, value, attn, dlogits, grad_q,
        joints, positions, value_positions, scale, HAS_GRAD_ATTN=grad_attn is not None, **config,
    )  # fmt: skip
    _backward_cols_kernel[grid](
        grad_pred, query, attn, dlogits, grad_k, grad_v, joints, positions, value_positions, **config
    )
    return grad_q, grad_k, grad_v


def _aot_specs():
    from posemods.triton.report import KernelSpec, pointer_signature

    specs = []
    for dtype, tname in ((torch.float32, "fp32"), (torch.bfloat16, "bf16"), (torch.float16, "fp16")):
        for joints in (17, 133):
            config = launch_config(joints)
            launch = {"num_warps": config.pop("num_warps"), "num_stages": config.pop("num_stages")}
            blocks = {**config, "DOT_PRECISION": "tf32" if dtype == torch.float32 else "ieee", "UPCAST": False}
            sizes = {"J": "i32", "P": "i32", "PV": "i32"}
            tag = f"{tname}, J={joints}"
            specs += [
                KernelSpec(
                    f"kmm_forward ({tag})", _forward_kernel,
                    {**pointer_signature(q_ptr=tname, k_ptr=tname, v_ptr=tname, pred_ptr=tname, attn_ptr=tname),
                     **sizes, "scale": "fp32"},
                    blocks, **launch,
                ),
                KernelSpec(
                    f"kmm_backward_rows ({tag})", _backward_rows_kernel,
                    {**pointer_signature(grad_pred_ptr=tname, grad_attn_ptr=tname, k_ptr=tname, v_ptr=tname,
                                         attn_ptr=tname, dlogits_ptr="fp32", grad_q_ptr=tname),
                     **sizes, "scale": "fp32"},
                    {**blocks, "HAS_GRAD_ATTN": True}, **launch,
                ),
                KernelSpec(
                    f"kmm_backward_cols ({tag})", _backward_cols_kernel,
                    {**pointer_signature(grad_pred_ptr=tname, q_ptr=tname, attn_ptr=tname, dlogits_ptr="fp32",
                                         grad_k_ptr=tname, grad_v_ptr=tname), **sizes},
                    blocks, **launch,
                ),
            ]  # fmt: skip
    return specs


AOT_SPECS = _aot_specs()
