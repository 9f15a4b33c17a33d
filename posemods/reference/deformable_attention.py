"""Reference plain deformable attention (Deformable DETR's core; VREMD's DA ablation) in plain PyTorch.

Shapes use the vocabulary of :mod:`posemods._shapes`. Sampling, samplers and chunking are those of
:mod:`posemods.reference._sampling`, as for :func:`~posemods.reference.deformable_cross_attention`.
"""

from __future__ import annotations

import torch

from posemods.reference import _sampling


def _weigh_chunk(
    attention: torch.Tensor,
    value_table: torch.Tensor,
    locations: torch.Tensor,
    row_offset: torch.Tensor,
    height: int,
    width: int,
) -> torch.Tensor:
    """attention (B*G, l, N), locations (B*G, l, N, 2) -> (B*G, l, Dv)."""
    index, weight = _sampling.bilinear_corners(locations, height, width)
    values = _sampling.blend_rows(value_table, index + row_offset, weight)  # (B*G, l, N, Dv)
    return torch.einsum("bln,blnd->bld", attention, values)


def _weigh_chunk_grid(attention: torch.Tensor, value_map: torch.Tensor, locations: torch.Tensor) -> torch.Tensor:
    """attention (B*G, l, N), value_map (B*G, Dv, H, W), locations (B*G, l, N, 2) -> (B*G, l, Dv)."""
    return torch.einsum("bln,bdln->bld", attention, _sampling.grid_sample_maps(value_map, locations))


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
        locations: (B, Lq, G, N, 2), normalised (x, y) as in
            :func:`posemods.reference.deformable_cross_attention`.
        attention: (B, Lq, G, N), the weight of each point (usually a softmax over N).
        chunk: queries per chunk; default from :func:`~posemods.reference._sampling.chunk_size`.
        sampler: ``"grid_sample"`` or ``"gather"``; default :func:`~posemods.reference._sampling.default_sampler`.

    Returns:
        (B, Lq, G, Dv): ``sum_n attention[n] * value_n``, with the same bilinear sampling (and
        location gradient) as :func:`posemods.reference.deformable_cross_attention`.

    Allocates one copy of the values and per chunk its samples, within
    :data:`~posemods.reference._sampling.CHUNK_ELEMENTS`; chunks are checkpointed as in
    :func:`posemods.reference.deformable_cross_attention`.
    """
    batch, height, width, heads, dim_v = value.shape
    queries, points = locations.shape[1], locations.shape[3]
    dtype = torch.promote_types(value.dtype, locations.dtype)
    sampler = sampler or _sampling.default_sampler(value.device)
    loc, attn = _sampling.heads_first(locations, dtype), _sampling.heads_first(attention, dtype)
    empty = loc.new_zeros(batch * heads, 0, dim_v)
    if sampler == "grid_sample":
        value_map = _sampling.channels_first(value, dtype)
        step = chunk or _sampling.chunk_size(batch, queries, heads, points, dim_v, sampler=sampler)
        out = _sampling.run_chunks(
            _weigh_chunk_grid, queries, step, lambda p: (attn[:, p], value_map, loc[:, p]), empty
        )
    else:
        value_table = _sampling.row_tables(value, dtype)
        row_offset = _sampling.table_row_offsets(batch, heads, height, width, value.device)
        step = chunk or _sampling.chunk_size(batch, queries, heads, points, dim_v, sampler=sampler)
        args = lambda p: (attn[:, p], value_table, loc[:, p], row_offset, height, width)
        out = _sampling.run_chunks(_weigh_chunk, queries, step, args, empty)
    return _sampling.heads_last(out, batch, heads, value.dtype)
