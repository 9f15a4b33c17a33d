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
    """A timm CNN cut after its last stage: image (B, 3, H, W) -> features (B, C, H / r, W / r).

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
        self.body = timm.create_model(name, pretrained=False, features_only=True, out_indices=(-1,))
        self.out_channels = int(self.body.feature_info.channels()[-1])
        self.reduction = int(self.body.feature_info.reduction()[-1])
        if checkpoint is not None:
            load_checkpoint(self.body, checkpoint, ignore_prefixes=CLASSIFIER_PREFIXES)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        (features,) = self.body(self.normalize(image))
        return features

    def extra_repr(self) -> str:
        return f"{self.name!r}, out_channels={self.out_channels}, reduction={self.reduction}"
