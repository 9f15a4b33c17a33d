"""A slow, obvious float64 loop for deformable cross attention, written from the issue's contract.

Contract: a location (x, y) in [0, 1] is at pixel coordinates px = x * W - 0.5, py = y * H - 0.5; the
four pixels around it are blended bilinearly; a pixel outside the map counts as zero. Each query's
logits are scale * <query, key sampled at point n>, softmax over the N points, and the output is the
softmax-weighted sum of the values sampled at the same points.
"""

import math

import torch


def bilinear_sample(feature_map, x, y):
    """feature_map: (H, W, C); x, y: 0-d tensors in normalised coordinates. Returns (C,).

    The weights are written as functions of the fractional parts, so at an integer px the derivative
    is the one towards pixel floor(px) + 1 (grid_sample's convention), as autograd sees it here.
    """
    height, width, channels = feature_map.shape
    px, py = x * width - 0.5, y * height - 0.5
    x0, y0 = math.floor(px.item()), math.floor(py.item())
    fx, fy = px - x0, py - y0
    total = feature_map.new_zeros(channels)
    for xi, wx in ((x0, 1 - fx), (x0 + 1, fx)):
        for yi, wy in ((y0, 1 - fy), (y0 + 1, fy)):
            if 0 <= xi < width and 0 <= yi < height:
                total = total + wx * wy * feature_map[yi, xi]
    return total


def deformable_cross_attention_loop(query, key, value, locations, scale=None):
    """query (B, Lq, G, D), key (B, H, W, G, D), value (B, H, W, G, Dv), locations (B, Lq, G, N, 2)."""
    batch, queries, heads, dim = query.shape
    points = locations.shape[3]
    if scale is None:
        scale = dim**-0.5
    rows = []
    for b in range(batch):
        for q in range(queries):
            for g in range(heads):
                logits, samples = [], []
                for n in range(points):
                    x, y = locations[b, q, g, n, 0], locations[b, q, g, n, 1]
                    k = bilinear_sample(key[b, :, :, g], x, y)
                    logits.append(scale * (query[b, q, g] * k).sum())
                    samples.append(bilinear_sample(value[b, :, :, g], x, y))
                logits = torch.stack(logits)
                weights = torch.exp(logits - logits.max())
                weights = weights / weights.sum()
                out = sum(weights[n] * samples[n] for n in range(points))
                rows.append(out)
    return torch.stack(rows).view(batch, queries, heads, -1)


def deformable_attention_loop(value, locations, attention):
    """value (B, H, W, G, Dv), locations (B, Lq, G, N, 2), attention (B, Lq, G, N): given weights."""
    batch, queries, heads, points = attention.shape
    rows = []
    for b in range(batch):
        for q in range(queries):
            for g in range(heads):
                out = 0
                for n in range(points):
                    x, y = locations[b, q, g, n, 0], locations[b, q, g, n, 1]
                    out = out + attention[b, q, g, n] * bilinear_sample(value[b, :, :, g], x, y)
                rows.append(out)
    return torch.stack(rows).view(batch, queries, heads, -1)
