"""Slow float64 loops for the models' blocks, written from the issue's description and the papers."""

import math

import torch


def joint_relation_loop(x, value_weight, value_bias, out_weight, out_bias, bn_mean, bn_var, bn_weight, bn_bias, eps):
    """RPSTN's joint relation extractor with BatchNorm in eval mode.

    x: (B, J, H, W); value/out weights: (J, J) 1x1 convs; bn_*: (J,).
    out[b, j] = x[b, j] + BN_j(sum_k Wo[j, k] * related[b, k] + bo[j]),
    related[b, k] = sum_i attn[b, k, i] * value[b, i],  value[b, i] = sum_l Wv[i, l] * x[b, l] + bv[i],
    attn[b, k] = softmax_i(<x[b, k], x[b, i]> / sqrt(H * W)).
    """
    batch, joints, height, width = x.shape
    scale = 1.0 / math.sqrt(height * width)
    out = torch.zeros_like(x)
    for b in range(batch):
        value = []
        for i in range(joints):
            v = torch.full_like(x[b, 0], float(value_bias[i]))
            for j in range(joints):
                v = v + value_weight[i, j] * x[b, j]
            value.append(v)
        related = []
        for k in range(joints):
            logits = torch.stack([(x[b, k] * x[b, i]).sum() * scale for i in range(joints)])
            weights = torch.exp(logits - logits.max())
            weights = weights / weights.sum()
            r = torch.zeros_like(x[b, 0])
            for i in range(joints):
                r = r + weights[i] * value[i]
            related.append(r)
        for j in range(joints):
            y = torch.full_like(x[b, 0], float(out_bias[j]))
            for k in range(joints):
                y = y + out_weight[j, k] * related[k]
            y = (y - bn_mean[j]) / math.sqrt(float(bn_var[j]) + eps) * bn_weight[j] + bn_bias[j]
            out[b, j] = x[b, j] + y
    return out


def depthwise_correlation_loop(features, kernels):
    """out[b, c, y, x] = mean_{u, v} kernels[b, c, u, v] * features[b, c, y + u - r, x + v - r], zero outside."""
    batch, channels, height, width = features.shape
    size = kernels.shape[-1]
    r = size // 2
    out = torch.zeros_like(features)
    for b in range(batch):
        for c in range(channels):
            for y in range(height):
                for x in range(width):
                    total = 0.0
                    for u in range(size):
                        for v in range(size):
                            yy, xx = y + u - r, x + v - r
                            if 0 <= yy < height and 0 <= xx < width:
                                total = total + kernels[b, c, u, v] * features[b, c, yy, xx]
                    out[b, c, y, x] = total / (size * size)
    return out
