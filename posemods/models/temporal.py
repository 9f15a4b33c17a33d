"""The factory that builds any module honouring the temporal-module contract.

The contract and its input check live in :mod:`posemods.modules.temporal` (re-exported here): a
*temporal module* maps

    ``(feat_prev (B, C, H, W), feat_cur (B, C, H, W), heatmap_prev (B, J, Hh, Wh)) -> prior (B, J, Hh, Wh)``

the previous frame's features, the current frame's features and the previous frame's heatmaps to a
heatmap prior for the current frame (KIMNet eq. 2-4: ``m^p_{t+1} = zeta(phi(f_t, f_{t+1}), m_t)``).
It keeps no state between calls and has ``in_channels`` (C) and ``num_joints`` (J) attributes.

Who implements it:

====================  =====================================================================
``"kmm"``             :class:`posemods.KMM` (KIMNet section 3.3), from the core package
``"dkd"``             :class:`~posemods.models.kernel_distillation.PoseKernelDistillator`
``"jrpsp"``           :class:`~posemods.models.kernel_distillation.JRPSP`
====================  =====================================================================

LSTMPM's ConvLSTM does not fit: it carries a hidden state and never sees the previous frame's
features, so it is the plain :class:`~posemods.models.conv_lstm.ConvLSTMCell` instead.

Shapes use the vocabulary of :mod:`posemods._shapes`.
"""

from __future__ import annotations

from torch import nn

from posemods._shapes import expect_choice
from posemods.models.kernel_distillation import JRPSP, PoseKernelDistillator
from posemods.modules.kmm import KinematicsModelingModule as KMM
from posemods.modules.temporal import TemporalModule, check_temporal_inputs

__all__ = ["TEMPORAL_MODULES", "TemporalModule", "build_temporal", "check_temporal_inputs"]

TEMPORAL_MODULES = ("kmm", "dkd", "jrpsp")


def build_temporal(kind: str, in_channels: int, num_joints: int, backend: str = "auto", **kwargs) -> nn.Module:
    """Build the temporal module named ``kind`` (one of :data:`TEMPORAL_MODULES`).

    ``backend`` goes to KMM (the only one with a fused path); ``kwargs`` go to the constructor.
    """
    expect_choice("temporal", kind, TEMPORAL_MODULES)
    if kind == "kmm":
        return KMM(in_channels, num_joints, backend=backend, **kwargs)
    cls = PoseKernelDistillator if kind == "dkd" else JRPSP
    return cls(in_channels, num_joints, **kwargs)
