"""What the deformable kernels (cross attention and plain deformable attention, forward and backward)
share: the program's block of queries, the head's maps, bilinear sampling and its scatter, the head-dim limit.

Locations follow grid_sample(align_corners=False): normalised (x, y) in [0, 1] sit at pixel coordinates
``px = x * W - 0.5``, ``py = y * H - 0.5``; the four neighbours of ``(floor(px), floor(py))`` are
blended, and a neighbour outside the map contributes zero.
"""

from __future__ import annotations

import triton
import triton.language as tl

from posemods._backend import interpreting

# The kernels keep a (BLOCK_Q, D) tile of q, dO, dQ and one sample in registers up to this head dim.
MAX_HEAD_DIM = 256

# ``x * W - 0.5`` is a multiply and a subtract, each rounded, in the reference (two torch ops) and in
# Triton's interpreter (numpy). Compiled for a GPU, LLVM and ptxas contract the pair into one
# ``fma.rn.f32``, rounded once: for a location on a pixel centre the two can differ in the last bit,
# and with them floor(px), the neighbours and the one-sided location gradient (150 of the widths 1-256
# have such centres). PTX's ``mul.rn.f32`` (CUDA's ``__fmul_rn``) is "never contracted into fma", so
# the compiled kernels round the product exactly where the reference does. The interpreter cannot run
# inline PTX; its numpy multiply already rounds, so it keeps the plain product.
if interpreting():

    @triton.jit
    def _mul_rn(a, b):
        return a * b

else:

    @triton.jit
    def _mul_rn(a, b):
        return tl.inline_asm_elementwise(
            "mul.rn.f32 $0, $1, $2;", "=r,r,r", [a, b], dtype=tl.float32, is_pure=True, pack=1
        )


@triton.jit
def pixel_position(loc, row_ok, H, W):
    """Load the (x, y) at ``loc`` (a pointer block) and return ``(x0, y0, fx, fy)``: the top-left
    neighbour and the fractional offsets from it, in fp32.

    Beyond one pixel outside the map every neighbour is padding, so clamping there keeps the integer
    conversion in range without changing the result. A NaN or infinite coordinate is sent explicitly
    to (-2, -2), where all four neighbours are outside: the GPU would convert NaN to pixel 0 and the
    inside test would pass, so the backward's atomics would write NaN at pixels (0..1, 0..1) where the
    reference writes nothing. Its fraction is NaN, as the reference's ``px - floor(px)`` is for NaN and
    for +-inf (inf - inf), so the weights, the sample and the output are NaN as in the reference; a
    clamped +-inf would otherwise give a finite zero sample and hide a diverged offset.

    ``H`` and ``W`` may be Python ints: Triton passes an int argument equal to 1 as a constexpr, so
    they are only ever combined with tensors here, never ``.to()``-converted.
    """
    x = tl.load(loc, mask=row_ok, other=0.0).to(tl.float32)
    y = tl.load(loc + 1, mask=row_ok, other=0.0).to(tl.float32)
    px = _mul_rn(x, tl.zeros_like(x) + W) - 0.5
    py = _mul_rn(y, tl.zeros_like(y) + H) - 0.5
    # px - px is 0 for every finite px and NaN for NaN and +-inf.
    bad_x = (px - px) != 0.0
    bad_y = (py - py) != 0.0
    bad = bad_x | bad_y
    cx = tl.where(bad, -2.0, tl.where(px < -2.0, -2.0, tl.where(px > W + 1.0, W + 1.0, px)))
    cy = tl.where(bad, -2.0, tl.where(py < -2.0, -2.0, tl.where(py > H + 1.0, H + 1.0, py)))
    x0f = tl.floor(cx)
    y0f = tl.floor(cy)
    # A NaN or infinite coordinate gets a NaN fraction (NaN weights, as in the reference); elsewhere the
    # fraction of the clamped position, in [0, 1), so no weight overflows far outside the map.
    fx = tl.where(bad_x, px - px, cx - x0f)
    fy = tl.where(bad_y, py - py, cy - y0f)
    return x0f.to(tl.int32), y0f.to(tl.int32), fx, fy


