"""DKD (Nie et al., "Dynamic kernel distillation for efficient pose estimation in videos", ICCV 2019),
as KIMNet's Table 1 and 2 compare against it.

Shapes use the vocabulary of :mod:`posemods._shapes`.
"""

from __future__ import annotations

from posemods.models._registry import register_model
from posemods.models.recursive import RecursivePoseModel, registration


@register_model("dkd", **registration("dkd"))
class DKD(RecursivePoseModel):
    """``video (B, T, 3, H, W) -> heatmaps (B, T, J, H / 4, W / 4)``; the paper: 256 x 256 -> 64 x 64, T = 5.

    Frame 1 is the pose initializer's output; there is no decoder. For a frame t > 1:

    ==============  =============================================================================
    ``"original"``  ``m_t = PKD(f_{t-1}, f_t, m_{t-1})``: the pose kernel distillator's kernels,
                    correlated with ``f_t`` and mapped by a 1x1 conv to J maps, are the heatmaps.
    ``"kmm"``       The distillator is replaced by ``KMM`` plus KIMNet's correction,
                    ``m_t = Conv_d(Conv_g(concat[KMM(f_{t-1}, f_t, m_{t-1}), f_t]))``.
    ==============  =============================================================================

    DKD's own paper pairs a large initializer with a light per-frame encoder; here both are the
    SimpleBaselines KIMNet uses, so that the retrofit compares temporal modules and nothing else.

    Args: as :class:`~posemods.models.kimnet.KIMNet`, with ``temporal="original" | "kmm"``.
    """

    family = "dkd"
