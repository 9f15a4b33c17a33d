"""The temporal-module contract: the one signature KMM and the temporal blocks it replaces share.

A *temporal module* maps

    ``(feat_prev (B, C, H, W), feat_cur (B, C, H, W), heatmap_prev (B, J, Hh, Wh)) -> prior (B, J, Hh, Wh)``

the previous frame's features, the current frame's features and the previous frame's heatmaps to a
heatmap prior for the current frame (KIMNet eq. 2-4: ``m^p_{t+1} = zeta(phi(f_t, f_{t+1}), m_t)``).
It keeps no state between calls and has ``in_channels`` (C) and ``num_joints`` (J) attributes.

This file is the core's half of the contract (KMM implements it and lives in the core); the models
build the other implementations (:func:`posemods.models.build_temporal`). It imports nothing but the
shape vocabulary, so models and modules can both import it without importing the package face.
Shapes use the vocabulary of :mod:`posemods._shapes`.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import nn

from posemods._shapes import _autocasting, expect_inputs, expect_module_dtype, expect_same


@runtime_checkable
class TemporalModule(Protocol):
    """Structural type of a temporal module; ``isinstance(module, TemporalModule)`` checks it."""

    in_channels: int
    num_joints: int

    def __call__(self, feat_prev: torch.Tensor, feat_cur: torch.Tensor, heatmap_prev: torch.Tensor) -> torch.Tensor:
        """Return the prior (B, J, Hh, Wh) for the current frame."""
        ...


def check_temporal_inputs(
    module: nn.Module, feat_prev: torch.Tensor, feat_cur: torch.Tensor, heatmap_prev: torch.Tensor
) -> dict[str, int]:
    """The checks of a temporal module's inputs (KMM's, and the modules it replaces); sizes by letter.

    ``module`` has ``in_channels`` (C) and ``num_joints`` (J). Besides the shapes and float dtypes,
    the features must be on the module's device and, outside autocast, of its parameters' dtype:
    otherwise the first conv fails with torch's "Input type ... and weight type ... should be the
    same", which names neither the argument nor the module. ``heatmap_prev`` may be of any float
    dtype (every implementation casts it to the features' dtype).
    """
    dims = expect_inputs(
        {"C": module.in_channels, "J": module.num_joints},
        feat_prev=(feat_prev, "B C H W"),
        feat_cur=(feat_cur, "B C H W"),
        heatmap_prev=(heatmap_prev, "B J Hh Wh"),
    )
    if not _autocasting(feat_prev.device.type):  # under autocast a mix is expected (casts per op)
        expect_same("dtype", feat_prev=feat_prev, feat_cur=feat_cur)
    expect_module_dtype("feat_prev", feat_prev, module)  # also checks the device
    return dims