@triton.jit
def corner(c: tl.constexpr, x0, y0, fx, fy, row_ok, H, W, G):
    """Neighbour ``c`` (0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right) of each point.

    Returns ``(wx, wy, inside, pixel)``: the bilinear weight factors (the weight is ``wx * wy``; their
    slopes in fx and fy are +1 for the right/bottom neighbours and -1 otherwise), whether the neighbour is
    on the map, and its row offset ``(y * W + x) * G`` in a (H, W, G, ...) map.
    """
    cx = x0 + (c % 2)
    cy = y0 + (c // 2)
    wx = fx if c % 2 == 1 else 1.0 - fx
    wy = fy if c // 2 == 1 else 1.0 - fy
    inside = row_ok & (cx >= 0) & (cx < W) & (cy >= 0) & (cy < H)
    pixel = (cy * W + cx).to(tl.int64) * G
    return wx, wy, inside, pixel


@triton.jit
def program_queries(Lq, G, BLOCK_Q: tl.constexpr):
    """This program's block of BLOCK_Q queries of one (batch element, head): ``(b, g, head_rows, row_ok)``,
    b as int64, each query's row ``(b * Lq + query) * G + g`` of the (B, Lq, G) queries, locations and
    outputs, and whether the query is one (< Lq). Every program sits on grid axis 0: CUDA allows
    2**31 - 1 programs there but 65,535 on axes 1 and 2, which B * G would pass at B * G > 65,535."""
    pid = tl.program_id(0)
    blocks = tl.cdiv(Lq, BLOCK_Q)
    bg = pid // blocks
    b = (bg // G).to(tl.int64)
    g = bg % G
    rows = (pid % blocks) * BLOCK_Q + tl.arange(0, BLOCK_Q)
    return b, g, (b * Lq + rows) * G + g, rows < Lq


@triton.jit
def load_queries(ptr, head_rows, row_ok, cols, DIM: tl.constexpr):
    """This program's (BLOCK_Q, columns ``cols``) tile of a (B, Lq, G, DIM) tensor, in fp32; zero for
    the queries past Lq and the padding columns (>= DIM)."""
    mask = row_ok[:, None] & (cols < DIM)[None, :]
    return tl.load(ptr + head_rows[:, None] * DIM + cols[None, :], mask=mask, other=0.0).to(tl.float32)


@triton.jit
def store_queries(ptr, head_rows, row_ok, cols, DIM: tl.constexpr, value):
    """Store ``value`` into the tile :func:`load_queries` reads, in the tensor's dtype."""
    mask = row_ok[:, None] & (cols < DIM)[None, :]
    tl.store(ptr + head_rows[:, None] * DIM + cols[None, :], value.to(ptr.dtype.element_ty), mask=mask)


@triton.jit
def head_map(ptr, b, g, H, W, G, DIM: tl.constexpr):
    """Head g of batch element b in a (B, H, W, G, DIM) map: the base that :func:`corner`'s ``pixel``
    offsets index (int64, as b is)."""
    return ptr + b * H * W * G * DIM + g * DIM


@triton.jit
def weight_slopes(c: tl.constexpr, wx, wy):
    """The slopes of neighbour ``c``'s weight ``wx * wy`` in fx and fy: ``wx`` rises with fx for the
    right neighbours (c = 1, 3) and falls for the left ones, ``wy`` likewise with fy for the bottom ones."""
    sx = 1.0 if c % 2 == 1 else -1.0
    sy = 1.0 if c // 2 == 1 else -1.0
    return sx * wy, sy * wx


@triton.jit
def zero_blend(BLOCK_Q: tl.constexpr):
    """Zero (sum, slope in fx, slope in fy) per query, to start :func:`blend_with_slopes`."""
    zero = tl.zeros((BLOCK_Q,), dtype=tl.float32)
    return zero, zero, zero


@triton.jit
def blend_with_slopes(x, wx, wy, dw_dx, dw_dy, total, total_dx, total_dy):
    """Fold neighbour c's per-query value ``x`` into ``sum_c w_c x_c`` and its slopes in fx and fy."""
    return total + wx * wy * x, total_dx + dw_dx * x, total_dy + dw_dy * x


@triton.jit
def gather(base, pixel, inside, cols, DIM: tl.constexpr):
    """Each query's row at ``pixel`` of a head map (:func:`head_map`), columns ``cols``, in fp32; zero
    for a neighbour off the map and for the padding columns (>= DIM)."""
    mask = inside[:, None] & (cols < DIM)[None, :]
    return tl.load(base + pixel[:, None] * DIM + cols[None, :], mask=mask, other=0.0).to(tl.float32)


@triton.jit
def scatter_add(base, pixel, inside, cols, DIM: tl.constexpr, value):
    """Add ``value`` into the rows :func:`gather` reads, with fp32 atomics (the order, and so the
    rounding, of the adds changes from run to run)."""
    mask = inside[:, None] & (cols < DIM)[None, :]
    tl.atomic_add(base + pixel[:, None] * DIM + cols[None, :], value, mask=mask, sem="relaxed")


@triton.jit
def store_location_grad(grad_loc_ptr, point, grad_x, grad_y, row_ok):
    """Store each query's (d/dx, d/dy) at location ``point`` of the (..., N, 2) location gradient."""
    gloc = grad_loc_ptr + point * 2
    tl.store(gloc, grad_x.to(grad_loc_ptr.dtype.element_ty), mask=row_ok)
    tl.store(gloc + 1, grad_y.to(grad_loc_ptr.dtype.element_ty), mask=row_ok)
