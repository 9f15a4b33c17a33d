"""One nn.Module per file, each calling posemods.functional."""

from posemods.modules.bmd import BMD, AdaptiveDeformableCross, BidirectionalMotionDisentangle
from posemods.modules.cross_attention import CrossAttention
from posemods.modules.dca import DeformableCrossAttention
from posemods.modules.deformable_conv_motion import DeformableConvMotion
from posemods.modules.deformable_motion import deformable_motion
from posemods.modules.hkm import HKM, HKMOutput, HumanKeypointMask
from posemods.modules.kmm import KinematicsModelingModule

__all__ = [
    "BMD",
    "HKM",
    "AdaptiveDeformableCross",
    "BidirectionalMotionDisentangle",
    "CrossAttention",
    "DeformableConvMotion",
    "DeformableCrossAttention",
    "HKMOutput",
    "HumanKeypointMask",
    "KinematicsModelingModule",
    "deformable_motion",
]
