"""A slow, obvious float64 loop for KIMNet eq. 8-11, written from the paper, not from the code."""

import math

import torch


def kinematics_attention_loop(query, key, value, scale=None, normalization="softmax"):
    """query, key: (B, J, H, W); value: (B, J, Hv, Wv). Returns (pred, attn) as in eq. 11 and eq. 10.

    ``normalization="sum"`` is eq. 10 as printed, ``w_{j,i} = o_{j,i} / sum_l o_{j,l}``; a row whose
    sum is exactly 0 has no value from the formula, and posemods defines it as 1 / J per joint.
    """
    batch, joints, height, width = query.shape
    if scale is None:
        scale = 1.0 / math.sqrt(height * width)  # eq. 9: d is the feature dimension h * w
    pred = torch.zeros_like(value)
    attn = query.new_zeros(batch, joints, joints)
    for b in range(batch):
        for j in range(joints):  # joint j of frame t+1 ...
            logits = []
            for i in range(joints):  # ... against joint i of frame t (eq. 8)
                o_ij = 0.0
                for y in range(height):
                    for x in range(width):
                        o_ij = o_ij + query[b, j, y, x] * key[b, i, y, x]
                logits.append(o_ij * scale)
            logits = torch.stack(logits)
            if normalization == "sum":  # eq. 10 as printed
                total = sum(logits[i] for i in range(joints))
                if total == 0:
                    weights = torch.full_like(logits, 1.0 / joints)
                else:
                    weights = torch.stack([logits[i] / total for i in range(joints)])
            else:
                weights = torch.exp(logits - logits.max())
                weights = weights / weights.sum()  # softmax over the joints of frame t (eq. 10)
            for i in range(joints):
                attn[b, j, i] = weights[i]
                pred[b, j] = pred[b, j] + weights[i] * value[b, i]  # eq. 11
    return pred, attn
