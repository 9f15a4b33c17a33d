"""DeformableCrossAttention (DCA), VREMD eq. 3-4, and its plain deformable attention (DA) ablation.

Shapes use the vocabulary of :mod:`posemods._shapes`.
"""

from __future__ import annotations

import torch
from torch import nn

from posemods import functional
from posemods._shapes import expect_choice
from posemods.modules.deformable_sampling import (
    DeformableOffsets,
    check_motion_config,
    check_motion_inputs,
    sampling_locations,
)

WEIGHTS = ("dot", "predicted")


class DeformableCrossAttention(nn.Module):
    """Motion tokens attend to N learned points around each query, placed under a constraint.

    What it computes (VREMD eq. 3-4), for motion tokens x (M_f or M_b) and the enhanced feature F
    (``constraint``), both (B, L, ·) on an H x W grid:

    - ``q = W_q x``, ``z = W_z F``;
    - offsets ``Δp = θ(ψ(q ⊕ z))`` in pixels
      (:class:`~posemods.modules.deformable_sampling.DeformableOffsets`), and sampling locations
      ``p = reference_points + Δp / (W, H)``; the default reference point is the query's own pixel
      centre;
    - ``out = W_o sum_n softmax_n(<q, k_n> / sqrt(d)) v_n`` per head, where ``k_n`` and ``v_n`` are
      the maps ``W_k x`` and ``W_v x`` bilinearly sampled at ``p_n``
      (:func:`posemods.functional.deformable_cross_attention`). Sampling the projected maps equals
      projecting the sampled features (eq. 4): bilinear sampling commutes with a per-pixel linear map.

    ``weights="predicted"`` is the paper's plain deformable attention (DA, Table 6 (b), Deformable
    DETR): a linear map of q predicts the N weights (softmax), there is no key projection, and the
    values go through :func:`posemods.functional.deformable_attention`.

    Args:
        dim: C, the width of x (and of q, k, v).
        num_heads: G; C must be a multiple of it.
        num_points: N sampling points per query and head.
        constraint_dim: Cz, the width of the constraint F; default C.
        offset_kernel_size: k of ψ's spatial conv (odd).
        offset_conv: ``"depthwise"`` (1x1 then depthwise k x k, default) or ``"full"`` (k x k).
        weights: ``"dot"`` (DCA) or ``"predicted"`` (DA).
        qkv_bias: bias in W_q, W_z, W_k and W_v.
        backend: ``"auto"``, ``"reference"`` or ``"triton"`` for the sampling attention.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int = 8,
        num_points: int = 4,
        constraint_dim: int | None = None,
        offset_kernel_size: int = 3,
        offset_conv: str = "depthwise",
        weights: str = "dot",
        qkv_bias: bool = True,
        backend: str = "auto",
    ) -> None:
        super().__init__()
        self.constraint_dim = check_motion_config(dim, num_heads, num_points, constraint_dim, backend)
        expect_choice("weights", weights, WEIGHTS)
        self.dim, self.num_heads, self.num_points = dim, num_heads, num_points
        self.weights, self.backend = weights, backend
        self.q_proj = nn.Linear(dim, dim, bias=qkv_bias)  # W_q
        self.z_proj = nn.Linear(self.constraint_dim, dim, bias=qkv_bias)  # W_z
        self.offsets = DeformableOffsets(dim, num_heads, num_points, offset_kernel_size, offset_conv)
        if weights == "dot":
            self.k_proj = nn.Linear(dim, dim, bias=qkv_bias)  # W_k
        else:
            self.point_weights = nn.Linear(dim, num_heads * num_points)
        self.v_proj = nn.Linear(dim, dim, bias=qkv_bias)  # W_v
        self.out_proj = nn.Linear(dim, dim)

    def forward(
        self,
        x: torch.Tensor,
        constraint: torch.Tensor,
        hw: tuple[int, int],
        reference_points: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x (B, L, C) motion tokens, constraint (B, L, Cz), hw = (H, W) with H * W = L,
        reference_points (B, L, 2) normalised (x, y) or None. Returns (B, L, C)."""
        batch, length, height, width = check_motion_inputs(self, x, constraint, hw, reference_points)
        heads, head_dim = self.num_heads, self.dim // self.num_heads

        query = self.q_proj(x)
        offsets = self.offsets(query, self.z_proj(constraint), (height, width))
        locations = sampling_locations(offsets, (height, width), reference_points)
        value = self.v_proj(x).view(batch, height, width, heads, head_dim)
        if self.weights == "dot":
            key = self.k_proj(x).view(batch, height, width, heads, head_dim)
            query = query.view(batch, length, heads, head_dim)
            out = functional.deformable_cross_attention(query, key, value, locations, backend=self.backend)
        else:
            attention = self.point_weights(query).view(batch, length, heads, self.num_points).softmax(-1)
            attention = attention.to(value.dtype)  # CUDA autocast runs softmax in float32
            out = functional.deformable_attention(value, locations, attention, backend=self.backend)
        return self.out_proj(out.reshape(batch, length, self.dim))

    def extra_repr(self) -> str:
        return (
            f"dim={self.dim}, num_heads={self.num_heads}, num_points={self.num_points}, "
            f"constraint_dim={self.constraint_dim}, weights={self.weights!r}, backend={self.backend!r}"
        )
