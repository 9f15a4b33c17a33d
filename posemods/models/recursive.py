"""The frame-by-frame recursion shared by KIMNet, RPSTN and DKD.

Frame 1 gets its heatmaps from a pose initializer. Every later frame t gets them from the previous
frame's heatmaps and features and its own features, through a temporal module, an optional
correction and an optional decoder (KIMNet eq. 2):

    m_1 = decoder(initializer(I_1))
    m_t = decoder(correction(temporal(f_{t-1}, f_t, m_{t-1}), f_t)),   f_t = encoder(I_t)

Shapes use the vocabulary of :mod:`posemods._shapes`.
"""

from __future__ import annotations

import os

import torch
from torch import nn

from posemods._shapes import expect_float, expect_positive, expect_shape
from posemods.models.checkpoint import load_checkpoint
from posemods.models.correction import PriorCorrection
from posemods.models.simple_baseline import SimpleBaseline


class RecursivePoseModel(nn.Module):
    """``video (B, T, 3, H, W) -> heatmaps (B, T, J, H / 4, W / 4)``, one frame after another.

    Subclasses build ``temporal``, ``correction`` and ``decoder`` (each may be ``None``); this class
    owns the pose initializer, the feature encoder and the loop.

    Args:
        num_joints: J.
        initializer_backbone: timm backbone of the SimpleBaseline pose initializer (frame 1).
        encoder_backbone: timm backbone of the SimpleBaseline feature encoder (all frames).
        channels: C, the encoder's output width.
        initializer_checkpoint, encoder_checkpoint: local state_dicts of the two SimpleBaselines
            (e.g. trained on MPII, as in the papers). Nothing is ever downloaded.
    """

    #: A clip of the papers' size, (T, 3, H, W): used by the examples and the latency helper.
    default_clip = (5, 3, 256, 256)

    def __init__(
        self,
        num_joints: int,
        initializer_backbone: str,
        encoder_backbone: str,
        channels: int,
        initializer_checkpoint: str | os.PathLike | None,
        encoder_checkpoint: str | os.PathLike | None,
    ) -> None:
        super().__init__()
        expect_positive("num_joints", num_joints)
        expect_positive("channels", channels)
        self.num_joints = num_joints
        self.channels = channels
        self.initializer = SimpleBaseline(initializer_backbone, num_joints, checkpoint=initializer_checkpoint)
        self.encoder = SimpleBaseline(encoder_backbone, None, channels, checkpoint=encoder_checkpoint)
        self.temporal: nn.Module | None = None
        self.correction: PriorCorrection | None = None
        self.decoder: nn.Module | None = None

    def _load(self, checkpoint: str | os.PathLike | None) -> None:
        if checkpoint is not None:
            load_checkpoint(self, checkpoint)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        """Return the heatmaps of every frame, (B, T, J, H / 4, W / 4)."""
        expect_shape("video", video, "B T 3 H W", {})
        expect_float("video", video)
        batch, frames = video.shape[:2]

        heatmap = self.initializer(video[:, 0])
        if self.decoder is not None:
            heatmap = self.decoder(heatmap)
        outputs = [heatmap]
        if frames > 1:
            # Without a temporal module the first frame's features are never used.
            first = 0 if self.temporal is not None else 1
            features = self.encoder(video[:, first:].flatten(0, 1)).unflatten(0, (batch, frames - first))
            for t in range(1, frames):
                feat_prev = features[:, t - 1 - first] if self.temporal is not None else None
                outputs.append(self.step(feat_prev, features[:, t - first], outputs[-1]))
        return torch.stack(outputs, dim=1)

    def step(self, feat_prev: torch.Tensor | None, feat_cur: torch.Tensor, heatmap_prev: torch.Tensor) -> torch.Tensor:
        """One later frame: (B, C, h, w), (B, C, h, w), (B, J, h, w) -> heatmaps (B, J, h, w)."""
        prior = self.temporal(feat_prev, feat_cur, heatmap_prev) if self.temporal is not None else None
        x = prior
        if self.correction is not None:
            x = self.correction(
                prior if self.correction.prior_channels else None,
                feat_cur if self.correction.feature_channels else None,
            )
        return self.decoder(x) if self.decoder is not None else x
