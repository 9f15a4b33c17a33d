"""Pure-PyTorch ground truth for every posemods op: readable and memory-bounded.

Tests and benchmarks import these as the one truth; the fused kernels are checked against them.
"""

from posemods.reference.keypoint_mask import keypoint_mask
from posemods.reference.kinematics_attention import kinematics_attention

__all__ = ["kinematics_attention"]
__all__ += ["keypoint_mask"]
