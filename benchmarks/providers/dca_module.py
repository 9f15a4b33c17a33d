"""The DCA module with its sampling-attention core swapped, to compare providers at module level.

Each provider runs one :class:`posemods.DeformableCrossAttention` (same weights, ``qkv_bias=False`` so every
core computes the same function): the query/constraint projections, the offset branch, and the output
projection are the module's own; only the step from (x, query, locations) to the attended values differs.
"""

from __future__ import annotations

import torch
from torch import nn

from benchmarks.providers.deformable_attention import PROVIDERS
from posemods.modules.offsets import sampling_locations

CORES = {
    "naive grid_sample": "naive_grid_sample",
    "Deformable-DETR-style": "deformable_detr_style",
    "posemods reference": "posemods_reference",
    "posemods triton": "posemods_triton",
}


def dca_forward(dca: nn.Module, core: str, x: torch.Tensor, constraint: torch.Tensor, hw: tuple[int, int]):
    """``dca(x, constraint, hw)`` with the attention core named by ``core`` (a key of :data:`CORES`)."""
    batch, length, dim = x.shape
    heads = dca.num_heads
    query = dca.q_proj(x)
    offsets = dca.offsets(query, dca.z_proj(constraint), hw)
    locations = sampling_locations(offsets, hw, None)
    out = PROVIDERS[CORES[core]](
        x, query.view(batch, length, heads, dim // heads), dca.k_proj.weight, dca.v_proj.weight, locations, hw,
        (dim // heads) ** -0.5,
    )  # fmt: skip
    return dca.out_proj(out.reshape(batch, length, dim))
