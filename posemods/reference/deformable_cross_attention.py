"""Reference deformable cross attention (VREMD eq. 3-4) in plain PyTorch.

Shapes use the vocabulary of :mod:`posemods._shapes`. The bilinear sampling (grid_sample's, with its
one-sided location gradient at pixel centres) and the two samplers that compute it, ``"grid_sample"``
and ``"gather"``, are described in :mod:`posemods.reference._sampling`.
"""

from __future__ import annotations

import torch

from posemods.reference import _sampling


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
    index, weight = _sampling.bilinear_corners(locations, height, width)
    rows = index + row_offset  # each (b, g) reads its own block of H * W + 1 table rows
    keys = _sampling.blend_rows(key_table, rows, weight)  # (B*G, l, N, D)
    logits = torch.einsum("blnd,bld->bln", keys, query) * scale
    attn = torch.softmax(logits, dim=-1)  # over the N points
    values = _sampling.blend_rows(value_table, rows, weight)  # (B*G, l, N, Dv)
    return torch.einsum("bln,blnd->bld", attn, values)


def _attend_chunk_grid(
    query: torch.Tensor, key_value: torch.Tensor, locations: torch.Tensor, dim: int, scale: float
) -> torch.Tensor:
    """query (B*G, l, D), key_value (B*G, D + Dv, H, W) -> (B*G, l, Dv): keys and values in one sampling."""
    samples = _sampling.grid_sample_maps(key_value, locations)  # (B*G, D + Dv, l, N)
    keys, values = samples[:, :dim], samples[:, dim:]
    attn = torch.softmax(torch.einsum("bdln,bld->bln", keys, query) * scale, dim=-1)  # over the N points
    return torch.einsum("bln,bdln->bld", attn, values)


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
        chunk: queries per chunk; default from :func:`~posemods.reference._sampling.chunk_size`.
        sampler: ``"grid_sample"`` or ``"gather"`` (see :mod:`posemods.reference._sampling`); default
            :func:`~posemods.reference._sampling.default_sampler`. Both give the same values and gradients.

    Returns:
        (B, Lq, G, Dv): ``sum_n softmax_n(scale * <query, key_n>) * value_n``.

    Computes in ``promote_types(query.dtype, locations.dtype)`` (so float32 locations keep their
    precision with half-precision features) and returns ``query.dtype``.

    Allocates the query in (B*G, Lq, D) layout, the output, one copy of the maps (channels-first and
    stacked for grid_sample, or as (B*G*(H*W + 1), ·) row tables with a zero row for the gather), and per
    chunk of queries its samples, within :data:`~posemods.reference._sampling.CHUNK_ELEMENTS` elements.
    With more than one chunk and autograd recording, each chunk is checkpointed: backward recomputes its
    samples instead of keeping every chunk's alive, so peak memory stays O(chunk) in backward too, at the
    cost of a second forward.
    """
    batch, queries, heads, dim = query.shape
    _, height, width, _, dim_v = value.shape
    points = locations.shape[3]
    dtype = torch.promote_types(query.dtype, locations.dtype)
    sampler = sampler or _sampling.default_sampler(query.device)
    # (B, Lq, G, ...) -> (B*G, Lq, ...): one attention problem per (batch element, head).
    loc, q = _sampling.heads_first(locations, dtype), _sampling.heads_first(query, dtype)
    empty = q.new_zeros(batch * heads, 0, dim_v)
    if sampler == "grid_sample":
        key_value = _sampling.channels_first(torch.cat([key.to(dtype), value.to(dtype)], dim=-1), dtype)
        step = chunk or _sampling.chunk_size(batch, queries, heads, points, dim + dim_v, sampler=sampler)
        out = _sampling.run_chunks(
            _attend_chunk_grid, queries, step, lambda p: (q[:, p], key_value, loc[:, p], dim, scale), empty
        )
    else:
        key_table, value_table = _sampling.row_tables(key, dtype), _sampling.row_tables(value, dtype)
        row_offset = _sampling.table_row_offsets(batch, heads, height, width, query.device)
        step = chunk or _sampling.chunk_size(batch, queries, heads, points, max(dim, dim_v), sampler=sampler)
        args = lambda p: (q[:, p], key_table, value_table, loc[:, p], row_offset, height, width, scale)
        out = _sampling.run_chunks(_attend_chunk, queries, step, args, empty)
    return _sampling.heads_last(out, batch, heads, query.dtype)
