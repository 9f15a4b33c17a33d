"""Fused Triton kernels for deformable cross attention (VREMD eq. 4).

Forward, one program per (block of BLOCK_Q queries, batch element x head): for each of the N points
it computes the pixel position, gathers the four neighbouring key and value rows (each a contiguous
D- or Dv-vector of the (B, H, W, G, D) maps), blends them bilinearly in registers and folds the point
into an online softmax and the output accumulator. Sampled keys and values never reach memory; the
only extra output is the logsumexp per (query, head) for the backward.

Backward, same grid, no stored samples: each point's samples are recomputed from the maps.
  p_n = exp(logit_n - lse),  delta = <dO, O>,  ds_n = p_n * (<dO, v_n> - delta)
  dQ   = scale * sum_n ds_n * k_n                       (owned by the program: plain stores)
  dK  += w_c * scale * ds_n * q at each corner c          (scattered: fp32 atomics)
  dV  += w_c * p_n * dO at each corner c                  (scattered: fp32 atomics)
  dloc = (W, H) * sum_c dw_c/d(fx, fy) * (scale * ds_n * <q, key_c> + p_n * <dO, value_c>)
The atomics make dK and dV depend on the order programs run in; under
``torch.use_deterministic_algorithms(True)`` the op runs the reference backward instead.

Bilinear sampling is grid_sample's (align_corners=False, zero padding): px = x * W - 0.5, corners
floor(px) and floor(px) + 1 with weights 1 - fx and fx, fx = px - floor(px). At an integer px this
gives grid_sample's one-sided location gradient (towards floor(px) + 1). No tl.dot: every product is
a per-query dot product over D, so the kernels are gathers, FMAs and row reductions in fp32.

The launchers write into outputs that the custom op allocates
(:mod:`posemods._ops.deformable_cross_attention`, the same allocation its fake returns), so nothing here
imports the op layer above.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from posemods.triton import _bilinear as bilinear
from posemods.triton._common import SUPPORTED_DTYPES, launch

# (BLOCK_Q * max(BLOCK_D, BLOCK_DV), warps) per kernel, from ptxas sweeps on sm_80 and sm_90 over head
# dims 8 to 256. Forward, 4 warps: 512 gives 48-72 registers (1024 up to 192; 2048 spills). Backward:
# at 4 warps, 512 spills 8-16 bytes on sm_80 and 256 still spills for D=48, Dv=24; 8 warps with 512
# gives 64-105 registers and no spills anywhere.
TILE = {"forward": (512, 4), "backward": (512, 8)}


@triton.jit
def _forward_kernel(
    q_ptr, k_ptr, v_ptr, loc_ptr, out_ptr, lse_ptr,
    Lq, H, W, G, N, scale,
    D: tl.constexpr, DV: tl.constexpr, BLOCK_Q: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_DV: tl.constexpr,
):  # fmt: skip
    b, g, head_rows, row_ok = bilinear.program_queries(Lq, G, BLOCK_Q)
    d, dv = tl.arange(0, BLOCK_D), tl.arange(0, BLOCK_DV)  # the key and value columns
    k_base = bilinear.head_map(k_ptr, b, g, H, W, G, D)
    v_base = bilinear.head_map(v_ptr, b, g, H, W, G, DV)
    q = bilinear.load_queries(q_ptr, head_rows, row_ok, d, D)

    m_run = tl.full((BLOCK_Q,), float("-inf"), dtype=tl.float32)
    l_run = tl.zeros((BLOCK_Q,), dtype=tl.float32)
    acc = tl.zeros((BLOCK_Q, BLOCK_DV), dtype=tl.float32)
    for n in range(N):
        x0, y0, fx, fy = bilinear.pixel_position(loc_ptr + (head_rows * N + n) * 2, row_ok, H, W)
        k_n = tl.zeros((BLOCK_Q, BLOCK_D), dtype=tl.float32)
        v_n = tl.zeros((BLOCK_Q, BLOCK_DV), dtype=tl.float32)
        for c in tl.static_range(4):
            wx, wy, inside, pixel = bilinear.corner(c, x0, y0, fx, fy, row_ok, H, W, G)
            weight = wx * wy
            k_n += weight[:, None] * bilinear.gather(k_base, pixel, inside, d, D)
            v_n += weight[:, None] * bilinear.gather(v_base, pixel, inside, dv, DV)

        logit = tl.sum(q * k_n, axis=1) * scale
        m_new = tl.maximum(m_run, logit)
        alpha = tl.exp(m_run - m_new)
        p = tl.exp(logit - m_new)
        l_run = l_run * alpha + p
        acc = acc * alpha[:, None] + p[:, None] * v_n
        m_run = m_new

    bilinear.store_queries(out_ptr, head_rows, row_ok, dv, DV, acc / l_run[:, None])
    tl.store(lse_ptr + head_rows, m_run + tl.log(l_run), mask=row_ok)


@triton.jit
def _backward_kernel(
    q_ptr, k_ptr, v_ptr, loc_ptr, out_ptr, grad_out_ptr, lse_ptr,
    grad_q_ptr, grad_k_ptr, grad_v_ptr, grad_loc_ptr,
    Lq, H, W, G, N, scale,
    D: tl.constexpr, DV: tl.constexpr, BLOCK_Q: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_DV: tl.constexpr,
):  # fmt: skip
    b, g, head_rows, row_ok = bilinear.program_queries(Lq, G, BLOCK_Q)
    d, dv = tl.arange(0, BLOCK_D), tl.arange(0, BLOCK_DV)  # the key and value columns
    q = bilinear.load_queries(q_ptr, head_rows, row_ok, d, D)
    do = bilinear.load_queries(grad_out_ptr, head_rows, row_ok, dv, DV)
    o = bilinear.load_queries(out_ptr, head_rows, row_ok, dv, DV)
    lse = tl.load(lse_ptr + head_rows, mask=row_ok, other=0.0)
    delta = tl.sum(do * o, axis=1)  # = sum_n p_n <dO, v_n>, the softmax backward's row term
    k_base = bilinear.head_map(k_ptr, b, g, H, W, G, D)
    v_base = bilinear.head_map(v_ptr, b, g, H, W, G, DV)
    gk_base = bilinear.head_map(grad_k_ptr, b, g, H, W, G, D)
    gv_base = bilinear.head_map(grad_v_ptr, b, g, H, W, G, DV)

    dq = tl.zeros((BLOCK_Q, BLOCK_D), dtype=tl.float32)
    for n in range(N):
        point = head_rows * N + n
        x0, y0, fx, fy = bilinear.pixel_position(loc_ptr + point * 2, row_ok, H, W)

        # Keys: the blended sample for dQ, and <q, key_c> folded into the logit and its slopes in x, y.
        k_n = tl.zeros((BLOCK_Q, BLOCK_D), dtype=tl.float32)
        qk_dx = tl.zeros((BLOCK_Q,), dtype=tl.float32)
        qk_dy = tl.zeros((BLOCK_Q,), dtype=tl.float32)
        # Values: <dO, value_c> folded into dP and its slopes.
        dp, dov_dx, dov_dy = bilinear.zero_blend(BLOCK_Q)
        for c in tl.static_range(4):
            wx, wy, inside, pixel = bilinear.corner(c, x0, y0, fx, fy, row_ok, H, W, G)
            dw_dx, dw_dy = bilinear.weight_slopes(c, wx, wy)
            kc = bilinear.gather(k_base, pixel, inside, d, D)
            k_n += (wx * wy)[:, None] * kc
            qk = tl.sum(q * kc, axis=1)
            qk_dx += dw_dx * qk
            qk_dy += dw_dy * qk
            dov = tl.sum(do * bilinear.gather(v_base, pixel, inside, dv, DV), axis=1)
            dp, dov_dx, dov_dy = bilinear.blend_with_slopes(dov, wx, wy, dw_dx, dw_dy, dp, dov_dx, dov_dy)

        logit = tl.sum(q * k_n, axis=1) * scale
        p = tl.exp(logit - lse)
        ds = p * (dp - delta) * scale  # d loss / d <q, k_n>
        dq += ds[:, None] * k_n
        bilinear.store_location_grad(
            grad_loc_ptr, point, (ds * qk_dx + p * dov_dx) * W, (ds * qk_dy + p * dov_dy) * H, row_ok
        )

        for c in tl.static_range(4):
            wx, wy, inside, pixel = bilinear.corner(c, x0, y0, fx, fy, row_ok, H, W, G)
            weight = wx * wy
            bilinear.scatter_add(gk_base, pixel, inside, d, D, (weight * ds)[:, None] * q)
            bilinear.scatter_add(gv_base, pixel, inside, dv, DV, (weight * p)[:, None] * do)

    bilinear.store_queries(grad_q_ptr, head_rows, row_ok, d, D, dq)


def unsupported_reason(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, locations: torch.Tensor) -> str:
    """``""`` when the kernels handle these inputs, otherwise why not."""
    if query.dtype not in SUPPORTED_DTYPES:
        return f"dtype {query.dtype} is not one of the kernels' {SUPPORTED_DTYPES}"
    if locations.dtype not in SUPPORTED_DTYPES:
        return f"locations dtype {locations.dtype} is not one of the kernels' {SUPPORTED_DTYPES}"
    if max(query.shape[-1], value.shape[-1]) > bilinear.MAX_HEAD_DIM:
        return (
            f"head dims D={query.shape[-1]}, Dv={value.shape[-1]} exceed the kernels' limit of {bilinear.MAX_HEAD_DIM}"
        )
    return ""


def launch_config(dim: int, dim_v: int, kernel: str = "forward") -> dict[str, int]:
    """Tiles and warps of ``kernel`` ("forward" or "backward") for head dims D and Dv: both padded to a
    power of two (at least 16), and as many queries per program as keep a (BLOCK_Q, max(BLOCK_D,
    BLOCK_DV)) tile at TILE[kernel] (at least 2 queries)."""
    elements, warps = TILE[kernel]
    block_d = max(16, triton.next_power_of_2(dim))
    block_dv = max(16, triton.next_power_of_2(dim_v))
    block_q = max(2, min(64, elements // max(block_d, block_dv)))
    return {"BLOCK_Q": block_q, "BLOCK_D": block_d, "BLOCK_DV": block_dv, "num_warps": warps, "num_stages": 1}


def _sizes(query: torch.Tensor, value: torch.Tensor, locations: torch.Tensor) -> tuple[int, ...]:
    batch, queries, heads, dim = query.shape
    _, height, width, _, dim_v = value.shape
    return batch, queries, height, width, heads, locations.shape[3], dim, dim_v


def forward(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    locations: torch.Tensor,
    scale: float,
    *,
    out: torch.Tensor,
    lse: torch.Tensor,
) -> None:
    """Write the output (B, Lq, G, Dv) and the logsumexp (B, Lq, G) in float32 into the contiguous
    tensors the custom op allocated."""
    batch, queries, height, width, heads, points, dim, dim_v = _sizes(query, value, locations)
    if out.numel() == 0:
        lse.fill_(float("-inf"))
        return
    query, key, value, locations = (t.contiguous() for t in (query, key, value, locations))
    config = launch_config(dim, dim_v)
    grid = (batch * heads * triton.cdiv(queries, config["BLOCK_Q"]),)
    launch(
        _forward_kernel, grid, query,
        query, key, value, locations, out, lse,
        queries, height, width, heads, points, scale, D=dim, DV=dim_v, **config,
    )  # fmt: skip


def backward(
    grad_out: torch.Tensor,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    locations: torch.Tensor,
    out: torch.Tensor,
    lse: torch.Tensor,
    scale: float,
    *,
    grad_q: torch.Tensor,
    grad_k: torch.Tensor,
    grad_v: torch.Tensor,
    grad_loc: torch.Tensor,
) -> None:
    """Write the gradients for query, key, value and locations into the contiguous outputs the custom
    op allocated; ``grad_k`` and ``grad_v`` are fp32, the atomics' accumulators."""
    batch, queries, height, width, heads, points, dim, dim_v = _sizes(query, value, locations)
    grad_k.zero_()
    grad_v.zero_()
    if not (batch * queries * heads and points):
        grad_q.zero_()
        grad_loc.zero_()
        return
    # Incoming gradients may be expanded (stride 0) views, e.g. from .sum().backward().
    grad_out, query, key, value, locations, out = (
        t.contiguous() for t in (grad_out, query, key, value, locations, out)
    )
    config = launch_config(dim, dim_v, "backward")
    grid = (batch * heads * triton.cdiv(queries, config["BLOCK_Q"]),)
    launch(
        _backward_kernel, grid, query,
        query, key, value, locations, out, grad_out, lse, grad_q, grad_k, grad_v, grad_loc,
        queries, height, width, heads, points, scale, D=dim, DV=dim_v, **config,
    )  # fmt: skip
