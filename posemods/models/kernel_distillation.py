"""Temporal modules that distil the last pose into kernels and match them in the current frame.

- :class:`PoseKernelDistillator`: DKD's pose kernel distillator (Nie et al., ICCV 2019).
- :class:`JRPSP`: RPSTN's joint-relation-guided pose semantics propagator (Dang et al., TIP 2022):
  the same distillation, fed heatmaps refined by a joint relation extractor.

Both implement the temporal-module contract of :mod:`posemods.models.temporal`. Shapes use the
vocabulary of :mod:`posemods._shapes`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from posemods._resize import resize
from posemods._shapes import expect_positive
from posemods.models.relation import JointRelationExtractor
from posemods.modules.temporal import check_temporal_inputs


def depthwise_correlate(features: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Correlate each sample's channels with its own kernels, averaged over the taps.

    ``features (B, C, H, W)``, ``kernels (B, C, k, k)`` with k odd -> ``(B, C, H, W)``, where
    ``out[b, c, y, x] = mean_{u, v} kernels[b, c, u, v] * features[b, c, y + u - k // 2, x + v - k // 2]``
    (zero padding). One grouped conv over the folded batch does every sample at once.
    """
    batch, channels, height, width = features.shape
    size = kernels.shape[-1]
    out = F.conv2d(
        features.reshape(1, batch * channels, height, width),
        kernels.reshape(batch * channels, 1, size, size),
        padding=size // 2,
        groups=batch * channels,
    )
    return out.reshape(batch, channels, height, width) / (size * size)


class PoseKernelDistillator(nn.Module):
    """DKD's temporal step: previous pose -> per-sample kernels -> matched against the current frame.

    ``(feat_prev (B, C, H, W), feat_cur (B, C, H, W), heatmap_prev (B, J, Hh, Wh)) -> (B, J, Hh, Wh)``

    1. ``concat[heatmap_prev, feat_prev]`` (heatmaps resized to H x W) -> 1x1 conv to C channels;
    2. ``num_blocks`` x (3x3 conv, BN, ReLU, 2x2 max-pool), then an adaptive average pool to k x k:
       one k x k kernel per channel and sample (B, C, k, k);
    3. depthwise correlation of those kernels with ``feat_cur`` (B, C, H, W), mean over the k * k
       taps so the response keeps the features' scale;
    4. a 1x1 conv to J maps, resized to (Hh, Wh).

    Args:
        in_channels: C.
        num_joints: J.
        kernel_size: k (odd), 7 in DKD.
        num_blocks: conv-and-pool blocks shrinking the pose features before the final pool.
    """

    def __init__(self, in_channels: int, num_joints: int, kernel_size: int = 7, num_blocks: int = 3) -> None:
        super().__init__()
        expect_positive("in_channels", in_channels)
        expect_positive("num_joints", num_joints)
        expect_positive("kernel_size", kernel_size)
        expect_positive("num_blocks", num_blocks)
        if kernel_size % 2 == 0:
            raise ValueError(f"kernel_size: expected an odd size so the match stays centred, got {kernel_size}")
        self.in_channels = in_channels
        self.num_joints = num_joints
        self.kernel_size = kernel_size
        self.reduce = nn.Conv2d(num_joints + in_channels, in_channels, 1)
        blocks: list[nn.Module] = []
        for _ in range(num_blocks):
            blocks += [
                nn.Conv2d(in_channels, in_channels, 3, padding=1, bias=False),
                nn.BatchNorm2d(in_channels),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(2, ceil_mode=True),  # ceil: a 1-pixel map stays 1 pixel
            ]
        self.blocks = nn.Sequential(*blocks)
        self.to_joints = nn.Conv2d(in_channels, num_joints, 1)

    def kernels(self, feat_prev: torch.Tensor, heatmap_prev: torch.Tensor) -> torch.Tensor:
        """The distilled pose kernels (B, C, k, k)."""
        heat = resize(heatmap_prev.to(feat_prev.dtype), tuple(feat_prev.shape[-2:]))
        pose = self.blocks(self.reduce(torch.cat([heat, feat_prev], dim=1)))
        return F.adaptive_avg_pool2d(pose, self.kernel_size)

    def forward(self, feat_prev: torch.Tensor, feat_cur: torch.Tensor, heatmap_prev: torch.Tensor) -> torch.Tensor:
        check_temporal_inputs(self, feat_prev, feat_cur, heatmap_prev)
        if feat_cur.shape[0] == 0:
            # An empty batch: nothing to distil (a grouped conv with 0 groups fails, and BatchNorm
            # would fold an empty batch's NaN statistics into its running ones).
            return heatmap_prev.new_zeros(heatmap_prev.shape, dtype=feat_cur.dtype)
        response = depthwise_correlate(feat_cur, self.kernels(feat_prev, heatmap_prev))
        return resize(self.to_joints(response), tuple(heatmap_prev.shape[-2:]))

    def extra_repr(self) -> str:
        return f"in_channels={self.in_channels}, num_joints={self.num_joints}, kernel_size={self.kernel_size}"


class JRPSP(nn.Module):
    """RPSTN's joint-relation-guided pose semantics propagator.

    ``(feat_prev (B, C, H, W), feat_cur (B, C, H, W), heatmap_prev (B, J, Hh, Wh)) -> (B, J, Hh, Wh)``

    The previous heatmaps first pass through a :class:`JointRelationExtractor` (the "joint relation
    guidance"), then a :class:`PoseKernelDistillator` propagates them into the current frame by
    template matching. The RPSTN paper is not in this repository; this follows its description in
    KIMNet section 3.5 ("several convolutional layers to transfer the historical pose knowledge and
    template matching to search for similar regions in the current frame").

    Args: as :class:`PoseKernelDistillator`.
    """

    def __init__(self, in_channels: int, num_joints: int, kernel_size: int = 7, num_blocks: int = 3) -> None:
        super().__init__()
        self.relation = JointRelationExtractor(num_joints)
        self.distillator = PoseKernelDistillator(in_channels, num_joints, kernel_size, num_blocks)
        self.in_channels = in_channels
        self.num_joints = num_joints

    def forward(self, feat_prev: torch.Tensor, feat_cur: torch.Tensor, heatmap_prev: torch.Tensor) -> torch.Tensor:
        check_temporal_inputs(self, feat_prev, feat_cur, heatmap_prev)
        if feat_cur.shape[0] == 0:  # an empty batch: see PoseKernelDistillator.forward
            return heatmap_prev.new_zeros(heatmap_prev.shape, dtype=feat_cur.dtype)
        return self.distillator(feat_prev, feat_cur, self.relation(heatmap_prev.to(feat_prev.dtype)))
