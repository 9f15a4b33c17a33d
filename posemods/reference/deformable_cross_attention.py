"""Reference deformable cross attention (VREMD eq. 3-4) in plain PyTorch.

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

from posemods._shapes import traced_value

# Upper bound on the elements one chunk samples: B * G * chunk * N * (D + Dv) for grid_sample, and the
# gathered corner rows B * G * chunk * N * 4 * max(D, Dv) for the gather. 2**22 fp32 elements are 16 MiB;
# the chunk loop keeps peak extra memory near a few of those.
CHUNK_ELEMENTS = 1 << 22
SAMPLERS = ("grid_sample", "gather")


def default_sampler(device: torch.device) -> str:
    """grid_sample, except on CUDA under deterministic algorithms, where only the gather's backward is."""
    return "gather" if device.type == "cuda" and torch.are_deterministic_algorithms_enabled() else "grid_sample"


def _tables(features: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(B, H, W, G, D) -> (B * G * (H * W + 1), D): each (b, g)'s pixels as rows, then one zero row
    that out-of-map corners read. One copy of the map."""
    batch, height, width, heads, dim = features.shape
    rows = features.to(dtype).permute(0, 3, 1, 2, 4).reshape(batch * heads, height * width, dim)
    return torch.cat([rows, rows.new_zeros(batch * heads, 1, dim)], dim=1).view(-1, dim)


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


def _sample(table: torch.Tensor, rows: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Blend gathered rows: table (R, D), rows and weight (B*G, l, N, 4) -> (B*G, l, N, D)."""
    corners = table.index_select(0, rows.flatten()).view(*rows.shape, table.shape[-1])
    # A (1 x 4) @ (4 x D) product per point: no weighted (..., 4, D) temporary, in forward or backward.
    return (weight.unsqueeze(-2) @ corners).squeeze(-2)


def _attend_chunk(
    query: torch.Tensor,
    key_table: torch.Tensor,
    value_table: torch.Tensor,
    locations: torch.Tensor,
    row_offset: torch.Tensor,
    height: int,
    width: int,
    scale: float,
) -> torch.Tensor:
    """query (B*G, l, D), locations (B*G, l, N, 2) -> (B*G, l, Dv)."""
    index, weight = bilinear_corners(locations, height, width)
    rows = index + row_offset  # each (b, g) reads its own block of H * W + 1 table rows
    keys = _sample(key_table, rows, weight)  # (B*G, l, N, D)
    logits = torch.einsum("blnd,bld->bln", keys, query) * scale
    attn = torch.softmax(logits, dim=-1)  # over the N points
    values = _sample(value_table, rows, weight)  # (B*G, l, N, Dv)
    return torch.einsum("bln,blnd->bld", attn, values)


def _channels_first(maps: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(B, H, W, G, C) -> (B * G, C, H, W), grid_sample's layout. One copy of the map."""
    batch, height, width, heads, channels = maps.shape
    return maps.to(dtype).permute(0, 3, 4, 1, 2).reshape(batch * heads, channels, height, width)


def _grid_sample(maps: torch.Tensor, locations: torch.Tensor) -> torch.Tensor:
    """maps (B*G, C, H, W), locations (B*G, l, N, 2) in [0, 1] -> samples (B*G, C, l, N)."""
    grid = locations * 2 - 1  # grid_sample's [-1, 1]
    return F.grid_sample(maps, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _attend_chunk_grid(
    query: torch.Tensor, key_value: torch.Tensor, locations: torch.Tensor, dim: int, scale: float
) -> torch.Tensor:
    """query (B*G, l, D), key_value (B*G, D + Dv, H, W) -> (B*G, l, Dv): keys and values in one sampling."""
    samples = _grid_sample(key_value, locations)  # (B*G, D + Dv, l, N)
    keys, values = samples[:, :dim], samples[:, dim:]
    attn = torch.softmax(torch.einsum("bdln,bld->bln", keys, query) * scale, dim=-1)  # over the N points
    return torch.einsum("bln,bdln->bld", attn, values)


def chunk_size(
    batch: int, queries: int, heads: int, points: int, dim: int, elements: int = CHUNK_ELEMENTS, sampler: str = "gather"
) -> int:
    """Queries per chunk so that one chunk samples at most ``elements`` numbers: ``dim`` is max(D, Dv) for
    the gather (4 corner rows per point) and D + Dv for grid_sample (both maps at once).

    A symbolic ``batch`` (torch.export with a dynamic batch, ``torch.compile(dynamic=True)``) is sized
    as 1, so the number of chunks stays a constant of the traced graph instead of a guard on B; each
    chunk then samples at most ``B * elements`` numbers. So is a batch traced by torch.jit (a 0-d tensor
    in the legacy ONNX exporter)."""
    if isinstance(batch, (torch.SymInt, torch.Tensor)):
        batch = 1
    # The number of chunks is Python control flow: the sizes as the example has them.
    queries, heads, points, dim = (traced_value(size) for size in (queries, heads, points, dim))
    per_point = 4 * dim if sampler == "gather" else dim
    per_query = max(1, batch * heads * points * per_point)
    return max(1, min(queries, elements // per_query))


def _run_chunks(fn, queries: int, step: int, chunk_args, empty: torch.Tensor) -> torch.Tensor:
    """Concatenate ``fn(*chunk_args(piece))`` over query chunks along dim 1. With several chunks and
    autograd recording, each is checkpointed so backward keeps O(chunk) alive (at one more forward)."""
    queries = traced_value(queries)  # the number of chunks is Python control flow
    recompute = step < queries and torch.is_grad_enabled()
    pieces = [empty]  # stays the result only when Lq = 0
    for start in range(0, queries, step):
        args = chunk_args(slice(start, start + step))
        pieces.append(checkpoint(fn, *args, use_reentrant=False) if recompute else fn(*args))
    return torch.cat(pieces[1:], dim=1) if queries else pieces[0]


def deformable_cross_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    locations: torch.Tensor,
    scale: float,
    chunk: int | None = None,
    sampler: str | None = None,
) -> torch.Tensor:
    """Each query attends over N bilinear samples of the key and value maps of its own head.

    Args:
        query: (B, Lq, G, D).
        key: (B, H, W, G, D), already projected (W_k x): bilinear sampling commutes with a per-pixel
            linear map, so sampling W_k x equals projecting the sampled x (eq. 4), except that a
            projection bias is not added at zero-padded samples outside the map, which is the
            behaviour one wants.
        value: (B, H, W, G, Dv), already projected (W_v x).
        locations: (B, Lq, G, N, 2), normalised (x, y): 0 is the left/top edge of the map, 1 the
            right/bottom edge.
        scale: multiplies the logits ``<query, key_sampled_n>``.
        chunk: queries per chunk; default from :func:`chunk_size`.
        sampler: ``"grid_sample"`` or ``"gather"`` (see the module docstring); default
            :func:`default_sampler`. Both give the same values and gradients.

    Returns:
        (B, Lq, G, Dv): ``sum_n softmax_n(scale * <query, key_n>) * value_n``.

    Computes in ``promote_types(query.dtype, locations.dtype)`` (so float32 locations keep their
    precision with half-precision features) and returns ``query.dtype``.

    Allocates the query in (B*G, Lq, D) layout, the output, one copy of the maps (channels-first and
    stacked for grid_sample, or as (B*G*(H*W + 1), ·) row tables with a zero row for the gather), and per
    chunk of queries its samples, within :data:`CHUNK_ELEMENTS` elements. With more than one chunk and
    autograd recording, each chunk is checkpointed: backward recomputes its samples instead of keeping
    every chunk's alive, so peak memory stays O(chunk) in backward too, at the cost of a second forward.
    """
    batch, queries, heads, dim = query.shape
    _, height, width, _, dim_v = value.shape
    points = locations.shape[3]
    dtype = torch.promote_types(query.dtype, locations.dtype)
    sampler = sampler or default_sampler(query.device)
    # (B, Lq, G, ...) -> (B*G, Lq, ...): one attention problem per (batch element, head).
    loc = locations.to(dtype).transpose(1, 2).reshape(batch * heads, queries, points, 2)
    q = query.to(dtype).transpose(1, 2).reshape(batch * heads, queries, dim)
    empty = q.new_zeros(batch * heads, 0, dim_v)
    if sampler == "grid_sample":
        key_value = _channels_first(torch.cat([key.to(dtype), value.to(dtype)], dim=-1), dtype)
        step = chunk or chunk_size(batch, queries, heads, points, dim + dim_v, sampler=sampler)
        out = _run_chunks(
            _attend_chunk_grid, queries, step, lambda p: (q[:, p], key_value, loc[:, p], dim, scale), empty
        )
    else:
        key_table, value_table = _tables(key, dtype), _tables(value, dtype)
        row_offset = (torch.arange(batch * heads, device=query.device) * (height * width + 1)).view(-1, 1, 1, 1)
        step = chunk or chunk_size(batch, queries, heads, points, max(dim, dim_v), sampler=sampler)
        args = lambda p: (q[:, p], key_table, value_table, loc[:, p], row_offset, height, width, scale)
        out = _run_chunks(_attend_chunk, queries, step, args, empty)
    return out.view(batch, heads, queries, dim_v).transpose(1, 2).to(query.dtype)


def _weigh_chunk(
    attention: torch.Tensor,
    value_table: torch.Tensor,
    locations: torch.Tensor,
    row_offset: torch.Tensor,
    height: int,
    width: int,
) -> torch.Tensor:
    """attention (B*G, l, N), locations (B*G, l, N, 2) -> (B*G, l, Dv)."""
    index, weight = bilinear_corners(locations, height, width)
    values = _sample(value_table, index + row_offset, weight)  # (B*G, l, N, Dv)
    return torch.einsum("bln,blnd->bld", attention, values)


def _weigh_chunk_grid(attention: torch.Tensor, value_map: torch.Tensor, locations: torch.Tensor) -> torch.Tensor:
    """attention (B*G, l, N), value_map (B*G, Dv, H, W), locations (B*G, l, N, 2) -> (B*G, l, Dv)."""
    return torch.einsum("bln,bdln->bld", attention, _grid_sample(value_map, locations))


def deformable_attention(
    value: torch.Tensor,
    locations: torch.Tensor,
    attention: torch.Tensor,
    chunk: int | None = None,
    sampler: str | None = None,
) -> torch.Tensor:
    """Plain deformable attention (Deformable DETR's core): given weights, no keys.

    Args:
        value: (B, H, W, G, Dv), already projected (W_v x).
        locations: (B, Lq, G, N, 2), normalised (x, y) as in :func:`deformable_cross_attention`.
        attention: (B, Lq, G, N), the weight of each point (usually a softmax over N).
        chunk: queries per chunk; default from :func:`chunk_size`.
        sampler: ``"grid_sample"`` or ``"gather"``; default :func:`default_sampler`.

    Returns:
        (B, Lq, G, Dv): ``sum_n attention[n] * value_n``, with the same bilinear sampling (and
        location gradient) as :func:`deformable_cross_attention`.

    Allocates one copy of the values and per chunk its samples, within :data:`CHUNK_ELEMENTS`; chunks
    are checkpointed as in :func:`deformable_cross_attention`.
    """
    batch, height, width, heads, dim_v = value.shape
    queries, points = locations.shape[1], locations.shape[3]
    dtype = torch.promote_types(value.dtype, locations.dtype)
    sampler = sampler or default_sampler(value.device)
    loc = locations.to(dtype).transpose(1, 2).reshape(batch * heads, queries, points, 2)
    attn = attention.to(dtype).transpose(1, 2).reshape(batch * heads, queries, points)
    empty = loc.new_zeros(batch * heads, 0, dim_v)
    if sampler == "grid_sample":
        value_map = _channels_first(value, dtype)
        step = chunk or chunk_size(batch, queries, heads, points, dim_v, sampler=sampler)
        out = _run_chunks(_weigh_chunk_grid, queries, step, lambda p: (attn[:, p], value_map, loc[:, p]), empty)
    else:
        value_table = _tables(value, dtype)
        row_offset = (torch.arange(batch * heads, device=value.device) * (height * width + 1)).view(-1, 1, 1, 1)
        step = chunk or chunk_size(batch, queries, heads, points, dim_v, sampler=sampler)
        args = lambda p: (attn[:, p], value_table, loc[:, p], row_offset, height, width)
        out = _run_chunks(_weigh_chunk, queries, step, args, empty)
    return out.view(batch, heads, queries, dim_v).transpose(1, 2).to(value.dtype)
