"""RPSTN's joint relation extractor (Dang et al., TIP 2022), KIMNet's pose decoder (eq. 6).

Shapes use the vocabulary of :mod:`posemods._shapes`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from posemods._shapes import expect_float, expect_positive, expect_shape


class JointRelationExtractor(nn.Module):
    """Refine each joint's heatmap with the heatmaps of the joints it resembles.

    ``heatmaps (B, J, H, W) -> (B, J, H, W)``, with ``x = heatmaps`` flattened to (B, J, L), L = H * W:

    - ``attn[b, j, i] = softmax_i(scale * <x[b, j], x[b, i]>)``: a J x J attention between joint
      channels (default ``scale = 1 / sqrt(L)``, as in KIMNet eq. 9);
    - ``value = Conv_v(heatmaps)``, a 1x1 conv over the joint channels;
    - ``related[b, j] = sum_i attn[b, j, i] * value[b, i]``;
    - ``out = heatmaps + BN(Conv_o(related))``, a 1x1 conv and BatchNorm whose scale starts at zero,
      so the block starts as the identity (as in non-local blocks).

    The joint axis stays axis 1 throughout: the attention contracts over L only, and every mixing of
    joints is a 1x1 conv or the attention itself.

    Args:
        num_joints: J.
        scale: the logit multiplier; ``None`` means ``1 / sqrt(H * W)``.
    """

    def __init__(self, num_joints: int, scale: float | None = None) -> None:
        super().__init__()
        expect_positive("num_joints", num_joints)
        self.num_joints = num_joints
        self.scale = scale
        self.value = nn.Conv2d(num_joints, num_joints, 1)
        self.out = nn.Conv2d(num_joints, num_joints, 1)
        self.norm = nn.BatchNorm2d(num_joints)
        nn.init.zeros_(self.norm.weight)

    def forward(
        self, heatmaps: torch.Tensor, return_attention: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Return the refined heatmaps (B, J, H, W), and the attention (B, J, J) if asked."""
        dims = {"J": self.num_joints}
        expect_shape("heatmaps", heatmaps, "B J H W", dims)
        expect_float("heatmaps", heatmaps)
        batch, joints, height, width = heatmaps.shape
        scale = 1.0 / math.sqrt(height * width) if self.scale is None else self.scale

        flat = heatmaps.reshape(batch, joints, height * width)  # (B, J, L)
        attn = torch.softmax(torch.bmm(flat, flat.transpose(1, 2)) * scale, dim=-1)  # (B, J, J)
        value = self.value(heatmaps).reshape(batch, joints, height * width)  # (B, J, L)
        related = torch.bmm(attn, value).reshape(batch, joints, height, width)
        out = heatmaps + self.norm(self.out(related))
        return (out, attn) if return_attention else out

    def extra_repr(self) -> str:
        return f"num_joints={self.num_joints}, scale={self.scale}"
