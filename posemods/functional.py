"""Public ops. Each validates its inputs, picks a backend and dispatches.

``backend`` is ``"auto"``, ``"reference"`` or ``"triton"``; see :mod:`posemods._backend` for the rules.
Shapes use the vocabulary of :mod:`posemods._shapes`.
"""

from __future__ import annotations

import math

import torch

from posemods import reference
from posemods._backend import select_backend
from posemods._ops import kinematics_attention as _kmm_op
from posemods._shapes import expect_float, expect_same, expect_shape

__all__ = ["kinematics_attention"]


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
