"""The temporal-module contract, and the factory that builds any module that honours it.

A *temporal module* maps

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

from typing import Protocol, runtime_checkable

import torch
from torch import nn

from posemods import KMM
from posemods._shapes import expect_choice

TEMPORAL_MODULES = ("kmm", "dkd", "jrpsp")


@runtime_checkable
class TemporalModule(Protocol):
    """Structural type of a temporal module; ``isinstance(module, TemporalModule)`` checks it."""

    in_channels: int
    num_joints: int

    def __call__(self, feat_prev: torch.Tensor, feat_cur: torch.Tensor, heatmap_prev: torch.Tensor) -> torch.Tensor:
        """Return the prior (B, J, Hh, Wh) for the current frame."""
        ...


def build_temporal(kind: str, in_channels: int, num_joints: int, backend: str = "auto", **kwargs) -> nn.Module:
    """Build the temporal module named ``kind`` (one of :data:`TEMPORAL_MODULES`).

    ``backend`` goes to KMM (the only one with a fused path); ``kwargs`` go to the constructor.
    """
    expect_choice("temporal", kind, TEMPORAL_MODULES)
    if kind == "kmm":
        return KMM(in_channels, num_joints, backend=backend, **kwargs)
    from posemods.models.kernel_distillation import JRPSP, PoseKernelDistillator  # it imports this file

    cls = PoseKernelDistillator if kind == "dkd" else JRPSP
    return cls(in_channels, num_joints, **kwargs)
