"""Deconvolution heads: SimpleBaseline's (Xiao et al., 2018) and ViTPose's classic decoder.

Shapes use the vocabulary of :mod:`posemods._shapes`.
"""

from __future__ import annotations

import torch
from torch import nn

from posemods._shapes import expect_choice, expect_positive, expect_shape


class DeconvHead(nn.Module):
    """Upsample features with stride-2 deconvolutions, then optionally a 1x1 conv to heatmaps.

    ``(B, C, H, W) -> (B, out_channels or channels, H * 2**num_layers, W * 2**num_layers)``

    Each layer is ``ConvTranspose2d(k=4, s=2, p=1, bias=False) -> BatchNorm2d -> ReLU``. SimpleBaseline
    uses 3 layers of 256 channels on a ResNet's 1/32 features (so heatmaps come out at 1/4); ViTPose's
    classic decoder uses 2 layers on the 1/16 patch grid.

    Args:
        in_channels: C.
        out_channels: J for a heatmap head; ``None`` stops after the last deconvolution (KIMNet's
            feature encoder: "SimpleBaseline without the final 1x1 layer").
        num_layers: deconvolutions, each doubling H and W; with 0 (a stride-4 backbone such as HRNet)
            and no ``out_channels``, a 1x1 conv-BN-ReLU maps ``in_channels`` to ``channels``.
        channels: width of every deconvolution.
        kernel_size: 4, 3 or 2; padding is chosen so each layer exactly doubles the size.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int | None = None,
        num_layers: int = 3,
        channels: int = 256,
        kernel_size: int = 4,
    ) -> None:
        super().__init__()
        expect_positive("in_channels", in_channels)
        expect_choice("kernel_size", kernel_size, (4, 3, 2))
        if out_channels is not None:
            expect_positive("out_channels", out_channels)
        self.in_channels = in_channels
        padding, output_padding = {4: (1, 0), 3: (1, 1), 2: (0, 0)}[kernel_size]
        layers: list[nn.Module] = []
        width = in_channels
        for _ in range(num_layers):
            layers += [
                nn.ConvTranspose2d(width, channels, kernel_size, 2, padding, output_padding, bias=False),
                nn.BatchNorm2d(channels),
                nn.ReLU(inplace=True),
            ]
            width = channels
        if num_layers == 0 and out_channels is None and in_channels != channels:
            # A stride-4 backbone (HRNet) needs no deconvolution; a feature encoder still has to
            # give C = channels, so a 1x1 conv-BN-ReLU takes the place of the deconvolutions.
            layers += [nn.Conv2d(in_channels, channels, 1, bias=False), nn.BatchNorm2d(channels), nn.ReLU(inplace=True)]
            width = channels
        self.deconv = nn.Sequential(*layers)
        self.final = nn.Conv2d(width, out_channels, 1) if out_channels is not None else None
        self.out_channels = out_channels if out_channels is not None else width
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # SimpleBaseline's init: small normal weights so the first heatmaps are near zero.
        for module in self.modules():
            if isinstance(module, (nn.ConvTranspose2d, nn.Conv2d)):
                nn.init.normal_(module.weight, std=0.001)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        expect_shape("x", x, "B C H W", {"C": self.in_channels})
        x = self.deconv(x)
        return self.final(x) if self.final is not None else x


class TokenHeatmapHead(nn.Module):
    """TokenPose's head (Li et al., ICCV 2021): each keypoint token becomes its joint's heatmap by an MLP.

    ``tokens (B, J, C) -> heatmaps (B, J, H, W)``: per token ``LN -> Linear(C, hidden) -> LN ->
    Linear(hidden, H * W)``, then a reshape to the H x W grid. The same MLP serves every joint: which
    joint a heatmap belongs to is carried by its token. TokenPose uses ``hidden = H * W / 8`` (384 for
    its 64 x 48 heatmaps), the default here.

    Args:
        dim: C, the token width.
        heatmap_size: (H, W) of the output heatmaps.
        hidden_dim: width of the hidden layer; default H * W // 8.
    """

    def __init__(self, dim: int, heatmap_size: tuple[int, int] = (64, 48), hidden_dim: int | None = None) -> None:
        super().__init__()
        expect_positive("dim", dim)
        height, width = heatmap_size
        expect_positive("heatmap height", height)
        expect_positive("heatmap width", width)
        hidden_dim = max(1, height * width // 8) if hidden_dim is None else hidden_dim
        expect_positive("hidden_dim", hidden_dim)
        self.dim, self.heatmap_size = dim, (height, width)
        self.mlp = nn.Sequential(
            nn.LayerNorm(dim),
            nn.Linear(dim, hidden_dim),
            nn.LayerNorm(hidden_dim),
            nn.Linear(hidden_dim, height * width),
        )

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        expect_shape("tokens", tokens, "B J C", {"C": self.dim})
        return self.mlp(tokens).unflatten(-1, self.heatmap_size)
