"""A slow, obvious float64 loop for VREMD eq. 2, written from the paper, not from the code."""

import torch


def keypoint_mask_loop(tokens, feats, scale=1.0):
    """tokens: (B, J, C) keypoint tokens; feats: (B, L, C) features. Returns Mask_k (B, L).

    Map[j, l] = <T̂_kj, F̂_l> (the (J x L) confidence map), sigma is a softmax over the L positions of
    each keypoint token's row, and eq. 2 sums the J squeezed rows.
    """
    batch, joints, channels = tokens.shape
    positions = feats.shape[1]
    mask = feats.new_zeros(batch, positions)
    for b in range(batch):
        for j in range(joints):
            row = []
            for pos in range(positions):
                dot = 0.0
                for c in range(channels):
                    dot = dot + tokens[b, j, c] * feats[b, pos, c]
                row.append(dot * scale)
            row = torch.stack(row)
            weights = torch.exp(row - row.max())
            weights = weights / weights.sum()  # softmax over the positions
            for pos in range(positions):
                mask[b, pos] = mask[b, pos] + weights[pos]  # sum over the keypoint tokens
    return mask
