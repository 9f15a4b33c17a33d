"""posemods: drop-in PyTorch modules for video human pose estimation.

>>> from posemods import KMM
>>> kmm = KMM(in_channels=256, num_joints=13)

Every op and module takes ``backend="auto" | "reference" | "triton"``; see :func:`use_backend`.
Shapes in docstrings use the vocabulary of :mod:`posemods._shapes`.
"""

import logging

from posemods import functional
from posemods._backend import use_backend
from posemods.modules import (
    BMD,
    DCA,
    HKM,
    KMM,
    BidirectionalMotionDisentangle,
    CrossAttention,
    DeformableConvMotion,
    DeformableCrossAttention,
    HKMOutput,
    HumanKeypointMask,
    KinematicsModelingModule,
)

__all__ = [
    "BMD",
    "DCA",
    "HKM",
    "KMM",
    "BidirectionalMotionDisentangle",
    "CrossAttention",
    "DeformableConvMotion",
    "DeformableCrossAttention",
    "HKMOutput",
    "HumanKeypointMask",
    "KinematicsModelingModule",
    "functional",
    "use_backend",
]
__version__ = "0.1.0"

# A library stays silent unless the application configures logging.
logging.getLogger("posemods").addHandler(logging.NullHandler())
