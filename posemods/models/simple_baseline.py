"""SimpleBaseline (Xiao et al., ECCV 2018): a timm backbone and a deconvolution head.

KIMNet, RPSTN and DKD use it twice: on ResNet-101 with a 1x1 heatmap layer as the pose initializer
for the first frame, and on ResNet-50 without that layer as the per-frame feature encoder.
Shapes use the vocabulary of :mod:`posemods._shapes`.
"""

from __future__ import annotations

import math
import os

import torch
from torch import nn

from posemods._shapes import expect_shape
from posemods.models.backbones import Backbone
from posemods.models.checkpoint import load_checkpoint
from posemods.models.heads import DeconvHead


class SimpleBaseline(nn.Module):
    """image (B, 3, H, W) -> heatmaps (B, J, H / 4, W / 4), or features (B, C, H / 4, W / 4).

    H and W must be multiples of the backbone's stride (32 for ResNets).

    Args:
        backbone: timm model name; the number of deconvolutions is chosen so the output is at 1/4
            of the input (3 for a ResNet's stride 32).
        num_joints: J, adding the final 1x1 conv; ``None`` returns the deconvolved features.
        channels: C, the deconvolution width (256 in the paper).
        checkpoint: local state_dict of a whole SimpleBaseline (e.g. one trained on MPII).
        backbone_checkpoint: local state_dict of the timm classification model (e.g. ImageNet).
    """

    def __init__(
        self,
        backbone: str = "resnet50",
        num_joints: int | None = None,
        channels: int = 256,
        checkpoint: str | os.PathLike | None = None,
        backbone_checkpoint: str | os.PathLike | None = None,
    ) -> None:
        super().__init__()
        self.backbone = Backbone(backbone, checkpoint=backbone_checkpoint)
        num_layers = round(math.log2(self.backbone.reduction / 4))
        if 4 * 2**num_layers != self.backbone.reduction:
            raise ValueError(f"backbone: {backbone!r} has stride {self.backbone.reduction}; expected 4 * 2**n")
        self.head = DeconvHead(self.backbone.out_channels, num_joints, num_layers=num_layers, channels=channels)
        self.out_channels = self.head.out_channels
        if checkpoint is not None:
            load_checkpoint(self, checkpoint)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        expect_shape("image", image, "B 3 H W", {})
        height, width = image.shape[-2:]
        reduction = self.backbone.reduction
        if height % reduction or width % reduction:
            # Otherwise the backbone rounds down and the heatmaps silently stop being H / 4 x W / 4.
            raise ValueError(
                f"image: expected H and W to be multiples of the backbone's stride {reduction}, got {height} x {width}"
            )
        return self.head(self.backbone(image))
