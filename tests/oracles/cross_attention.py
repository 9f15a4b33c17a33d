"""A slow, obvious float64 loop for multi-head cross attention, written from its definition."""

import math

import torch


def cross_attention_loop(query, key, value):
    """query: (B, Lq, G, D); key, value: (B, L, G, D), already projected. Returns (B, Lq, G, D).

    For each query token i and head g: weights over the L context tokens are
    softmax_l(<q_i, k_l> / sqrt(D)), and the output is the weighted sum of the v_l.
    """
    batch, queries, heads, head_dim = query.shape
    length = key.shape[1]
    out = query.new_zeros(batch, queries, heads, head_dim)
    for b in range(batch):
        for i in range(queries):
            for g in range(heads):
                logits = []
                for pos in range(length):
                    dot = 0.0
                    for d in range(head_dim):
                        dot = dot + query[b, i, g, d] * key[b, pos, g, d]
                    logits.append(dot / math.sqrt(head_dim))
                logits = torch.stack(logits)
                weights = torch.exp(logits - logits.max())
                weights = weights / weights.sum()
                for pos in range(length):
                    out[b, i, g] = out[b, i, g] + weights[pos] * value[b, pos, g]
    return out
