"""Reference kinematics attention (KIMNet eq. 8-11) in plain PyTorch.

Shapes use the vocabulary of :mod:`posemods._shapes`.
"""

from __future__ import annotations

import torch


def kinematics_attention(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, scale: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Joint-to-joint attention between two frames.

    Args:
        query: (B, J, H, W), sigma(Conv_c f_{t+1}): the current frame's joint maps.
        key: (B, J, H, W), sigma(Conv_h f_t): the previous frame's joint maps.
        value: (B, J, Hv, Wv), the previous frame's heatmaps m_t, at any resolution.
        scale: multiplies the logits; the paper's 1/sqrt(d) with d = H * W.

    Returns:
        pred: (B, J, Hv, Wv), ``pred[b, j] = sum_i attn[b, j, i] * value[b, i]`` (eq. 11).
        attn: (B, J, J), ``softmax_i(scale * <query[b, j], key[b, i]>)`` (eq. 9-10): row j says
        how much joint j of frame t+1 draws on each joint i of frame t.

    Allocates the (B, J, J) logits and attention besides the output; the maps are only viewed.
    """
    batch, joints = query.shape[:2]
    logits = torch.bmm(query.reshape(batch, joints, -1), key.reshape(batch, joints, -1).transpose(1, 2))
    attn = torch.softmax(logits * scale, dim=-1)
    pred = torch.bmm(attn, value.reshape(batch, joints, -1)).view_as(value)
    return pred, attn
