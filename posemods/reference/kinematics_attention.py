"""Reference kinematics attention (KIMNet eq. 8-11) in plain PyTorch.

Shapes use the vocabulary of :mod:`posemods._shapes`.
"""

from __future__ import annotations

import torch

# Eq. 10's two readings, which this reference defines and the kernels and posemods.functional follow:
# the text's softmax, or the printed o / sum_l o.
NORMALIZATIONS = ("softmax", "sum")


def kinematics_attention(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, scale: float, normalization: str = "softmax"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Joint-to-joint attention between two frames.

    Args:
        query: (B, J, H, W), sigma(Conv_c f_{t+1}): the current frame's joint maps.
        key: (B, J, H, W), sigma(Conv_h f_t): the previous frame's joint maps.
        value: (B, J, Hv, Wv), the previous frame's heatmaps m_t, at any resolution.
        scale: multiplies the logits; the paper's 1/sqrt(d) with d = H * W.
        normalization: eq. 10's reading. ``"softmax"``, as the text says ("normalized by a softmax
            function"), or ``"sum"``, the printed formula ``w = o / sum_l o`` on the scaled logits ``o``
            (non-negative when sigma is a ReLU); a row whose logits sum to exactly 0 gives every joint
            ``1 / J`` (what a softmax of equal logits gives) and no gradient.

    Returns:
        pred: (B, J, Hv, Wv), ``pred[b, j] = sum_i attn[b, j, i] * value[b, i]`` (eq. 11).
        attn: (B, J, J), ``softmax_i(scale * <query[b, j], key[b, i]>)`` (eq. 9-10), or its ``"sum"``
        normalisation: row j says
        how much joint j of frame t+1 draws on each joint i of frame t.

    Allocates the (B, J, J) logits and attention besides the output; the maps are only viewed.
    """
    batch, joints, height, width = query.shape
    # Explicit sizes, not -1: a reshape cannot infer -1 from a tensor of 0 elements (B = 0).
    logits = torch.bmm(
        query.reshape(batch, joints, height * width), key.reshape(batch, joints, height * width).transpose(1, 2)
    )
    if normalization == "sum":
        o = logits * scale
        total = o.sum(-1, keepdim=True)
        # ``== 0`` rather than ``> 0`` keeps a NaN row NaN; the safe divisor keeps the unused branch's
        # gradient finite (torch.where differentiates both branches).
        zero = total == 0
        attn = torch.where(zero, torch.full_like(o, 1.0 / max(joints, 1)), o / torch.where(zero, 1, total))
    else:
        attn = torch.softmax(logits * scale, dim=-1)
    pred = torch.bmm(attn, value.reshape(batch, joints, value.shape[2] * value.shape[3])).view_as(value)
    return pred, attn
