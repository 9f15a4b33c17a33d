"""One nn.Module per file, each calling posemods.functional; the papers' short names are defined here."""

from posemods.modules.bmd import AdaptiveDeformableCross, BidirectionalMotionDisentangle
from posemods.modules.cross_attention import CrossAttention
from posemods.modules.dca import DeformableCrossAttention
from posemods.modules.deformable_conv_motion import DeformableConvMotion
from posemods.modules.deformable_motion import deformable_motion
from posemods.modules.hkm import HKMOutput, HumanKeypointMask
from posemods.modules.kmm import KinematicsModelingModule

# The names the papers use, each the same class as its long name (posemods re-exports both).
KMM = KinematicsModelingModule  # KIMNet
DCA = DeformableCrossAttention  # VREMD
HKM = HumanKeypointMask  # VREMD
BMD = BidirectionalMotionDisentangle  # VREMD

__all__ = [
    "BMD",
    "DCA",
    "HKM",
    "KMM",
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
