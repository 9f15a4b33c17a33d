"""Bilinear-sampling device helpers shared by the deformable-attention kernels.

Locations follow grid_sample(align_corners=False): normalised (x, y) in [0, 1] sit at pixel coordinates
``px = x * W - 0.5``, ``py = y * H - 0.5``; the four neighbours of ``(floor(px), floor(py))`` are
blended, and a neighbour outside the map contributes zero.
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def pixel_position(loc, row_ok, H, W):
    """Load the (x, y) at ``loc`` (a pointer block) and return ``(x0, y0, fx, fy)``: the top-left
    neighbour and the fractional offsets from it, in fp32.

    Beyond one pixel outside the map every neighbour is padding, so clamping there keeps the integer
    conversion in range without changing the result; comparisons let NaN through unchanged.
    """
    px = tl.load(loc, mask=row_ok, other=0.0).to(tl.float32) * W - 0.5
    py = tl.load(loc + 1, mask=row_ok, other=0.0).to(tl.float32) * H - 0.5
    px = tl.where(px < -2.0, -2.0, tl.where(px > W + 1.0, W + 1.0, px))
    py = tl.where(py < -2.0, -2.0, tl.where(py > H + 1.0, H + 1.0, py))
    x0f = tl.floor(px)
    y0f = tl.floor(py)
    return x0f.to(tl.int32), y0f.to(tl.int32), px - x0f, py - y0f


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
