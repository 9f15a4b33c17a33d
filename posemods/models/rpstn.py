"""RPSTN (Dang et al., "Relation-based associative joint location for human pose estimation in
videos", TIP 2022), as KIMNet's Table 1 and 2 compare against it.

Shapes use the vocabulary of :mod:`posemods._shapes`.
"""

from __future__ import annotations

from posemods.models._registry import register_model
from posemods.models.recursive import RecursivePoseModel, registration


@register_model("rpstn", **registration("rpstn"))
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

    family = "rpstn"
