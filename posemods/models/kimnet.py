"""KIMNet (Dang et al., kinematics modeling network), section 3.2 of kimnet.txt.

Shapes use the vocabulary of :mod:`posemods._shapes`.
"""

from __future__ import annotations

from posemods.models._registry import register_model
from posemods.models.recursive import RecursivePoseModel, registration
from posemods.variants import RECURSIVE_VARIANTS

#: The rows of KIMNet's Tables 4 and 5 (the keys of ``RECURSIVE_VARIANTS["kimnet"]``).
KIMNET_TEMPORAL = tuple(RECURSIVE_VARIANTS["kimnet"])


@register_model("kimnet", **registration("kimnet"))
class KIMNet(RecursivePoseModel):
    """``video (B, T, 3, H, W) -> heatmaps (B, T, J, H / 4, W / 4)``; the paper: 256 x 256 -> 64 x 64, T = 5.

    - Frame 1: the pose initializer (SimpleBaseline on ResNet-101), then the decoder.
    - Frame t > 1: ``prior = KMM(f_{t-1}, f_t, m_{t-1})``; ``Conv_d(Conv_g(concat[prior, f_t]))`` (eq. 5);
      then the decoder. ``f`` comes from the feature encoder (SimpleBaseline on ResNet-50 without the
      final 1x1 layer: C = 256 channels at 1/4 resolution).
    - The decoder is RPSTN's joint relation extractor, shared by all frames (eq. 6).

    ``temporal`` picks the row of Tables 4 and 5:

    ==============  ===========================================================================
    ``"kmm"``       KIMNet.
    ``"predicted"`` The KMM prior alone: ``Conv_g`` sees the prior but not ``f_t`` (KMM's query
                    still comes from ``f_t``: motion needs both frames).
    ``"jrpsp"``     RPSTN's JRPSP in KMM's place; the correction and decoder stay.
    ``"dkd"``       DKD's pose kernel distillator in KMM's place.
    ``"none"``      Baseline: no temporal module, ``Conv_g`` sees ``f_t`` only; frames are independent.
    ``"heatmap"``   Table 5's KIMNet-Heatmap, "We adopt heatmaps in two frames to model the temporal
                    correlation between joints": KMM's key comes from ``m_{t-1}`` and its query
                    from the pose initializer's heatmaps of frame t, ``KMM(m_{t-1}, init(I_t),
                    m_{t-1})``. The paper does not say which heatmaps; those of frame t that exist
                    before its prior are the initializer's, so this variant runs the initializer
                    on every frame. Correction and decoder are KIMNet's.
    ==============  ===========================================================================

    The rows are data (``posemods.variants.RECURSIVE_VARIANTS["kimnet"]``), read by this class and
    by the CLIs' registry alike; KIMNet is :class:`RecursivePoseModel` with ``family="kimnet"``.

    The backbones give Table 7: ``encoder_backbone="resnet18" | "resnet34" | "resnet50"`` or any timm
    CNN with ``features_only`` (e.g. ``"hrnet_w32"``).

    Args (those of :class:`RecursivePoseModel`):
        num_joints: J (13 on Penn Action, 15 on Sub-JHMDB).
        temporal: see above.
        initializer_backbone, encoder_backbone: timm names; random weights unless a checkpoint is given.
        channels: C, the encoder width.
        backend: the KMM backend, ``"auto"``, ``"reference"`` or ``"triton"``.
        initializer_checkpoint, encoder_checkpoint: local SimpleBaseline state_dicts.
        checkpoint: a local state_dict of the whole KIMNet, loaded last.
        temporal_kwargs: extra arguments of the temporal module (e.g. ``{"resolution": 32}`` for KMM).
    """

    family = "kimnet"
