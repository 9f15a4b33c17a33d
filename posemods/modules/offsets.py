"""Where the deformable motion operators look: VREMD eq. 3's offset branch and the locations it gives.

- the offset heads: :class:`DeformableOffsets` (DCA's Δp = θ(ψ(q ⊕ z))) and :class:`QueryOffsets`
  (DA's, Deformable DETR's ``sampling_offsets``), both starting on :func:`initial_points`'s rings;
- :func:`sampling_locations`: reference points (each query's :func:`pixel_centres`, or given) plus
  the offsets, the normalised (x, y) the sampling ops read.

Used by :class:`~posemods.modules.dca.DeformableCrossAttention` (DCA, DA) and
:class:`~posemods.modules.deformable_conv_motion.DeformableConvMotion` (DC: pixel centres only).
Shapes use the vocabulary of :mod:`posemods._shapes`.
"""

from __future__ import annotations

import math
from typing import Literal, get_args

import torch
from torch import nn

from posemods._shapes import expect_choice, expect_odd_size, expect_positive

#: ψ's convolution in :class:`DeformableOffsets`.
OffsetConv = Literal["depthwise", "full"]
OFFSET_CONVS: tuple[str, ...] = get_args(OffsetConv)  # the runtime check reads the annotation's values
RING_SIZE = 8  # points per ring of the initial pattern; ring r (from 1) has radius r pixels


def initial_points(num_heads: int, num_points: int) -> torch.Tensor:
    """(G, N, 2) pixel offsets (dx, dy) where each head starts looking: rings around the reference.

    Point n sits on ring ``n // 8 + 1`` (radius in pixels), evenly spaced with the other points of
    its ring, and head g's pattern is turned by ``g / G`` of the spacing, so heads start on
    different pixels (as Deformable DETR spreads its heads over directions).
    """
    points = torch.empty(num_heads, num_points, 2, dtype=torch.float64)
    for n in range(num_points):
        ring, slot = divmod(n, RING_SIZE)
        on_ring = min(RING_SIZE, num_points - ring * RING_SIZE)
        for g in range(num_heads):
            angle = 2 * math.pi * (slot + g / num_heads) / on_ring
            points[g, n] = torch.tensor([math.cos(angle), math.sin(angle)]) * (ring + 1)
    return points.float()


