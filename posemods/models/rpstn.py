"""RPSTN (Dang et al., "Relation-based associative joint location for human pose estimation in
videos", TIP 2022), as KIMNet's Table 1 and 2 compare against it.

Held against the authors' code, github:YHDang/RPSTN at commit f7dcd3e: ``lib/models/dkd_net.py``
(``DKD_Network``, the model ``pose_estimation/1_train_penn.py`` trains), ``lib/models/pose_resnet.py``
and ``lib/models/module/jre_module.py``. Shapes use the vocabulary of :mod:`posemods._shapes`.
"""

from __future__ import annotations

from posemods.models._registry import register_model
from posemods.models.recursive import RecursivePoseModel, registration


@register_model("rpstn", **registration("rpstn"))
class RPSTN(RecursivePoseModel):
    """``video (B, T, 3, H, W) -> heatmaps (B, T, J, H / 4, W / 4)``; the paper: 256 x 256 -> 64 x 64, T = 5.

    The same pose initializer and feature encoder as KIMNet (``pose_resnet.py:get_pose_net``:
    SimpleBaseline on ResNet-101 with its 1x1 heatmap layer for frame 1, on ResNet-50 without it for
    every frame), and one relation decoder (the joint relation extractor and a BatchNorm) for every
    frame. What ``temporal`` changes, for a frame t > 1:

    ==============  =============================================================================
    ``"original"``  ``m_t = Decoder(PKD(f_{t-1}, f_t, m_{t-1}))``, ``DKD_Network.forward``: the kernel
                    distillation (:class:`~posemods.models.PoseKernelDistillator`) matches the
                    decoded previous pose against ``f_t``; its J maps go straight to the decoder.
                    The decoder's output, fed to the next frame, is the JRPSP's joint relation
                    guidance.
    ``"kmm"``       The distillation is replaced by ``KMM`` plus KIMNet's correction,
                    ``m_t = Decoder(Conv_d(Conv_g(concat[KMM(f_{t-1}, f_t, m_{t-1}), f_t])))``: KMM's
                    prior only re-weights the previous heatmaps, so the current frame's appearance
                    has to come back in through ``Conv_g``. Architecturally this is KIMNet.
    ==============  =============================================================================

    Parameters at J = 13 (``"original"``): 89,487,700; the authors' ``DKD_Network`` has 89,488,038,
    the difference being their unused ``theta``/``phi`` convs (-364) and the decoder's own BatchNorm
    (+26); see :class:`~posemods.models.relation.JointRelationExtractor` and
    :class:`~posemods.models.relation.RelationDecoder` for these and the other deliberate
    differences. Their input is BGR in [0, 255] as read by ``cv2.imread``, never normalised; posemods'
    backbones take RGB in [0, 1] and normalise it with ImageNet's statistics.

    Args: as :class:`~posemods.models.kimnet.KIMNet`, with ``temporal="original" | "kmm"``.
    """

    family = "rpstn"
