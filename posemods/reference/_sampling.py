"""Bilinear sampling shared by the deformable references (:mod:`.deformable_cross_attention`,
:mod:`.deformable_attention`), and the query chunking that keeps them memory-bounded.

Shapes use the vocabulary of :mod:`posemods._shapes`.

Sampling is ``F.grid_sample(mode="bilinear", padding_mode="zeros", align_corners=False)``'s: a
location (x, y) in [0, 1] sits at pixel coordinates ``px = x * W - 0.5, py = y * H - 0.5`` (pixel
i's centre is at (i + 0.5) / W), the four neighbouring pixels are blended bilinearly and a neighbour
outside the map contributes zero. Where ``px`` or ``py`` is an integer exactly (a sample on a pixel
centre, where the bilinear weights have a kink), the location gradient is grid_sample's one-sided
one: the difference towards the next pixel, ``floor(px) + 1``, i.e. the derivative from the right.

Two samplers compute exactly that:

- ``"grid_sample"``: ``F.grid_sample`` on the key and value maps stacked along channels, one fused C++/CUDA
  kernel forward and backward (the fast one: about twice the gather's speed on CPU, forward and backward,
  at B=8, 64 x 48, G=8, N=4, D=32);
- ``"gather"``: the four neighbours' rows gathered with ``index_select`` and blended. Its backward is an
  ``index_add``, which has a deterministic CUDA implementation where grid_sample's backward has none, so
  it is what runs on CUDA under ``torch.use_deterministic_algorithms(True)`` (the fused path's
  deterministic fallback).

They differ in one rounding: the gather forms ``x * W - 0.5`` as written (a rounded product, then a
rounded difference), exactly as the fused kernels do, while grid_sample unnormalises as
``((x * 2 - 1) + 1) * W - 1) / 2``. In float32 the two land on different sides of an integer at some
locations placed exactly on a pixel centre (about 8 % of the centres of widths 1-256), and there the
neighbours and the one-sided location gradient differ. So the fused kernels agree with
``sampler="gather"`` by construction, and with the default grid_sample away from pixel centres; the
parity tests and benchmarks compare against the gather.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

# Upper bound on the elements one chunk samples: B * G * chunk * N * (D + Dv) for grid_sample, and the
# gathered corner rows B * G * chunk * N * 4 * max(D, Dv) for the gather. 2**22 fp32 elements are 16 MiB;
# the chunk loop keeps peak extra memory near a few of those.
CHUNK_ELEMENTS = 1 << 22
SAMPLERS = ("grid_sample", "gather")


def default_sampler(device: torch.device) -> str:
    """grid_sample, except on CUDA under deterministic algorithms, where only the gather's backward is."""
    return "gather" if device.type == "cuda" and torch.are_deterministic_algorithms_enabled() else "grid_sample"


