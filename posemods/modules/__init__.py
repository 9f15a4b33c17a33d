"""One nn.Module per file, each calling posemods.functional."""

from posemods.modules.hkm import HKM, HKMOutput, HumanKeypointMask
from posemods.modules.kmm import KinematicsModelingModule

__all__ = ["KinematicsModelingModule"]
__all__ += ["HKM", "HKMOutput", "HumanKeypointMask"]
