"""RPSTN (Dang et al., "Relation-based associative joint location for human pose estimation in
videos", TIP 2022), as KIMNet's Table 1 and 2 compare against it.

Shapes use the vocabulary of :mod:`posemods._shapes`.
"""

from __future__ import annotations

import os

from posemods._shapes import expect_choice
from posemods.models.correction import PriorCorrection
from posemods.models.recursive import RecursivePoseModel
from posemods.models.relation import JointRelationExtractor
from posemods.models.temporal import build_temporal


class RPSTN(RecursivePoseModel):
    """``video (B, T, 3, H, W) -> heatmaps (B, T, J, H / 4, W / 4)``; the paper: 256 x 256 -> 64 x 64, T = 5.

    The same pose initializer and feature encoder as KIMNet, and the joint relation extractor as the
    decoder of every frame. What ``temporal`` changes, for a frame t > 1:

    ==============  =============================================================================
    ``"original"``  ``m_t = JRE(JRPSP(f_{t-1}, f_t, m_{t-1}))``: the JRPSP already matches the
                    previous pose against ``f_t``, so its J maps go straight to the decoder.
    ``"kmm"``       The JRPSP is replaced by ``KMM`` plus KIMNet's correction,
                    ``m_t = JRE(Conv_d(Conv_g(concat[KMM(f_{t-1}, f_t, m_{t-1}), f_t])))``: KMM's prior
                    only re-weights the previous heatmaps, so the current frame's appearance has
                    to come back in through ``Conv_g``. Architecturally this is KIMNet.
    ==============  =============================================================================

    Args: as :class:`~posemods.models.kimnet.KIMNet`, with ``temporal="original" | "kmm"``.
    """

    def __init__(
        self,
        num_joints: int = 13,
        temporal: str = "original",
        initializer_backbone: str = "resnet101",
        encoder_backbone: str = "resnet50",
        channels: int = 256,
        backend: str = "auto",
        initializer_checkpoint: str | os.PathLike | None = None,
        encoder_checkpoint: str | os.PathLike | None = None,
        checkpoint: str | os.PathLike | None = None,
        temporal_kwargs: dict | None = None,
    ) -> None:
        expect_choice("temporal", temporal, ("original", "kmm"))
        super().__init__(
            num_joints, initializer_backbone, encoder_backbone, channels, initializer_checkpoint, encoder_checkpoint
        )
        self.mode = temporal
        kind = "jrpsp" if temporal == "original" else "kmm"
        self.temporal = build_temporal(kind, channels, num_joints, backend=backend, **(temporal_kwargs or {}))
        if temporal == "kmm":
            self.correction = PriorCorrection(num_joints, channels, channels, num_joints)
        self.decoder = JointRelationExtractor(num_joints)
        self._load(checkpoint)

    def extra_repr(self) -> str:
        return f"num_joints={self.num_joints}, temporal={self.mode!r}"
