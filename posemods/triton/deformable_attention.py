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

The launchers write into outputs that the custom op allocates (:mod:`posemods._ops.deformable_attention`,
the same allocation its fake returns), so nothing here imports the op layer above.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from posemods.triton import _bilinear as bilinear
from posemods.triton._common import SUPPORTED_DTYPES, launch

# (BLOCK_Q * BLOCK_DV, warps) per kernel: the cross-attention kernels' forward tile, which ptxas puts
# at 40-48 registers (forward) and 48-96 (backward) with no spills on sm_80 and sm_90 for Dv 8 to 256.
TILE = {"forward": (512, 4), "backward": (512, 4)}


@triton.jit
def _forward_kernel(
    v_ptr, loc_ptr, attn_ptr, out_ptr,
    Lq, H, W, G, N,
    DV: tl.constexpr, BLOCK_Q: tl.constexpr, BLOCK_DV: tl.constexpr,
):  # fmt: skip
    b, g, head_rows, row_ok = bilinear.program_queries(Lq, G, BLOCK_Q)
    dv = tl.arange(0, BLOCK_DV)
    v_base = bilinear.head_map(v_ptr, b, g, H, W, G, DV)

    acc = tl.zeros((BLOCK_Q, BLOCK_DV), dtype=tl.float32)
    for n in range(N):
        point = head_rows * N + n
        a = tl.load(attn_ptr + point, mask=row_ok, other=0.0).to(tl.float32)
        x0, y0, fx, fy = bilinear.pixel_position(loc_ptr + point * 2, row_ok, H, W)
        for c in tl.static_range(4):
            wx, wy, inside, pixel = bilinear.corner(c, x0, y0, fx, fy, row_ok, H, W, G)
            acc += (a * wx * wy)[:, None] * bilinear.gather(v_base, pixel, inside, dv, DV)

    bilinear.store_queries(out_ptr, head_rows, row_ok, dv, DV, acc)


@triton.jit
def _backward_kernel(
    v_ptr, loc_ptr, attn_ptr, grad_out_ptr, grad_v_ptr, grad_loc_ptr, grad_attn_ptr,
    Lq, H, W, G, N,
    DV: tl.constexpr, BLOCK_Q: tl.constexpr, BLOCK_DV: tl.constexpr,
):  # fmt: skip
    b, g, head_rows, row_ok = bilinear.program_queries(Lq, G, BLOCK_Q)
    dv = tl.arange(0, BLOCK_DV)
    do = bilinear.load_queries(grad_out_ptr, head_rows, row_ok, dv, DV)
    v_base = bilinear.head_map(v_ptr, b, g, H, W, G, DV)
    gv_base = bilinear.head_map(grad_v_ptr, b, g, H, W, G, DV)

    for n in range(N):
        point = head_rows * N + n
        a = tl.load(attn_ptr + point, mask=row_ok, other=0.0).to(tl.float32)
        x0, y0, fx, fy = bilinear.pixel_position(loc_ptr + point * 2, row_ok, H, W)
        grad_a, dov_dx, dov_dy = bilinear.zero_blend(BLOCK_Q)
        for c in tl.static_range(4):
            wx, wy, inside, pixel = bilinear.corner(c, x0, y0, fx, fy, row_ok, H, W, G)
            dw_dx, dw_dy = bilinear.weight_slopes(c, wx, wy)
            # The values and their gradient share one set of offsets: gather() and scatter_add() would each
            # form base + pixel * Dv, which costs ptxas 8 more registers at Dv = 256 on sm_90.
            corner_mask = inside[:, None] & (dv < DV)[None, :]
            offsets = pixel[:, None] * DV + dv[None, :]
            dov = tl.sum(do * tl.load(v_base + offsets, mask=corner_mask, other=0.0).to(tl.float32), axis=1)
            grad_a, dov_dx, dov_dy = bilinear.blend_with_slopes(dov, wx, wy, dw_dx, dw_dy, grad_a, dov_dx, dov_dy)
            tl.atomic_add(gv_base + offsets, (a * wx * wy)[:, None] * do, mask=corner_mask, sem="relaxed")
        tl.store(grad_attn_ptr + point, grad_a.to(grad_attn_ptr.dtype.element_ty), mask=row_ok)
        bilinear.store_location_grad(grad_loc_ptr, point, a * dov_dx * W, a * dov_dy * H, row_ok)


