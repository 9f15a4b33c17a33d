"""One nn.Module per file, each calling posemods.functional."""

from posemods.modules.dca import DeformableCrossAttention
from posemods.modules.deformable_conv_motion import DeformableConvMotion
from posemods.modules.deformable_motion import deformable_motion
from posemods.modules.kmm import KinematicsModelingModule

__all__ = ["DeformableConvMotion", "DeformableCrossAttention", "KinematicsModelingModule", "deformable_motion"]
