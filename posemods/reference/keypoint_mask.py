"""Reference keypoint mask (VREMD eq. 2) in plain PyTorch.

Shapes use the vocabulary of :mod:`posemods._shapes`.
"""

from __future__ import annotations

import torch


def keypoint_mask(tokens: torch.Tensor, feats: torch.Tensor, scale: float) -> torch.Tensor:
    """Sum over keypoint tokens of each token's softmax over positions.

    Args:
        tokens: (B, J, C), the keypoint tokens T̂_k (HKM passes all frames' tokens, J = T * joints).
        feats: (B, L, C), the features F̂ (HKM passes all frames' positions, L = T * H * W).
        scale: multiplies the logits; eq. 2 has none (1.0).

    Returns:
        mask: (B, L), ``mask[b, l] = sum_j softmax_l(scale * <tokens[b, j], feats[b, l]>)``. Each
        token's softmax sums to 1 over the L positions, so ``mask[b].sum() == J``.

    Allocates the (B, J, L) logits and their softmax besides the output: the map the fused kernels
    never write. Half-precision inputs are widened to float32 first (copies of ``tokens`` and
    ``feats``), so the logits neither round to half nor overflow its range, as in the kernels.
    """
    compute = torch.promote_types(tokens.dtype, torch.float32)
    logits = torch.bmm(tokens.to(compute), feats.to(compute).transpose(1, 2))
    return torch.softmax(logits * scale, dim=-1).sum(1).to(tokens.dtype)