def row_tables(features: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(B, H, W, G, D) -> (B * G * (H * W + 1), D): each (b, g)'s pixels as rows, then one zero row
    that out-of-map corners read. One copy of the map."""
    batch, height, width, heads, dim = features.shape
    rows = features.to(dtype).permute(0, 3, 1, 2, 4).reshape(batch * heads, height * width, dim)
    return torch.cat([rows, rows.new_zeros(batch * heads, 1, dim)], dim=1).view(-1, dim)


def table_row_offsets(batch: int, heads: int, height: int, width: int, device: torch.device) -> torch.Tensor:
    """(B * G, 1, 1, 1): the first row of each (b, g)'s block of H * W + 1 rows in :func:`row_tables`."""
    return (torch.arange(batch * heads, device=device) * (height * width + 1)).view(-1, 1, 1, 1)


def heads_first(tensor: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(B, Lq, G, ...) -> (B * G, Lq, ...) in ``dtype``: one attention problem per (batch element, head)."""
    batch, queries, heads, *rest = tensor.shape
    return tensor.to(dtype).transpose(1, 2).reshape(batch * heads, queries, *rest)


def heads_last(out: torch.Tensor, batch: int, heads: int, dtype: torch.dtype) -> torch.Tensor:
    """(B * G, Lq, Dv) -> (B, Lq, G, Dv) in ``dtype``, undoing :func:`heads_first`."""
    queries, dim_v = out.shape[1:]
    return out.view(batch, heads, queries, dim_v).transpose(1, 2).to(dtype)


def bilinear_corners(locations: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel indices and bilinear weights of the four neighbours of each location.

    ``locations`` (..., 2) holds normalised (x, y). Returns ``index`` (..., 4), ``y * W + x`` or
    ``H * W`` (the zero row) for a neighbour outside the map, and ``weight`` (..., 4). The weights are
    functions of ``fx = px - floor(px)``; ``floor`` has zero gradient, so at an integer ``px`` the
    location gradient is the one towards ``floor(px) + 1``, as in grid_sample.
    """
    px = locations[..., 0] * width - 0.5
    py = locations[..., 1] * height - 0.5
    x0, y0 = px.floor(), py.floor()
    fx, fy = px - x0, py - y0
    xs = torch.stack([x0, x0 + 1, x0, x0 + 1], dim=-1)
    ys = torch.stack([y0, y0, y0 + 1, y0 + 1], dim=-1)
    weight = torch.stack([(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy], dim=-1)
    inside = (xs >= 0) & (xs < width) & (ys >= 0) & (ys < height)  # False for NaN too
    # Far-away (or NaN) coordinates are replaced before the integer cast, so it never overflows.
    index = torch.where(inside, ys * width + xs, torch.full_like(xs, height * width)).long()
    return index, weight


def blend_rows(table: torch.Tensor, rows: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Blend gathered rows: table (R, D), rows and weight (B*G, l, N, 4) -> (B*G, l, N, D)."""
    corners = table.index_select(0, rows.flatten()).view(*rows.shape, table.shape[-1])
    # A (1 x 4) @ (4 x D) product per point: no weighted (..., 4, D) temporary, in forward or backward.
    return (weight.unsqueeze(-2) @ corners).squeeze(-2)


def channels_first(maps: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(B, H, W, G, C) -> (B * G, C, H, W), grid_sample's layout. One copy of the map."""
    batch, height, width, heads, channels = maps.shape
    return maps.to(dtype).permute(0, 3, 4, 1, 2).reshape(batch * heads, channels, height, width)


def grid_sample_maps(maps: torch.Tensor, locations: torch.Tensor) -> torch.Tensor:
    """maps (B*G, C, H, W), locations (B*G, l, N, 2) in [0, 1] -> samples (B*G, C, l, N)."""
    grid = locations * 2 - 1  # grid_sample's [-1, 1]
    return F.grid_sample(maps, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def chunk_size(
    batch: int, queries: int, heads: int, points: int, dim: int, elements: int = CHUNK_ELEMENTS, sampler: str = "gather"
) -> int:
    """Queries per chunk so that one chunk samples at most ``elements`` numbers: ``dim`` is max(D, Dv) for
    the gather (4 corner rows per point) and D + Dv for grid_sample (both maps at once).

    A symbolic ``batch`` (torch.export with a dynamic batch, ``torch.compile(dynamic=True)``) is sized
    as 1, so the number of chunks stays a constant of the traced graph instead of a guard on B; each
    chunk then samples at most ``B * elements`` numbers."""
    if isinstance(batch, torch.SymInt):
        batch = 1
    per_point = 4 * dim if sampler == "gather" else dim
    per_query = max(1, batch * heads * points * per_point)
    return max(1, min(queries, elements // per_query))


def run_chunks(fn, queries: int, step: int, chunk_args, empty: torch.Tensor) -> torch.Tensor:
    """Concatenate ``fn(*chunk_args(piece))`` over query chunks along dim 1. With several chunks and
    autograd recording, each is checkpointed so backward keeps O(chunk) alive (at one more forward)."""
    recompute = step < queries and torch.is_grad_enabled()
    pieces = [empty]  # stays the result only when Lq = 0
    for start in range(0, queries, step):
        args = chunk_args(slice(start, start + step))
        pieces.append(checkpoint(fn, *args, use_reentrant=False) if recompute else fn(*args))
    return torch.cat(pieces[1:], dim=1) if queries else pieces[0]
