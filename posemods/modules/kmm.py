"""KinematicsModelingModule (KMM), KIMNet section 3.3, eq. 7-11.

Shapes use the vocabulary of :mod:`posemods._shapes`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from posemods import functional
from posemods._backend import BACKENDS
from posemods._resize import resize
from posemods._shapes import expect_choice, expect_positive, traced_value
from posemods.modules.temporal import check_temporal_inputs

ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "identity": nn.Identity}
#: How a query map is compared with a key map: ``"dot"`` is eq. 9 as printed; ``"cosine"`` is an option
#: outside the paper (see :class:`KinematicsModelingModule`).
SIMILARITIES = ("dot", "cosine")
#: The learnable temperature of ``similarity="cosine"`` starts here: a cosine of 1 against one of 0
#: is then a factor e^10 in the softmax, sharp enough for identity-like rows, soft enough to train.
COSINE_TEMPERATURE = 10.0


class KinematicsModelingModule(nn.Module):
    """Predict this frame's heatmaps from the last frame's, by attention between joints.

    **The temporal-module contract.** A temporal module maps

        ``(feat_prev (B, C, H, W), feat_cur (B, C, H, W), heatmap_prev (B, J, Hh, Wh)) -> prior (B, J, Hh, Wh)``

    i.e. the previous frame's features, the current frame's features and the previous frame's
    heatmaps to a heatmap prior for the current frame. Any model that has such a step (LSTMPM's
    ConvLSTM, DKD's pose-kernel distillator, RPSTN's JRPSP) can call KMM there instead; the
    model then corrects the prior with the current frame's features, e.g. KIMNet's Conv_g/Conv_d.

    What it computes (KIMNet eq. 7-11):

    - ``key = sigma(Conv_h feat_prev)`` and ``query = sigma(Conv_c feat_cur)``, each (B, J, H, W):
      one map per joint (eq. 7). ``shared_projection=True`` uses one conv for both (KIMNet-Share-hc).
    - ``attn[b, j, i] = softmax_i(<query[b, j], key[b, i]> / sqrt(H * W))`` (eq. 8-10): how much
      joint j now draws on joint i a frame ago.
    - ``prior[b, j] = sum_i attn[b, j, i] * heatmap_prev[b, i]`` (eq. 11), plus ``heatmap_prev``
      when ``residual=True`` (KIMNet-Residual).

    Args:
        in_channels: C, the feature channels.
        num_joints: J.
        activation: sigma: ``"relu"`` (default), ``"sigmoid"`` or ``"identity"``.
        shared_projection: one 1x1 conv for both frames instead of two.
        residual: add ``heatmap_prev`` to the prediction.
        resolution: S; when given, the joint maps and the heatmaps are resized to S x S for the
            attention (the paper's Table 6) and the prediction is resized back to (Hh, Wh).
        backend: ``"auto"``, ``"reference"`` or ``"triton"`` for the attention.
        normalization: eq. 10's reading, ``"softmax"`` (default: the text, "normalized by a softmax
            function") or ``"sum"`` (the printed formula, ``w = o / sum_l o``); see
            :func:`posemods.functional.kinematics_attention`. ``"sum"`` needs non-negative maps, so it
            refuses ``activation="identity"``.
        similarity: ``"dot"`` (default, eq. 9: ``<query_j, key_i> / sqrt(H * W)``) or ``"cosine"``, an
            option that is **not in the paper**: each joint map is divided by its L2 norm over the
            positions and the logits are ``tau * cos(query_j, key_i)`` with a learnable ``tau``
            (starting at :data:`COSINE_TEMPERATURE`; with ``"sum"`` it cancels and is not created).
            Why it exists: with non-negative (ReLU) maps, ``<query_j, key_i>`` grows with the total
            mass of ``key_i``, the same for every row j, so every joint ranks the previous joints
            the same way and the attention collapses onto the heaviest key; and the dot product of
            two sharp joint maps is small against ``sqrt(H * W)``, so the softmax stays flat.
            ``benchmarks/evidence/kmm_attention.py`` measures both effects and this option's.
    """

    def __init__(
        self,
        in_channels: int,
        num_joints: int,
        activation: str = "relu",
        shared_projection: bool = False,
        residual: bool = False,
        resolution: int | None = None,
        backend: str = "auto",
        normalization: str = "softmax",
        similarity: str = "dot",
    ) -> None:
        super().__init__()
        expect_positive("in_channels", in_channels)
        expect_positive("num_joints", num_joints)
        expect_choice("activation", activation, tuple(ACTIVATIONS))
        expect_choice("backend", backend, BACKENDS)
        expect_choice("normalization", normalization, functional.NORMALIZATIONS)
        expect_choice("similarity", similarity, SIMILARITIES)
        if normalization == "sum" and activation == "identity":
            raise ValueError(
                "normalization: 'sum' divides by the sum of the logits, which needs non-negative joint maps; "
                "activation='identity' can give negative ones (use 'relu' or 'sigmoid')"
            )
        if resolution is not None:
            expect_positive("resolution", resolution)
        self.in_channels = in_channels
        self.num_joints = num_joints
        self.residual = residual
        self.resolution = resolution
        self.backend = backend
        self.normalization = normalization
        self.similarity = similarity
        # log(tau): a logit scale only matters to a softmax (the "sum" normalisation divides it out).
        self.log_temperature = (
            nn.Parameter(torch.tensor(math.log(COSINE_TEMPERATURE)))
            if similarity == "cosine" and normalization == "softmax"
            else None
        )
        self.proj_cur = nn.Conv2d(in_channels, num_joints, 1)  # Conv_c
        # Tied weights, as with tied embeddings: one Conv2d registered under both names.
        self.proj_prev = self.proj_cur if shared_projection else nn.Conv2d(in_channels, num_joints, 1)  # Conv_h
        self.activation = ACTIVATIONS[activation]()

    @property
    def shared_projection(self) -> bool:
        return self.proj_prev is self.proj_cur

    def forward(
        self,
        feat_prev: torch.Tensor,
        feat_cur: torch.Tensor,
        heatmap_prev: torch.Tensor,
        return_attention: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Return the prior (B, J, Hh, Wh), and the attention (B, J, J) if ``return_attention``."""
        check_temporal_inputs(self, feat_prev, feat_cur, heatmap_prev)
        out_size = heatmap_prev.shape[-2:]

        key = self.activation(self.proj_prev(feat_prev))
        query = self.activation(self.proj_cur(feat_cur))
        value = heatmap_prev.to(query.dtype)
        if self.resolution is not None:
            size = (self.resolution, self.resolution)
            query, key, value = (resize(t, size) for t in (query, key, value))

        scale = None  # eq. 9's 1 / sqrt(H * W)
        if self.similarity == "cosine":
            query, key = _unit_maps(query), _unit_maps(key)
            if self.log_temperature is not None:
                # tau goes into the query (a tensor), so the op keeps its float scale and both backends.
                query = query * self.log_temperature.exp().to(query.dtype)
            scale = 1.0
        prior, attn = functional.kinematics_attention(
            query, key, value, scale=scale, backend=self.backend, normalization=self.normalization
        )
        if self.resolution is not None:
            prior = resize(prior, out_size)
        if self.residual:
            prior = prior + heatmap_prev
        # traced_value: the legacy ONNX exporter passes the defaulted flag as a tensor; it shapes the outputs.
        return (prior, attn) if traced_value(return_attention) else prior

    def extra_repr(self) -> str:
        return (
            f"in_channels={self.in_channels}, num_joints={self.num_joints}, "
            f"shared_projection={self.shared_projection}, residual={self.residual}, "
            f"resolution={self.resolution}, backend={self.backend!r}, normalization={self.normalization!r}, "
            f"similarity={self.similarity!r}"
        )


def _unit_maps(maps: torch.Tensor) -> torch.Tensor:
    """(B, J, H, W) maps divided by their L2 norm over H, W; an all-zero map stays zero (no NaN)."""
    norm = torch.linalg.vector_norm(maps, dim=(-2, -1), keepdim=True)
    return maps / norm.clamp_min(torch.finfo(maps.dtype).tiny ** 0.5)
