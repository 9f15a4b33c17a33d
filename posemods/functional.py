"""Public ops. Each validates its inputs, picks a backend and dispatches.

``backend`` is ``"auto"``, ``"reference"`` or ``"triton"``; see :mod:`posemods._backend` for the rules.
Shapes use the vocabulary of :mod:`posemods._shapes`.
"""

from __future__ import annotations

import math

import torch

from posemods import reference
from posemods._backend import select_backend
from posemods._ops import keypoint_mask as _keypoint_mask_op
from posemods._ops import kinematics_attention as _kmm_op
from posemods._shapes import expect_float, expect_same, expect_shape

__all__ = ["kinematics_attention"]
__all__ += ["keypoint_mask"]


def _kmm_triton_unsupported(query, key, value) -> str:
    from posemods.triton.kinematics_attention import unsupported_reason

    return unsupported_reason(query, key, value)


def kinematics_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    scale: float | None = None,
    backend: str = "auto",
) -> tuple[torch.Tensor, torch.Tensor]:
    """KIMNet's joint-to-joint temporal attention (eq. 8-11).

    Args:
        query: (B, J, H, W), sigma(Conv_c f_{t+1}), the current frame's joint maps.
        key: (B, J, H, W), sigma(Conv_h f_t), the previous frame's joint maps.
        value: (B, J, Hv, Wv), the previous frame's heatmaps m_t, at any resolution.
        scale: logit multiplier; default ``1 / sqrt(H * W)`` (eq. 9, d = h * w).
        backend: ``"auto"``, ``"reference"`` or ``"triton"``.

    Returns:
        pred: (B, J, Hv, Wv), ``pred[b, j] = sum_i attn[b, j, i] * value[b, i]``.
        attn: (B, J, J), ``attn[b, j] = softmax_i(scale * <query[b, j], key[b, i]>)``.

    Gradients flow to query, key and value on both backends.
    """
    dims: dict[str, int] = {}
    expect_shape("query", query, "B J H W", dims)
    expect_shape("key", key, "B J H W", dims)
    expect_shape("value", value, "B J Hv Wv", dims)
    for name, tensor in (("query", query), ("key", key), ("value", value)):
        expect_float(name, tensor)
    expect_same("device", query=query, key=key, value=value)
    expect_same("dtype", query=query, key=key, value=value)
    scale = 1.0 / math.sqrt(dims["H"] * dims["W"]) if scale is None else float(scale)

    if select_backend("kinematics_attention", backend, (query, key, value), _kmm_triton_unsupported) == "triton":
        return _kmm_op.kinematics_attention(query, key, value, scale)
    return reference.kinematics_attention(query, key, value, scale)


def _keypoint_mask_triton_unsupported(tokens, feats) -> str:
    from posemods.triton.keypoint_mask import unsupported_reason

    return unsupported_reason(tokens, feats)


def keypoint_mask(
    tokens: torch.Tensor,
    feats: torch.Tensor,
    scale: float = 1.0,
    backend: str = "auto",
) -> torch.Tensor:
    """VREMD's keypoint mask (eq. 2): each keypoint token's softmax over positions, summed over tokens.

    ``mask[b, l] = sum_j softmax_l(scale * <tokens[b, j], feats[b, l]>)``

    HKM calls it with every frame's tokens and positions, so the softmax runs over all T * H * W
    positions of the clip and the sum over all T * joints tokens.

    Args:
        tokens: (B, J, C), the keypoint tokens T̂_k; J is any number of tokens (T * joints in HKM).
        feats: (B, L, C), the features F̂; L is any number of positions (T * H * W in HKM).
        scale: logit multiplier. Eq. 2 has none, so the default 1.0 is the paper; ``C ** -0.5`` keeps
            the softmax from saturating when features are large, as in scaled dot-product attention.
        backend: ``"auto"``, ``"reference"`` or ``"triton"``.

    Returns:
        mask: (B, L), Mask_k. Non-negative, and ``mask[b].sum() == J`` (each token's softmax sums to 1).

    Gradients flow to tokens and feats on both backends. The fused path never writes the (B, J, L) map.
    """
    dims: dict[str, int] = {}
    expect_shape("tokens", tokens, "B J C", dims)
    expect_shape("feats", feats, "B L C", dims)
    expect_float("tokens", tokens)
    expect_float("feats", feats)
    expect_same("device", tokens=tokens, feats=feats)
    expect_same("dtype", tokens=tokens, feats=feats)
    scale = float(scale)

    if select_backend("keypoint_mask", backend, (tokens, feats), _keypoint_mask_triton_unsupported) == "triton":
        return _keypoint_mask_op.keypoint_mask(tokens, feats, scale)[0]
    return reference.keypoint_mask(tokens, feats, scale)
