"""One switch between the deformable motion operators of VREMD's Table 6: DCA, DA and DC.

All three are motion operators (:mod:`posemods.modules.motion_operator`): one constructor core (the
settings of its ``MotionConfig``, and ``num_prefix_tokens``) and one ``forward(x (B, L, C),
constraint (B, L, Cz), hw=(H, W), reference_points=None) -> (B, L, C)``, so a block that holds one can
hold any of them. The choice has one name everywhere, ``operator``: here, in
:class:`~posemods.modules.dca.DeformableCrossAttention` and in
:class:`~posemods.modules.bmd.BidirectionalMotionDisentangle`.
"""

from __future__ import annotations

from posemods._shapes import expect_choice
from posemods.modules.dca import DeformableCrossAttention
from posemods.modules.deformable_conv_motion import DeformableConvMotion
from posemods.modules.motion_operator import OPERATORS, MotionOperator, Operator

#: Kept for callers of the old name; the same tuple as OPERATORS.
DEFORMABLE_MOTION_KINDS = OPERATORS


def deformable_motion(operator: Operator, dim: int, **kwargs) -> MotionOperator:
    """``"dca"``: :class:`DeformableCrossAttention` (eq. 3-4, Table 6 (c), (d)); ``"da"``: the same
    class with ``operator="da"`` (plain deformable attention, (b)); ``"dc"``:
    :class:`DeformableConvMotion` (deformable convolution, (a)). ``kwargs`` are the shared constructor
    arguments; ``deformable_motion(**dataclasses.asdict(config))`` builds a
    :class:`~posemods.modules.motion_operator.MotionConfig`'s operator."""
    expect_choice("operator", operator, OPERATORS)
    if operator == "dc":
        return DeformableConvMotion(dim, **kwargs)
    return DeformableCrossAttention(dim, operator=operator, **kwargs)
