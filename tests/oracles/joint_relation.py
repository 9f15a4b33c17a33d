"""Slow float64 loops for the models' blocks, written from the RPSTN authors' code (github:YHDang/RPSTN f7dcd3e)."""

import math

import torch


def joint_relation_loop(x, value_weight, value_bias, out_weight, out_bias, bn_mean, bn_var, bn_weight, bn_bias, eps):
    """RPSTN's joint relation extractor with BatchNorm in eval mode, as github:YHDang/RPSTN f7dcd3e's
    ``jre_module.py:_JREModule.forward`` computes it (joint-level branch), with the joint axis kept.

    x: (B, J, H, W); value/out weights: (J, J) 1x1 convs; bn_*: (J,).
    out[b, j] = x[b, j] + BN_j(sum_k Wo[j, k] * related[b, k] + bo[j]),
    related[b, k] = sum_i attn[b, k, i] * value[b, i],  value[b, i] = sum_l Wv[i, l] * x[b, l] + bv[i],
    attn[b, k, i] = exp(<x[b, k], x[b, i]>) / sum_m exp(<x[b, m], x[b, i]>)   (their softmax over dim 1).
    """
    batch, joints = x.shape[:2]
    out = torch.zeros_like(x)
    for b in range(batch):
        value = []
        for i in range(joints):
            v = torch.full_like(x[b, 0], float(value_bias[i]))
            for j in range(joints):
                v = v + value_weight[i, j] * x[b, j]
            value.append(v)
        gram = torch.stack([torch.stack([(x[b, m] * x[b, i]).sum() for i in range(joints)]) for m in range(joints)])
        related = []
        for k in range(joints):
            r = torch.zeros_like(x[b, 0])
            for i in range(joints):
                column = gram[:, i]
                weight = torch.exp(column[k] - column.max()) / torch.exp(column - column.max()).sum()
                r = r + weight * value[i]
            related.append(r)
        for j in range(joints):
            y = torch.full_like(x[b, 0], float(out_bias[j]))
            for k in range(joints):
                y = y + out_weight[j, k] * related[k]
            y = (y - bn_mean[j]) / math.sqrt(float(bn_var[j]) + eps) * bn_weight[j] + bn_bias[j]
            out[b, j] = x[b, j] + y
    return out


def depthwise_correlation_loop(features, kernels):
    """out[b, c, y, x] = sum_{u, v} kernels[b, c, u, v] * features[b, c, y + u - r, x + v - r], zero outside
    (github:YHDang/RPSTN f7dcd3e, ``ad_conv.py:AdaptiveConv2d.forward``: a grouped conv, no averaging)."""
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
                    out[b, c, y, x] = total
    return out
