"""DeformableConvMotion: VREMD's deformable-convolution ablation (DC, Table 6 (a)).

Shapes use the vocabulary of :mod:`posemods._shapes`.
"""

from __future__ import annotations

import torch
from torch import nn

from posemods.modules.deformable_sampling import (
    DeformableOffsets,
    check_motion_config,
    check_motion_inputs,
    pixel_centres,
    sampling_locations,
)


class DeformableConvMotion(nn.Module):
    """A deformable convolution over the motion tokens, its taps placed by the same offset branch as DCA.

    The DC row of the paper's Table 6, built to differ from
    :class:`~posemods.modules.dca.DeformableCrossAttention` only where the ablation does: the
    offsets ``Δp = θ(ψ(W_q x ⊕ W_z F))`` and the sampling locations are computed by the same
    :class:`~posemods.modules.deformable_sampling.DeformableOffsets`, but the N sampled points are
    combined by a learned per-tap weight (a convolution, ``torchvision.ops.deform_conv2d``) instead
    of an attention over them. Each head's channels (C / G, one offset group) share that head's N
    points, and it starts on the same rings as DCA.

    deform_conv2d places tap j of its kernel at a fixed position relative to each pixel; here the
    kernel is 1 x N with dilation 2 and padding N - 1, so the output keeps H x W for any N, and the
    module subtracts those fixed positions from the wanted locations. So ``Δp`` means the same thing
    (pixels from the reference point) as in DCA, and ``reference_points`` work the same way.

    Args:
        dim: C, the width of x and of the output.
        num_heads: G, offset groups; C must be a multiple of it.
        num_points: N, taps per output pixel and group.
        constraint_dim: Cz, the width of the constraint F; default C.
        offset_kernel_size, offset_conv: ψ's conv, as in DCA.
        qkv_bias: bias in W_q and W_z.
        backend: accepted so DCA, DA and DC share one constructor; deform_conv2d always runs
            torchvision's own kernel.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int = 8,
        num_points: int = 4,
        constraint_dim: int | None = None,
        offset_kernel_size: int = 3,
        offset_conv: str = "depthwise",
        qkv_bias: bool = True,
        backend: str = "auto",
    ) -> None:
        super().__init__()
        self.constraint_dim = check_motion_config(dim, num_heads, num_points, constraint_dim, backend)
        self.dim, self.num_heads, self.num_points, self.backend = dim, num_heads, num_points, backend
        self.q_proj = nn.Linear(dim, dim, bias=qkv_bias)  # W_q
        self.z_proj = nn.Linear(self.constraint_dim, dim, bias=qkv_bias)  # W_z
        self.offsets = DeformableOffsets(dim, num_heads, num_points, offset_kernel_size, offset_conv)
        # A 1 x N kernel: one weight per (output channel, input channel, tap), like a k x k conv's.
        self.weight = nn.Parameter(torch.empty(dim, dim, 1, num_points))
        self.bias = nn.Parameter(torch.empty(dim))
        self.reset_parameters()
        # Tap j's fixed position relative to its pixel: (dx, dy) = (2j - (N - 1), 0).
        taps = torch.zeros(num_points, 2)
        taps[:, 0] = 2 * torch.arange(num_points) - (num_points - 1)
        self.register_buffer("kernel_taps", taps, persistent=False)

    def reset_parameters(self) -> None:
        conv = nn.Conv2d(self.dim, self.dim, (1, self.num_points))  # Conv2d's default initialisation
        with torch.no_grad():
            self.weight.copy_(conv.weight)
            self.bias.copy_(conv.bias)

    def forward(
        self,
        x: torch.Tensor,
        constraint: torch.Tensor,
        hw: tuple[int, int],
        reference_points: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x (B, L, C) motion tokens, constraint (B, L, Cz), hw = (H, W) with H * W = L,
        reference_points (B, L, 2) normalised (x, y) or None. Returns (B, L, C)."""
        batch, _, height, width = check_motion_inputs(self, x, constraint, hw, reference_points)
        offsets = self.offsets(self.q_proj(x), self.z_proj(constraint), (height, width))
        locations = sampling_locations(offsets, (height, width), reference_points)  # (B, L, G, N, 2)
        # Pixels from each output pixel's centre, minus the tap's fixed place in the kernel.
        centres = pixel_centres(height, width, x.device, locations.dtype)[None, :, None, None, :]
        scale = torch.tensor([width, height], device=x.device, dtype=locations.dtype)
        shift = (locations - centres) * scale - self.kernel_taps.to(locations.dtype)
        # deform_conv2d wants (B, 2 * G * N, H, W) with (dy, dx) per (group, tap).
        shift = shift.flip(-1).reshape(batch, height, width, -1).permute(0, 3, 1, 2).to(x.dtype)
        from torchvision.ops import deform_conv2d  # imported on first use: `import posemods` stays light

        image = x.transpose(1, 2).reshape(batch, self.dim, height, width)
        out = deform_conv2d(image, shift, self.weight, self.bias, padding=(0, self.num_points - 1), dilation=(1, 2))
        return out.flatten(2).transpose(1, 2)

    def extra_repr(self) -> str:
        return (
            f"dim={self.dim}, num_heads={self.num_heads}, num_points={self.num_points}, "
            f"constraint_dim={self.constraint_dim}"
        )
