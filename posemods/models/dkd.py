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
                    correlated with ``f_t`` and mapped by a 1x1 conv and a BatchNorm to J maps,
                    are the heatmaps.
    ``"kmm"``       The distillator is replaced by ``KMM`` plus KIMNet's correction,
                    ``m_t = Conv_d(Conv_g(concat[KMM(f_{t-1}, f_t, m_{t-1}), f_t]))``.
    ==============  =============================================================================

    DKD's own code is not public. The distillator is the RPSTN authors' implementation of it
    (github:YHDang/RPSTN f7dcd3e, ``lib/models/dkd_net.py``, whose ``DKD_Network`` is RPSTN: DKD's
    kernel distillation plus the joint relation decoder), so this model is their RPSTN without the
    relation decoder. What DKD's paper adds and this does not have: its temporally adversarial
    training and its lighter per-frame network; here both backbones are the SimpleBaselines KIMNet
    uses, so that the retrofit compares temporal modules and nothing else. Parameters at J = 13
    (``"original"``): 89,487,284 (the authors' RPSTN, 89,488,038, less its 754-parameter relation
    extractor).

    Args: as :class:`~posemods.models.kimnet.KIMNet`, with ``temporal="original" | "kmm"``.
    """

    family = "dkd"
