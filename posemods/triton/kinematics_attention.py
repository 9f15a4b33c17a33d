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

The launchers write into outputs that the custom op allocates (:mod:`posemods._ops.kinematics_attention`,
the same allocation its fake returns), so nothing here imports the op layer above.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from posemods.triton._common import SUPPORTED_DTYPES, dot, dot_config, launch, program_blocks

MAX_JOINTS = 256  # BLOCK_K covers all joints in registers; beyond this it would spill
BLOCK_J = 16  # the smallest M that tl.dot accepts


@triton.jit
def _gram_accumulate(
    acc, a_base, a_rows, a_ok, b_base, b_rows, b_ok, P,
    BLOCK_P: tl.constexpr, DOT_PRECISION: tl.constexpr, UPCAST: tl.constexpr,
):  # fmt: skip
    """``acc + a[a_rows, :P] @ b[b_rows, :P]^T`` for row-major (rows, P) maps, reading P in chunks."""
    for p0 in range(0, P, BLOCK_P):
        p = p0 + tl.arange(0, BLOCK_P)
        p_ok = p < P
        a = tl.load(a_base + a_rows[:, None].to(tl.int64) * P + p[None, :], mask=a_ok[:, None] & p_ok[None, :],
                    other=0.0)  # fmt: skip
        b = tl.load(b_base + b_rows[:, None].to(tl.int64) * P + p[None, :], mask=b_ok[:, None] & p_ok[None, :],
                    other=0.0)  # fmt: skip
        acc = dot(a, tl.trans(b), acc, DOT_PRECISION, UPCAST)
    return acc


@triton.jit
def _matmul_rows_store(
    small, src_base, src_rows, src_ok, dst_base, dst_rows, dst_ok, P,
    BLOCK_P: tl.constexpr, DOT_PRECISION: tl.constexpr, UPCAST: tl.constexpr,
):  # fmt: skip
    """``dst[dst_rows, :P] = small @ src[src_rows, :P]`` for row-major (rows, P) maps, in P chunks.

    ``small`` is a register tile (e.g. J x J attention); the maps stream through once.
    """
    for p0 in range(0, P, BLOCK_P):
        p = p0 + tl.arange(0, BLOCK_P)
        p_ok = p < P
        src = tl.load(src_base + src_rows[:, None].to(tl.int64) * P + p[None, :],
                      mask=src_ok[:, None] & p_ok[None, :], other=0.0)  # fmt: skip
        out = dot(small, src, None, DOT_PRECISION, UPCAST)
        tl.store(dst_base + dst_rows[:, None].to(tl.int64) * P + p[None, :], out.to(dst_base.dtype.element_ty),
                 mask=dst_ok[:, None] & p_ok[None, :])  # fmt: skip


@triton.jit
def _normalize(logits, col_ok, J, SUM_NORM: tl.constexpr):
    """Eq. 10 on a (BLOCK_J, BLOCK_K) tile of scaled logits: the softmax over the valid key joints, or
    with ``SUM_NORM`` the printed ``o / sum_l o``, a row summing to exactly 0 giving 1 / J to every
    joint. Returns the attention (padded columns 0) and each row's normaliser (sum of exp, or sum)."""
    if SUM_NORM:
        o = tl.where(col_ok[None, :], logits, 0.0)
        total = tl.sum(o, axis=1)
        # ``total == 0`` rather than ``> 0``: a NaN total must stay NaN (NaN in, NaN out).
        safe = tl.where(total == 0.0, 1.0, total)
        attn = tl.where(total[:, None] == 0.0, 1.0 / J, o / safe[:, None])
        attn = tl.where(col_ok[None, :], attn, 0.0)
    else:
        logits = tl.where(col_ok[None, :], logits, float("-inf"))
        row_max = tl.max(logits, axis=1)
        expd = tl.exp(logits - row_max[:, None])
        total = tl.sum(expd, axis=1)
        attn = expd / total[:, None]
    return attn, total


@triton.jit
def _joint_blocks(J, BLOCK_J: tl.constexpr, BLOCK_K: tl.constexpr):
    """``(b, own, every, own_ok, every_ok)``: this program's batch element (int64, see
    :func:`~posemods.triton._common.program_blocks`), its block of BLOCK_J joints, all the joints (BLOCK_K
    cover them) and which of each are real (< J)."""
    b, block = program_blocks(J, BLOCK_J)
    own = block * BLOCK_J + tl.arange(0, BLOCK_J)
    every = tl.arange(0, BLOCK_K)
    return b, own, every, own < J, every < J


@triton.jit
def _forward_kernel(
    q_ptr, k_ptr, v_ptr, pred_ptr, attn_ptr, norm_ptr,
    J, P, PV, scale,
    SUM_NORM: tl.constexpr,
    BLOCK_J: tl.constexpr, BLOCK_K: tl.constexpr, BLOCK_P: tl.constexpr, BLOCK_PV: tl.constexpr,
    DOT_PRECISION: tl.constexpr, UPCAST: tl.constexpr,
):  # fmt: skip
    # This program's query joints `rows` attend to every key joint `cols`.
    b, rows, cols, row_ok, col_ok = _joint_blocks(J, BLOCK_J, BLOCK_K)

    logits = tl.zeros((BLOCK_J, BLOCK_K), dtype=tl.float32)
    logits = _gram_accumulate(logits, q_ptr + b * J * P, rows, row_ok, k_ptr + b * J * P, cols, col_ok, P,
                             BLOCK_P, DOT_PRECISION, UPCAST)  # fmt: skip
    attn, total = _normalize(logits * scale, col_ok, J, SUM_NORM)
    # The attention is stored, and saved for backward, in fp32 whatever the inputs' dtype: the backward
    # then differentiates the attention the forward computed, not an 8-bit (bf16) rounding of it.
    tl.store(attn_ptr + b * J * J + rows[:, None] * J + cols[None, :], attn, mask=row_ok[:, None] & col_ok[None, :])
    tl.store(norm_ptr + b * J + rows, total, mask=row_ok)

    _matmul_rows_store(attn.to(v_ptr.dtype.element_ty), v_ptr + b * J * PV, cols, col_ok,
                      pred_ptr + b * J * PV, rows, row_ok, PV, BLOCK_PV, DOT_PRECISION, UPCAST)  # fmt: skip


