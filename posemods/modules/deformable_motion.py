"""One switch between the deformable motion modules of VREMD's Table 6: DCA, DA and DC.

They share the constructor core ``(dim, num_heads, num_points, constraint_dim, offset_kernel_size,
offset_conv, qkv_bias, backend)`` and ``forward(x (B, L, C), constraint (B, L, Cz), hw=(H, W),
reference_points=None) -> (B, L, C)``, so a block that holds one can hold any of them.
"""

from __future__ import annotations

from torch import nn

from posemods._shapes import expect_choice
from posemods.modules.dca import DeformableCrossAttention
from posemods.modules.deformable_conv_motion import DeformableConvMotion

DEFORMABLE_MOTION_KINDS = ("dca", "da", "dc")


def deformable_motion(kind: str, dim: int, **kwargs) -> nn.Module:
    """``"dca"``: :class:`DeformableCrossAttention` (Table 6 (c)); ``"da"``: the same with
    ``weights="predicted"`` (plain deformable attention, (b)); ``"dc"``: :class:`DeformableConvMotion`
    (deformable convolution, (a)). ``kwargs`` are the shared constructor arguments."""
    expect_choice("kind", kind, DEFORMABLE_MOTION_KINDS)
    if kind == "dc":
        return DeformableConvMotion(dim, **kwargs)
    return DeformableCrossAttention(dim, weights="dot" if kind == "dca" else "predicted", **kwargs)
