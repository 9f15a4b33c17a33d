"""Deformable cross attention the ways research code writes it, to measure posemods against.

Every provider maps the same inputs to the same (B, Lq, G, D) output, so they can be swapped:

    provider(x, query, w_k, w_v, locations, hw, scale)

with x (B, H*W, C) the unprojected motion tokens, query (B, Lq, G, D), w_k and w_v (C, C) the key
and value projections (nn.Linear weights), locations (B, Lq, G, N, 2) normalised (x, y) and
hw = (H, W). Shapes use the vocabulary of posemods._shapes.

- ``naive_grid_sample``: sample the unprojected features at every query's points for every head at
  once (one grid_sample), then project each head's samples with that head's rows of W_k and W_v.
  Materialises (B, Lq, G, N, C) samples: what "sample x, then apply W_k and W_v" (eq. 4 read
  literally) costs.
- ``deformable_detr_style``: project first, then one grid_sample per map over all queries at once,
  as Deformable DETR's PyTorch fallback (ms_deform_attn_core_pytorch) does. Materialises
  (B*G, D, Lq, N) sampled keys and values.
- ``posemods_reference`` and ``posemods_triton``: project first, then posemods.functional (the
  chunked, checkpointed reference; the fused kernels).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from posemods import functional


def _attend(query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, scale: float) -> torch.Tensor:
    """query (B, Lq, G, D), keys and values (B, Lq, G, N, D) -> (B, Lq, G, D)."""
    attn = torch.softmax(torch.einsum("blgd,blgnd->blgn", query, keys) * scale, dim=-1)
    return torch.einsum("blgn,blgnd->blgd", attn, values)


def naive_grid_sample(x, query, w_k, w_v, locations, hw, scale):
    batch, queries, heads, dim = query.shape
    points, channels = locations.shape[3], x.shape[-1]
    image = x.transpose(1, 2).reshape(batch, channels, *hw)
    grid = (locations * 2 - 1).reshape(batch, queries, heads * points, 2)
    sampled = F.grid_sample(image, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    sampled = sampled.permute(0, 2, 3, 1).reshape(batch, queries, heads, points, channels)  # (B, Lq, G, N, C)
    per_head = lambda w: w.view(heads, dim, channels)  # head g's rows of the projection
    keys = torch.einsum("blgnc,gdc->blgnd", sampled, per_head(w_k))
    values = torch.einsum("blgnc,gdc->blgnd", sampled, per_head(w_v))
    return _attend(query, keys, values, scale)


def deformable_detr_style(x, query, w_k, w_v, locations, hw, scale):
    batch, queries, heads, dim = query.shape
    points = locations.shape[3]
    height, width = hw
    grid = (locations * 2 - 1).transpose(1, 2).reshape(batch * heads, queries, points, 2)

    def sample(weight):
        maps = F.linear(x, weight).view(batch, height * width, heads, dim)
        maps = maps.permute(0, 2, 3, 1).reshape(batch * heads, dim, height, width)
        out = F.grid_sample(maps, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        return out.view(batch, heads, dim, queries, points).permute(0, 3, 1, 4, 2)  # (B, Lq, G, N, D)

    return _attend(query, sample(w_k), sample(w_v), scale)


def _posemods(backend):
    def provider(x, query, w_k, w_v, locations, hw, scale):
        batch, _, heads, dim = query.shape
        key = F.linear(x, w_k).view(batch, *hw, heads, dim)
        value = F.linear(x, w_v).view(batch, *hw, heads, dim)
        return functional.deformable_cross_attention(query, key, value, locations, scale, backend=backend)

    provider.__name__ = f"posemods_{backend}"
    return provider


posemods_reference = _posemods("reference")
posemods_triton = _posemods("triton")

PROVIDERS = {
    "naive_grid_sample": naive_grid_sample,
    "deformable_detr_style": deformable_detr_style,
    "posemods_reference": posemods_reference,
    "posemods_triton": posemods_triton,
}


def make_inputs(batch, hw, channels, heads, points, device="cpu", dtype=torch.float32, seed=0):
    """Inputs at a given size: Lq = H * W queries (each motion token queries), points within and
    slightly beyond the map."""
    gen = torch.Generator().manual_seed(seed)
    length = hw[0] * hw[1]
    make = lambda *shape: torch.randn(*shape, generator=gen).to(device=device, dtype=dtype)
    return {
        "x": make(batch, length, channels),
        "query": make(batch, length, heads, channels // heads),
        "w_k": make(channels, channels) * channels**-0.5,
        "w_v": make(channels, channels) * channels**-0.5,
        "locations": (torch.rand(batch, length, heads, points, 2, generator=gen) * 1.2 - 0.1).to(device, dtype),
    }
