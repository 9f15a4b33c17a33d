"""timm backbones built with random weights, optionally loaded from a local checkpoint.

Shapes use the vocabulary of :mod:`posemods._shapes`.
"""

from __future__ import annotations

import os

import timm
import torch
from torch import nn

from posemods.models.checkpoint import load_checkpoint
from posemods.models.normalize import ImageNormalize

# Classifier heads of the usual timm/torchvision classification checkpoints; a features-only
# backbone has no such layers, so their keys are dropped when loading.
CLASSIFIER_PREFIXES = ("fc.", "head.", "classifier.", "last_linear.", "global_pool.")


class Backbone(nn.Module):
    """A timm CNN's features as a pose head consumes them: image (B, 3, H, W) -> (B, C, H / r, W / r).

    SimpleBaseline's way for any timm CNN: the last stage (r = 32 for ResNets), which the head
    deconvolves back to 1/4. HRNet's way for ``"hrnet_*"``: the high-resolution branch of the last
    stage (r = 4; 32 channels for ``hrnet_w32``), which HRNet's head maps to heatmaps by a 1x1 conv.

    The image is RGB in [0, 1]; it is normalised with ImageNet's statistics first (what timm's
    classification checkpoints expect), by a ``normalize`` layer with no saved state.

    Args:
        name: any timm model that supports ``features_only`` (``"resnet18"`` ... ``"resnet152"``,
            ``"hrnet_w32"``, ...). Weights are random: nothing is downloaded.
        checkpoint: path to a local state_dict of the timm classification model of that name
            (its classifier keys are ignored) or of this ``Backbone``'s ``body``.

    Attributes:
        out_channels: C of the returned features.
        reduction: r, the total stride (32 for ResNets).
    """

    def __init__(self, name: str, checkpoint: str | os.PathLike | None = None) -> None:
        super().__init__()
        if not isinstance(name, str) or not timm.is_model(name):
            # Otherwise timm's bare "RuntimeError: Unknown model (resnet_51)" from deep inside a model.
            close = timm.list_models(f"*{name}*")[:5] if isinstance(name, str) else []
            hint = f"; close names: {', '.join(close)}" if close else " (see timm.list_models())"
            raise ValueError(f"backbone: expected the name of a timm model, got {name!r}{hint}")
        self.name = name
        self.normalize = ImageNormalize()
        self.high_resolution = name.startswith("hrnet")
        if self.high_resolution:
            # HRNet's pose head reads the final stage's 1/4-scale branch, into which every branch is
            # fused ("We regress the heatmaps simply from the high-resolution representations output
            # by the last exchange unit", Sun et al. 2019). timm's default features_only output is
            # its classification "incre" stack; feature_location="" gives the branches themselves,
            # and out index 1 the stride-4 one (index 0 is the stem at stride 2).
            self.body = timm.create_model(
                name, pretrained=False, features_only=True, feature_location="", out_indices=(1,)
            )
        else:
            self.body = timm.create_model(name, pretrained=False, features_only=True, out_indices=(-1,))
        self.out_channels = int(self.body.feature_info.channels()[-1])
        self.reduction = int(self.body.feature_info.reduction()[-1])
        # What H and W must be multiples of: the deepest stride inside the network (HRNet's lowest
        # branch is at 1/32 even though its output is at 1/4).
        self.input_multiple = 32 if self.high_resolution else self.reduction
        if checkpoint is not None:
            load_checkpoint(self.body, checkpoint, ignore_prefixes=CLASSIFIER_PREFIXES)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        height, width = image.shape[-2:]
        if self.high_resolution and (height % self.input_multiple or width % self.input_multiple):
            raise ValueError(
                f"image: expected H and W to be multiples of {self.name}'s deepest stride {self.input_multiple}, "
                f"got {height} x {width}"
            )
        (features,) = self.body(self.normalize(image))
        return features

    def extra_repr(self) -> str:
        return f"{self.name!r}, out_channels={self.out_channels}, reduction={self.reduction}"
