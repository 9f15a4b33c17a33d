"""Fused Triton kernels for plain deformable attention (given point weights; VREMD's DA ablation).

The sampling is the one of :mod:`posemods.triton.deformable_cross_attention` (grid_sample's
bilinear, zero padding, one-sided location gradient at pixel centres) without keys or softmax:

Forward, one program per (block of BLOCK_Q queries, batch element x head):
  out = sum_n a_n * v_n, the four corners of each v_n gathered and blended in registers.
Backward, same grid, samples recomputed:
  da_n = <dO, v_n>                        (owned by the program: plain stores)
  dV  += w_c * a_n * dO at each corner c    (scattered: fp32 atomics)
  dloc = (W, H) * a_n * sum_c dw_c/d(fx, fy) * <dO, value_c>
Under ``torch.use_deterministic_algorithms(True)`` the op runs the reference backward instead.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from posemods._ops.deformable_attention import RECORD
from posemods.triton._bilinear import corner, pixel_position, query_block
from posemods.triton._common import MAX_HEAD_DIM, SUPPORTED_DTYPES, launch

# (BLOCK_Q * BLOCK_DV, warps) per kernel: the cross-attention kernels' forward tile, which ptxas puts
# at 40-48 registers (forward) and 48-96 (backward) with no spills on sm_80 and sm_90 for Dv 8 to 256.
TILE = {"forward": (512, 4), "backward": (512, 4)}


@triton.jit
def _forward_kernel(
    v_ptr, loc_ptr, attn_ptr, out_ptr,
    Lq, H, W, G, N,
    DV: tl.constexpr, BLOCK_Q: tl.constexpr, BLOCK_DV: tl.constexpr,
):  # fmt: skip
    bg, block = query_block(Lq, BLOCK_Q)
    b = (bg // G).to(tl.int64)
    g = bg % G
    rows = block * BLOCK_Q + tl.arange(0, BLOCK_Q)
    row_ok = rows < Lq
    dv = tl.arange(0, BLOCK_DV)
    head_rows = (b * Lq + rows) * G + g  # index of (b, query, g) in (B, Lq, G)
    v_base = v_ptr + b * H * W * G * DV + g * DV

    acc = tl.zeros((BLOCK_Q, BLOCK_DV), dtype=tl.float32)
    for n in range(N):
        a = tl.load(attn_ptr + head_rows * N + n, mask=row_ok, other=0.0).to(tl.float32)
        loc = loc_ptr + (head_rows * N + n) * 2
        x0, y0, fx, fy = pixel_position(loc, row_ok, H, W)
        for c in tl.static_range(4):
            wx, wy, inside, pixel = corner(c, x0, y0, fx, fy, row_ok, H, W, G)
            vc = tl.load(v_base + pixel[:, None] * DV + dv[None, :], mask=inside[:, None] & (dv < DV)[None, :],
                         other=0.0)  # fmt: skip
            acc += (a * wx * wy)[:, None] * vc.to(tl.float32)

    mask = row_ok[:, None] & (dv < DV)[None, :]
    tl.store(out_ptr + head_rows[:, None] * DV + dv[None, :], acc.to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _backward_kernel(
    v_ptr, loc_ptr, attn_ptr, grad_out_ptr, grad_v_ptr, grad_loc_ptr, grad_attn_ptr,
    Lq, H, W, G, N,
    DV: tl.constexpr, BLOCK_Q: tl.constexpr, BLOCK_DV: tl.constexpr,
):  # fmt: skip
    bg, block = query_block(Lq, BLOCK_Q)
    b = (bg // G).to(tl.int64)
    g = bg % G
    rows = block * BLOCK_Q + tl.arange(0, BLOCK_Q)
    row_ok = rows < Lq
    dv = tl.arange(0, BLOCK_DV)
    head_rows = (b * Lq + rows) * G + g
    mask = row_ok[:, None] & (dv < DV)[None, :]
    do = tl.load(grad_out_ptr + head_rows[:, None] * DV + dv[None, :], mask=mask, other=0.0).to(tl.float32)
    v_base = v_ptr + b * H * W * G * DV + g * DV
    gv_base = grad_v_ptr + b * H * W * G * DV + g * DV

    for n in range(N):
        a = tl.load(attn_ptr + head_rows * N + n, mask=row_ok, other=0.0).to(tl.float32)
        loc = loc_ptr + (head_rows * N + n) * 2
        x0, y0, fx, fy = pixel_position(loc, row_ok, H, W)
        grad_a = tl.zeros((BLOCK_Q,), dtype=tl.float32)
        dov_dx = tl.zeros((BLOCK_Q,), dtype=tl.float32)
        dov_dy = tl.zeros((BLOCK_Q,), dtype=tl.float32)
        for c in tl.static_range(4):
            wx, wy, inside, pixel = corner(c, x0, y0, fx, fy, row_ok, H, W, G)
            sx = 1.0 if c % 2 == 1 else -1.0  # d wx / d fx
            sy = 1.0 if c // 2 == 1 else -1.0
            corner_mask = inside[:, None] & (dv < DV)[None, :]
            offsets = pixel[:, None] * DV + dv[None, :]
            vc = tl.load(v_base + offsets, mask=corner_mask, other=0.0).to(tl.float32)
            dov = tl.sum(do * vc, axis=1)
            grad_a += wx * wy * dov
            dov_dx += sx * wy * dov
            dov_dy += sy * wx * dov
            tl.atomic_add(gv_base + offsets, (a * wx * wy)[:, None] * do, mask=corner_mask, sem="relaxed")
        tl.store(grad_attn_ptr + head_rows * N + n, grad_a.to(grad_attn_ptr.dtype.element_ty), mask=row_ok)
        gloc = grad_loc_ptr + (head_rows * N + n) * 2
        tl.store(gloc, (a * dov_dx * W).to(grad_loc_ptr.dtype.element_ty), mask=row_ok)
        tl.store(gloc + 1, (a * dov_dy * H).to(grad_loc_ptr.dtype.element_ty), mask=row_ok)


def unsupported_reason(value: torch.Tensor, locations: torch.Tensor, attention: torch.Tensor) -> str:
    """``""`` when the kernels handle these inputs, otherwise why not."""
    if value.dtype not in SUPPORTED_DTYPES:
        return f"dtype {value.dtype} is not one of the kernels' {SUPPORTED_DTYPES}"
    if locations.dtype not in SUPPORTED_DTYPES:
        return f"locations dtype {locations.dtype} is not one of the kernels' {SUPPORTED_DTYPES}"
    if value.shape[-1] > MAX_HEAD_DIM:
        return f"head dim Dv={value.shape[-1]} exceeds the kernels' limit of {MAX_HEAD_DIM}"
    return ""


def launch_config(dim_v: int, kernel: str = "forward") -> dict[str, int]:
    """Tiles and warps of ``kernel``: Dv padded to a power of two (at least 16) and as many queries
    per program as keep the (BLOCK_Q, BLOCK_DV) tile at TILE[kernel] elements (at least 2)."""
    elements, warps = TILE[kernel]
    block_dv = max(16, triton.next_power_of_2(dim_v))
    block_q = max(2, min(64, elements // block_dv))
    return {"BLOCK_Q": block_q, "BLOCK_DV": block_dv, "num_warps": warps, "num_stages": 1}


def forward(value: torch.Tensor, locations: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
    batch, height, width, heads, dim_v = value.shape
    queries, points = locations.shape[1], locations.shape[3]
    value, locations, attention = value.contiguous(), locations.contiguous(), attention.contiguous()
    out = RECORD.forward_outputs(value, locations, attention)
    if out.numel() == 0:
        return out
    config = launch_config(dim_v)
    grid = (batch * heads * triton.cdiv(queries, config["BLOCK_Q"]),)
    launch(
        _forward_kernel, grid, value,
        value, locations, attention, out, queries, height, width, heads, points, DV=dim_v, **config,
    )  # fmt: skip
    return out


def backward(
    grad_out: torch.Tensor, value: torch.Tensor, locations: torch.Tensor, attention: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients for value (accumulated in float32), locations and attention."""
    batch, height, width, heads, dim_v = value.shape
    queries, points = locations.shape[1], locations.shape[3]
    # Incoming gradients may be expanded (stride 0) views, e.g. from .sum().backward().
    grad_out, value, locations, attention = (t.contiguous() for t in (grad_out, value, locations, attention))
    grad_v, grad_loc, grad_attn = (t.zero_() for t in RECORD.backward_outputs(value, locations, attention))
    if batch * queries * heads and points:
        config = launch_config(dim_v, "backward")
        grid = (batch * heads * triton.cdiv(queries, config["BLOCK_Q"]),)
        launch(
            _backward_kernel, grid, value,
            value, locations, attention, grad_out, grad_v, grad_loc, grad_attn,
            queries, height, width, heads, points, DV=dim_v, **config,
        )  # fmt: skip
    return grad_v.to(value.dtype), grad_loc, grad_attn
