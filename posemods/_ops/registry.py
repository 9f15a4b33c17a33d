"""Every op's :class:`~posemods._ops._record.OpRecord`, by public name: the one table dispatch reads.

Importing this imports the custom ops (``torch.library`` registrations, cheap) but no kernel module,
so triton is still only imported when a fused op first runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from posemods._ops import deformable_attention, deformable_cross_attention, keypoint_mask, kinematics_attention
from posemods._ops._record import OpRecord

__all__ = ["OPS", "OpRecord"]

OPS: Mapping[str, OpRecord] = MappingProxyType(
    {
        module.RECORD.name: module.RECORD
        for module in (kinematics_attention, keypoint_mask, deformable_cross_attention, deformable_attention)
    }
)
