"""KIMNet's correction of a temporal prior with the current frame's features (eq. 5).

Shapes use the vocabulary of :mod:`posemods._shapes`.
"""

from __future__ import annotations

import torch
from torch import nn

from posemods._shapes import expect_positive, expect_shape


class PriorCorrection(nn.Module):
    """``Conv_d(Conv_g(concat[prior, features]))``: a 3x3 conv to ``hidden_channels``, then a 1x1 conv.

    ``prior (B, J, H, W)``, ``features (B, C, H, W) -> (B, out_channels, H, W)``

    KIMNet's eq. 5 writes the pair as two linear convolutions with nothing in between, and so does
    this module. Either input can be switched off, for the ablations of KIMNet's Table 4: without
    ``features`` it is the "Predicted" row (``feature_channels=0``), without a prior the "Baseline"
    row (``prior_channels=0``).

    Args:
        prior_channels: J of the prior, or 0 for none.
        feature_channels: C of the features, or 0 for none.
        hidden_channels: width of ``Conv_g``'s output (256 in KIMNet).
        out_channels: width of ``Conv_d``'s output (J in KIMNet).
    """

    def __init__(self, prior_channels: int, feature_channels: int, hidden_channels: int, out_channels: int) -> None:
        super().__init__()
        if prior_channels + feature_channels < 1:
            raise ValueError("prior_channels, feature_channels: at least one input must have channels")
        expect_positive("hidden_channels", hidden_channels)
        expect_positive("out_channels", out_channels)
        self.prior_channels = prior_channels
        self.feature_channels = feature_channels
        self.conv_g = nn.Conv2d(prior_channels + feature_channels, hidden_channels, 3, padding=1)
        self.conv_d = nn.Conv2d(hidden_channels, out_channels, 1)

    def forward(self, prior: torch.Tensor | None = None, features: torch.Tensor | None = None) -> torch.Tensor:
        dims: dict[str, int] = {}
        inputs = []
        for name, tensor, channels in (
            ("prior", prior, self.prior_channels),
            ("features", features, self.feature_channels),
        ):
            if (tensor is not None) != (channels > 0):
                raise ValueError(f"{name}: this correction was built with {name}_channels={channels}")
            if tensor is not None:
                expect_shape(name, tensor, f"B {channels} H W", dims)
                inputs.append(tensor)
        x = inputs[0] if len(inputs) == 1 else torch.cat(inputs, dim=1)
        return self.conv_d(self.conv_g(x))
