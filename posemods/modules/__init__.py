"""One nn.Module per file, each calling posemods.functional."""

from posemods.modules.kmm import KinematicsModelingModule

__all__ = ["KinematicsModelingModule"]
