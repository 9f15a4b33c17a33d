"""Reference deformable cross attention (VREMD eq. 3-4) in plain PyTorch.

Shapes use the vocabulary of :mod:`posemods._shapes`.

Sampling is ``F.grid_sample(mode="bilinear", padding_mode="zeros", align_corners=False)``'s: a
location (x, y) in [0, 1] sits at pixel coordinates ``px = x * W - 0.5, py = y * H - 0.5`` (pixel
i's centre is at (i + 0.5) / W), the four neighbouring pixels are blended bilinearly and a neighbour
outside the map contributes zero. Where ``px`` or ``py`` is an integer exactly (a sample on a pixel
centre, where the bilinear weights have a kink), the location gradient is grid_sample's one-sided
one: the difference towards the next pixel, ``floor(px) + 1``, i.e. the derivative from the right.
"""

from __future__ import annotations

import torch
from torch.utils.checkpoint import checkpoint

# Upper bound on the elements of one chunk's gathered corner rows: B * G * chunk * N * 4 * max(D, Dv).
# 2**22 fp32 elements are 16 MiB; the chunk loop keeps peak extra memory near a few of those.
CHUNK_ELEMENTS = 1 << 22


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


def chunk_size(batch: int, queries: int, heads: int, points: int, dim: int, elements: int = CHUNK_ELEMENTS) -> int:
    """Queries per chunk so that one chunk's gathered corner rows hold at most ``elements`` numbers."""
    per_query = max(1, batch * heads * points * 4 * dim)
    return max(1, min(queries, elements // per_query))


def deformable_cross_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    locations: torch.Tensor,
    scale: float,
    chunk: int | None = None,
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

    Returns:
        (B, Lq, G, Dv): ``sum_n softmax_n(scale * <query, key_n>) * value_n``.

    Sampling equals ``F.grid_sample(mode="bilinear", padding_mode="zeros", align_corners=False)`` but
    is written with ``index_select`` on flattened maps: its backward is an ``index_add``, which has a
    deterministic CUDA implementation (grid_sample's backward has none), so this reference is also
    the deterministic fallback of the fused backward.

    Computes in ``promote_types(query.dtype, locations.dtype)`` (so float32 locations keep their
    precision with half-precision features) and returns ``query.dtype``.

    Allocates one (B*G*(H*W + 1), D) and one (B*G*(H*W + 1), Dv) copy of the maps, the query in
    (B*G, Lq, D) layout, the output, and per chunk of queries the gathered corner rows,
    (B*G, chunk, N, 4, D or Dv), which stay within :data:`CHUNK_ELEMENTS` elements, and the blended
    samples (a quarter of that). With more than one chunk and autograd recording, each chunk is
    checkpointed: backward recomputes its samples instead of keeping every chunk's alive, so peak
    memory stays O(chunk) in backward too, at the cost of a second forward pass.
    """
    batch, queries, heads, dim = query.shape
    _, height, width, _, dim_v = value.shape
    points = locations.shape[3]
    dtype = torch.promote_types(query.dtype, locations.dtype)
    key_table, value_table = _tables(key, dtype), _tables(value, dtype)
    row_offset = (torch.arange(batch * heads, device=query.device) * (height * width + 1)).view(-1, 1, 1, 1)
    # (B, Lq, G, ...) -> (B*G, Lq, ...): one attention problem per (batch element, head).
    loc = locations.to(dtype).transpose(1, 2).reshape(batch * heads, queries, points, 2)
    q = query.to(dtype).transpose(1, 2).reshape(batch * heads, queries, dim)

    step = chunk or chunk_size(batch, queries, heads, points, max(dim, dim_v))
    recompute = step < queries and torch.is_grad_enabled()
    pieces = [q.new_zeros(batch * heads, 0, dim_v)]  # stays the result only when Lq = 0
    for start in range(0, queries, step):
        piece = slice(start, start + step)
        args = (q[:, piece], key_table, value_table, loc[:, piece], row_offset, height, width, scale)
        if recompute:
            pieces.append(checkpoint(_attend_chunk, *args, use_reentrant=False))
        else:
            pieces.append(_attend_chunk(*args))
    out = torch.cat(pieces[1:], dim=1) if queries else pieces[0]
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


def deformable_attention(
    value: torch.Tensor, locations: torch.Tensor, attention: torch.Tensor, chunk: int | None = None
) -> torch.Tensor:
    """Plain deformable attention (Deformable DETR's core): given weights, no keys.

    Args:
        value: (B, H, W, G, Dv), already projected (W_v x).
        locations: (B, Lq, G, N, 2), normalised (x, y) as in :func:`deformable_cross_attention`.
        attention: (B, Lq, G, N), the weight of each point (usually a softmax over N).
        chunk: queries per chunk; default from :func:`chunk_size`.

    Returns:
        (B, Lq, G, Dv): ``sum_n attention[n] * value_n``, with the same bilinear sampling (and
        location gradient) as :func:`deformable_cross_attention`.

    Allocates one (B*G*(H*W + 1), Dv) copy of the values and per chunk the gathered corner rows,
    within :data:`CHUNK_ELEMENTS`; chunks are checkpointed as in :func:`deformable_cross_attention`.
    """
    batch, height, width, heads, dim_v = value.shape
    queries, points = locations.shape[1], locations.shape[3]
    dtype = torch.promote_types(value.dtype, locations.dtype)
    value_table = _tables(value, dtype)
    row_offset = (torch.arange(batch * heads, device=value.device) * (height * width + 1)).view(-1, 1, 1, 1)
    loc = locations.to(dtype).transpose(1, 2).reshape(batch * heads, queries, points, 2)
    attn = attention.to(dtype).transpose(1, 2).reshape(batch * heads, queries, points)

    step = chunk or chunk_size(batch, queries, heads, points, dim_v)
    recompute = step < queries and torch.is_grad_enabled()
    pieces = [value_table.new_zeros(batch * heads, 0, dim_v)]  # stays the result only when Lq = 0
    for start in range(0, queries, step):
        piece = slice(start, start + step)
        args = (attn[:, piece], value_table, loc[:, piece], row_offset, height, width)
        pieces.append(checkpoint(_weigh_chunk, *args, use_reentrant=False) if recompute else _weigh_chunk(*args))
    out = torch.cat(pieces[1:], dim=1) if queries else pieces[0]
    return out.view(batch, heads, queries, dim_v).transpose(1, 2).to(value.dtype)
