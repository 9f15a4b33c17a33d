"""Pure-PyTorch ground truth for every posemods op: readable and memory-bounded.

Tests and benchmarks import these as the one truth; the fused kernels are checked against them.
"""

from posemods.reference.deformable_attention import deformable_attention
from posemods.reference.deformable_cross_attention import deformable_cross_attention
from posemods.reference.keypoint_mask import keypoint_mask
from posemods.reference.kinematics_attention import kinematics_attention

__all__ = ["deformable_attention", "deformable_cross_attention", "keypoint_mask", "kinematics_attention"]