def unsupported_reason(value: torch.Tensor, locations: torch.Tensor, attention: torch.Tensor) -> str:
    """``""`` when the kernels handle these inputs, otherwise why not."""
    if value.dtype not in SUPPORTED_DTYPES:
        return f"dtype {value.dtype} is not one of the kernels' {SUPPORTED_DTYPES}"
    if locations.dtype not in SUPPORTED_DTYPES:
        return f"locations dtype {locations.dtype} is not one of the kernels' {SUPPORTED_DTYPES}"
    if value.shape[-1] > bilinear.MAX_HEAD_DIM:
        return f"head dim Dv={value.shape[-1]} exceeds the kernels' limit of {bilinear.MAX_HEAD_DIM}"
    return ""


def launch_config(dim_v: int, kernel: str = "forward") -> dict[str, int]:
    """Tiles and warps of ``kernel``: Dv padded to a power of two (at least 16) and as many queries
    per program as keep the (BLOCK_Q, BLOCK_DV) tile at TILE[kernel] elements (at least 2)."""
    elements, warps = TILE[kernel]
    block_dv = max(16, triton.next_power_of_2(dim_v))
    block_q = max(2, min(64, elements // block_dv))
    return {"BLOCK_Q": block_q, "BLOCK_DV": block_dv, "num_warps": warps, "num_stages": 1}


def forward(value: torch.Tensor, locations: torch.Tensor, attention: torch.Tensor, *, out: torch.Tensor) -> None:
    """Write the output (B, Lq, G, Dv) into the contiguous tensor the custom op allocated."""
    batch, height, width, heads, dim_v = value.shape
    queries, points = locations.shape[1], locations.shape[3]
    if out.numel() == 0:
        return
    value, locations, attention = value.contiguous(), locations.contiguous(), attention.contiguous()
    config = launch_config(dim_v)
    grid = (batch * heads * triton.cdiv(queries, config["BLOCK_Q"]),)
    launch(
        _forward_kernel, grid, value,
        value, locations, attention, out, queries, height, width, heads, points, DV=dim_v, **config,
    )  # fmt: skip


def backward(
    grad_out: torch.Tensor,
    value: torch.Tensor,
    locations: torch.Tensor,
    attention: torch.Tensor,
    *,
    grad_v: torch.Tensor,
    grad_loc: torch.Tensor,
    grad_attn: torch.Tensor,
) -> None:
    """Write the gradients for value (accumulated in float32: ``grad_v`` is fp32), locations and
    attention into the contiguous outputs the custom op allocated."""
    batch, height, width, heads, dim_v = value.shape
    queries, points = locations.shape[1], locations.shape[3]
    for grad in (grad_v, grad_loc, grad_attn):  # grad_v accumulates atomics; the others stay 0 with no points
        grad.zero_()
    if not (batch * queries * heads and points):
        return
    # Incoming gradients may be expanded (stride 0) views, e.g. from .sum().backward().
    grad_out, value, locations, attention = (t.contiguous() for t in (grad_out, value, locations, attention))
    config = launch_config(dim_v, "backward")
    grid = (batch * heads * triton.cdiv(queries, config["BLOCK_Q"]),)
    launch(
        _backward_kernel, grid, value,
        value, locations, attention, grad_out, grad_v, grad_loc, grad_attn,
        queries, height, width, heads, points, DV=dim_v, **config,
    )  # fmt: skip
