"""One switch between the deformable motion modules of VREMD's Table 6: DCA, DA and DC.

They share the constructor core ``(dim, num_heads, num_points, constraint_dim, offset_kernel_size,
offset_conv, qkv_bias, backend, reference_points, num_prefix_tokens)`` and ``forward(x (B, L, C),
constraint (B, L, Cz), hw=(H, W), reference_points=None) -> (B, L, C)``, so a block that holds one
can hold any of them. The choice has one name everywhere, ``operator``: here, in
:class:`~posemods.modules.dca.DeformableCrossAttention` and in
:class:`~posemods.modules.bmd.BidirectionalMotionDisentangle`.
"""

from __future__ import annotations

from torch import nn

from posemods._shapes import expect_choice
from posemods.modules.dca import DeformableCrossAttention
from posemods.modules.deformable_conv_motion import DeformableConvMotion
from posemods.modules.deformable_sampling import OPERATORS, Operator

#: Kept for callers of the old name; the same tuple as OPERATORS.
DEFORMABLE_MOTION_KINDS = OPERATORS


def deformable_motion(operator: Operator, dim: int, **kwargs) -> nn.Module:
    """``"dca"``: :class:`DeformableCrossAttention` (eq. 3-4, Table 6 (c), (d)); ``"da"``: the same
    class with ``operator="da"`` (plain deformable attention, (b)); ``"dc"``:
    :class:`DeformableConvMotion` (deformable convolution, (a)). ``kwargs`` are the shared constructor
    arguments."""
    expect_choice("operator", operator, OPERATORS)
    if operator == "dc":
        return DeformableConvMotion(dim, **kwargs)
    return DeformableCrossAttention(dim, operator=operator, **kwargs)