def pixel_centres(height: int, width: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """(H * W, 2) normalised (x, y) of every pixel centre, ((i + 0.5) / W, (j + 0.5) / H), row-major."""
    ys = (torch.arange(height, device=device, dtype=dtype) + 0.5) / height
    xs = (torch.arange(width, device=device, dtype=dtype) + 0.5) / width
    return torch.stack(torch.meshgrid(xs, ys, indexing="xy"), dim=-1).reshape(-1, 2)


def init_offset_head(theta: nn.Linear, num_heads: int, num_points: int) -> None:
    """θ's weight to zero and its bias to :func:`initial_points`, as Deformable DETR initialises
    ``sampling_offsets`` (``constant_(self.sampling_offsets.weight.data, 0.)``, then a per-head grid
    bias): every query starts sampling the same rings, whatever its features."""
    nn.init.zeros_(theta.weight)
    with torch.no_grad():
        theta.bias.copy_(initial_points(num_heads, num_points).flatten())


class DeformableOffsets(nn.Module):
    """Per-query sampling offsets from the query and the constraint: Δp = θ(ψ(q ⊕ z)) (eq. 3).

    - ψ: a convolution over the concatenated (2C, H, W) map of q and z, then GELU. ``"depthwise"``
      (default) is a 1x1 conv 2C -> C then a depthwise k x k conv, cheap at ViT-L widths;
      ``"full"`` is a plain k x k conv 2C -> C.
    - θ: a linear map C -> G * N * 2, offsets (dx, dy) in feature-map pixels. Its weight starts at
      zero and its bias at :func:`initial_points`, so every module starts as a local attention on
      rings around each reference point.

    Args:
        dim: C, the width of q and z.
        num_heads: G.
        num_points: N, sampling points per query and head.
        kernel_size: k of ψ's spatial conv (odd, so the map keeps its size).
        conv: ``"depthwise"`` or ``"full"``.
    """

    def __init__(self, dim: int, num_heads: int, num_points: int, kernel_size: int = 3, conv: str = "depthwise"):
        super().__init__()
        for name, value in (("dim", dim), ("num_heads", num_heads), ("num_points", num_points)):
            expect_positive(name, value)
        expect_odd_size("offset_kernel_size", kernel_size)
        expect_choice("offset_conv", conv, OFFSET_CONVS)
        self.num_heads, self.num_points = num_heads, num_points
        pad = kernel_size // 2
        if conv == "depthwise":
            self.psi = nn.Sequential(
                nn.Conv2d(2 * dim, dim, 1), nn.Conv2d(dim, dim, kernel_size, padding=pad, groups=dim), nn.GELU()
            )
        else:
            self.psi = nn.Sequential(nn.Conv2d(2 * dim, dim, kernel_size, padding=pad), nn.GELU())
        self.theta = nn.Linear(dim, num_heads * num_points * 2)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init_offset_head(self.theta, self.num_heads, self.num_points)

    def forward(self, query: torch.Tensor, constraint: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
        """query, constraint: (B, L, C) on an H x W grid. Returns (B, L, G, N, 2) offsets in pixels."""
        batch, length, channels = query.shape
        height, width = hw
        grid = torch.cat([query, constraint], dim=-1).transpose(1, 2).reshape(batch, 2 * channels, height, width)
        features = self.psi(grid).flatten(2).transpose(1, 2)  # (B, L, C)
        return self.theta(features).view(batch, length, self.num_heads, self.num_points, 2)


class QueryOffsets(nn.Module):
    """Per-query sampling offsets from the query alone, Deformable DETR's ``sampling_offsets``.

    ``self.sampling_offsets = nn.Linear(d_model, n_heads * n_levels * n_points * 2)``, applied as
    ``self.sampling_offsets(query)``, with its weight initialised to 0 (``constant_(...weight, 0.)``)
    and its bias to a per-head pattern; here, with one level, the bias is :func:`initial_points` (the
    same rings DCA starts on), so DA and DCA start looking at the same pixels.
    """

    def __init__(self, dim: int, num_heads: int, num_points: int) -> None:
        super().__init__()
        self.num_heads, self.num_points = num_heads, num_points
        self.theta = nn.Linear(dim, num_heads * num_points * 2)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init_offset_head(self.theta, self.num_heads, self.num_points)

    def forward(self, query: torch.Tensor) -> torch.Tensor:
        """query (B, L, C). Returns (B, L, G, N, 2) offsets (dx, dy) in pixels."""
        batch, length, _ = query.shape
        return self.theta(query).view(batch, length, self.num_heads, self.num_points, 2)


def sampling_locations(
    offsets: torch.Tensor, hw: tuple[int, int], reference_points: torch.Tensor | None
) -> torch.Tensor:
    """locations = reference_points + Δp / (W, H), in at least float32.

    offsets: (B, L, G, N, 2) in pixels; reference_points: (B, L, 2) normalised (x, y), or None for
    each query's own pixel centre. Returns (B, L, G, N, 2). Half-precision offsets are widened first:
    a bf16 location has ~1/256 resolution, a quarter pixel on a 64-wide map.
    """
    height, width = hw
    dtype = torch.promote_types(offsets.dtype, torch.float32)
    if reference_points is None:
        reference_points = pixel_centres(height, width, offsets.device, dtype).unsqueeze(0)
    scale = torch.tensor([width, height], device=offsets.device, dtype=dtype)
    return reference_points.to(dtype)[:, :, None, None, :] + offsets.to(dtype) / scale