@triton.jit
def _backward_rows_kernel(
    grad_pred_ptr, grad_attn_ptr, k_ptr, v_ptr, attn_ptr, norm_ptr, dlogits_ptr, grad_q_ptr,
    J, P, PV, scale,
    HAS_GRAD_ATTN: tl.constexpr, SUM_NORM: tl.constexpr,
    BLOCK_J: tl.constexpr, BLOCK_K: tl.constexpr, BLOCK_P: tl.constexpr, BLOCK_PV: tl.constexpr,
    DOT_PRECISION: tl.constexpr, UPCAST: tl.constexpr,
):  # fmt: skip
    b, rows, cols, row_ok, col_ok = _joint_blocks(J, BLOCK_J, BLOCK_K)
    jj_mask = row_ok[:, None] & col_ok[None, :]
    jj_offsets = b * J * J + rows[:, None] * J + cols[None, :]

    # dA = dPred @ V^T (+ the gradient arriving at the attention output itself).
    grad_attn = tl.zeros((BLOCK_J, BLOCK_K), dtype=tl.float32)
    grad_attn = _gram_accumulate(grad_attn, grad_pred_ptr + b * J * PV, rows, row_ok, v_ptr + b * J * PV, cols,
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
    _matmul_rows_store(dlogits.to(k_ptr.dtype.element_ty), k_ptr + b * J * P, cols, col_ok,
                      grad_q_ptr + b * J * P, rows, row_ok, P, BLOCK_P, DOT_PRECISION, UPCAST)  # fmt: skip


@triton.jit
def _backward_cols_kernel(
    grad_pred_ptr, q_ptr, attn_ptr, dlogits_ptr, grad_k_ptr, grad_v_ptr,
    J, P, PV,
    BLOCK_J: tl.constexpr, BLOCK_K: tl.constexpr, BLOCK_P: tl.constexpr, BLOCK_PV: tl.constexpr,
    DOT_PRECISION: tl.constexpr, UPCAST: tl.constexpr,
):  # fmt: skip
    # This program owns key joints `keys` and reduces over every query joint `rows`.
    b, keys, rows, key_ok, row_ok = _joint_blocks(J, BLOCK_J, BLOCK_K)
    # Transposed (key, query) tiles of dS and A.
    t_offsets = b * J * J + rows[None, :] * J + keys[:, None]
    t_mask = key_ok[:, None] & row_ok[None, :]
    dlogits_t = tl.load(dlogits_ptr + t_offsets, mask=t_mask, other=0.0).to(q_ptr.dtype.element_ty)
    attn_t = tl.load(attn_ptr + t_offsets, mask=t_mask, other=0.0).to(grad_pred_ptr.dtype.element_ty)

    # dK = dS^T @ Q and dV = A^T @ dPred
    _matmul_rows_store(dlogits_t, q_ptr + b * J * P, rows, row_ok, grad_k_ptr + b * J * P, keys, key_ok, P,
                      BLOCK_P, DOT_PRECISION, UPCAST)  # fmt: skip
    _matmul_rows_store(attn_t, grad_pred_ptr + b * J * PV, rows, row_ok, grad_v_ptr + b * J * PV, keys, key_ok, PV,
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
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    scale: float,
    normalization: str,
    *,
    pred: torch.Tensor,
    attn: torch.Tensor,
    norm: torch.Tensor,
) -> None:
    """Write ``pred`` (B, J, Hv, Wv) in the inputs' dtype, ``attn`` (B, J, J) in fp32 and each row's
    normaliser ``norm`` (B, J) in fp32 (the sum of the logits for ``"sum"``, which its backward needs)
    into the contiguous outputs the custom op allocated."""
    batch, joints, height, width = query.shape
    if batch == 0:
        return
    query, key, value = query.contiguous(), key.contiguous(), value.contiguous()
    launch(
        _forward_kernel, (batch * triton.cdiv(joints, BLOCK_J),), query,
        query, key, value, pred, attn, norm,
        joints, height * width, value.shape[2] * value.shape[3], scale,
        SUM_NORM=normalization == "sum", **_config(joints, query.dtype),
    )  # fmt: skip


def backward(
    grad_pred: torch.Tensor,
    grad_attn: torch.Tensor | None,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attn: torch.Tensor,
    norm: torch.Tensor,
    scale: float,
    normalization: str,
    *,
    grad_q: torch.Tensor,
    grad_k: torch.Tensor,
    grad_v: torch.Tensor,
) -> None:
    """Write the gradients for query, key and value into the contiguous outputs the custom op allocated."""
    batch, joints, height, width = query.shape
    if batch == 0:
        return
    positions, value_positions = height * width, value.shape[2] * value.shape[3]
    # Incoming gradients may be expanded (stride 0) views, e.g. from .sum().backward().
    grad_pred = grad_pred.contiguous()
    grad_attn = None if grad_attn is None else grad_attn.contiguous()
    query, key, value = query.contiguous(), key.contiguous(), value.contiguous()
    attn, norm = attn.float().contiguous(), norm.float().contiguous()
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
