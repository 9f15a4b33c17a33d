"""KIMNet (Dang et al., kinematics modeling network), section 3.2 of kimnet.txt.

Shapes use the vocabulary of :mod:`posemods._shapes`.
"""

from __future__ import annotations

import os

from posemods._shapes import expect_choice
from posemods.models.correction import PriorCorrection
from posemods.models.recursive import RecursivePoseModel
from posemods.models.relation import JointRelationExtractor
from posemods.models.temporal import build_temporal

#: The rows of KIMNet's Table 4.
KIMNET_TEMPORAL = ("kmm", "predicted", "jrpsp", "dkd", "none")


class KIMNet(RecursivePoseModel):
    """``video (B, T, 3, H, W) -> heatmaps (B, T, J, H / 4, W / 4)``; the paper: 256 x 256 -> 64 x 64, T = 5.

    - Frame 1: the pose initializer (SimpleBaseline on ResNet-101), then the decoder.
    - Frame t > 1: ``prior = KMM(f_{t-1}, f_t, m_{t-1})``; ``Conv_d(Conv_g(concat[prior, f_t]))`` (eq. 5);
      then the decoder. ``f`` comes from the feature encoder (SimpleBaseline on ResNet-50 without the
      final 1x1 layer: C = 256 channels at 1/4 resolution).
    - The decoder is RPSTN's joint relation extractor, shared by all frames (eq. 6).

    ``temporal`` picks the row of Table 4:

    ==============  ===========================================================================
    ``"kmm"``       KIMNet.
    ``"predicted"`` The KMM prior alone: ``Conv_g`` sees the prior but not ``f_t`` (KMM's query
                    still comes from ``f_t``: motion needs both frames).
    ``"jrpsp"``     RPSTN's JRPSP in KMM's place; the correction and decoder stay.
    ``"dkd"``       DKD's pose kernel distillator in KMM's place.
    ``"none"``      Baseline: no temporal module, ``Conv_g`` sees ``f_t`` only; frames are independent.
    ==============  ===========================================================================

    The backbones give Table 7: ``encoder_backbone="resnet18" | "resnet34" | "resnet50"`` or any timm
    CNN with ``features_only`` (e.g. ``"hrnet_w32"``).

    Args:
        num_joints: J (13 on Penn Action, 15 on Sub-JHMDB).
        temporal: see above.
        initializer_backbone, encoder_backbone: timm names; random weights unless a checkpoint is given.
        channels: C, the encoder width.
        backend: the KMM backend, ``"auto"``, ``"reference"`` or ``"triton"``.
        initializer_checkpoint, encoder_checkpoint: local SimpleBaseline state_dicts.
        checkpoint: a local state_dict of the whole KIMNet, loaded last.
        temporal_kwargs: extra arguments of the temporal module (e.g. ``{"resolution": 32}`` for KMM).
    """

    def __init__(
        self,
        num_joints: int = 13,
        temporal: str = "kmm",
        initializer_backbone: str = "resnet101",
        encoder_backbone: str = "resnet50",
        channels: int = 256,
        backend: str = "auto",
        initializer_checkpoint: str | os.PathLike | None = None,
        encoder_checkpoint: str | os.PathLike | None = None,
        checkpoint: str | os.PathLike | None = None,
        temporal_kwargs: dict | None = None,
    ) -> None:
        expect_choice("temporal", temporal, KIMNET_TEMPORAL)
        super().__init__(
            num_joints, initializer_backbone, encoder_backbone, channels, initializer_checkpoint, encoder_checkpoint
        )
        self.mode = temporal
        if temporal != "none":
            kind = "kmm" if temporal == "predicted" else temporal
            self.temporal = build_temporal(kind, channels, num_joints, backend=backend, **(temporal_kwargs or {}))
        prior_channels = 0 if temporal == "none" else num_joints
        feature_channels = 0 if temporal == "predicted" else channels
        self.correction = PriorCorrection(prior_channels, feature_channels, channels, num_joints)
        self.decoder = JointRelationExtractor(num_joints)
        self._load(checkpoint)

    def extra_repr(self) -> str:
        return f"num_joints={self.num_joints}, temporal={self.mode!r}"
