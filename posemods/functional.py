"""Public ops. Each validates its inputs and hands them to its op's record, which picks a backend.

``backend`` is ``"auto"``, ``"reference"`` or ``"triton"``; see :mod:`posemods._backend` for the rules.
The records (:data:`posemods._ops.registry.OPS`) hold each op's reference, fused op, capability check
and output allocation, so nothing here knows about ``posemods.triton``.
Shapes use the vocabulary of :mod:`posemods._shapes`.
"""

from __future__ import annotations

import math
import numbers

import torch

from posemods._ops.registry import OPS
from posemods._shapes import expect_choice, expect_float, expect_same, expect_shape
from posemods.reference.kinematics_attention import NORMALIZATIONS

__all__ = ["deformable_attention", "deformable_cross_attention", "keypoint_mask", "kinematics_attention"]


def _expect_scale(scale: object) -> float:
    """``scale`` as a finite-or-not real float; strings, complex numbers, None and tensors of more than
    one element are refused naming ``scale`` (``float('2')`` would silently accept a string)."""
    if isinstance(scale, torch.Tensor):
        if scale.numel() != 1 or scale.is_complex():
            raise TypeError(f"scale: expected a real number, got a tensor of shape {tuple(scale.shape)}")
        return float(scale.item())
    if isinstance(scale, bool) or not isinstance(scale, numbers.Real):
        raise TypeError(f"scale: expected a real number, got {type(scale).__name__} {scale!r}")
    return float(scale)


def kinematics_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    scale: float | None = None,
    backend: str = "auto",
    normalization: str = "softmax",
) -> tuple[torch.Tensor, torch.Tensor]:
    """KIMNet's joint-to-joint temporal attention (eq. 8-11).

    Args:
        query: (B, J, H, W), sigma(Conv_c f_{t+1}), the current frame's joint maps.
        key: (B, J, H, W), sigma(Conv_h f_t), the previous frame's joint maps.
        value: (B, J, Hv, Wv), the previous frame's heatmaps m_t, at any resolution.
        scale: logit multiplier; default ``1 / sqrt(H * W)`` (eq. 9, d = h * w).
        backend: ``"auto"``, ``"reference"`` or ``"triton"``.
        normalization: eq. 10, whose text and formula disagree. ``"softmax"`` (default) follows the
            text, "the attention weights ... normalized by a softmax function"; ``"sum"`` the printed
            formula ``w_{j,i} = o_{j,i} / sum_l o_{j,l}`` with ``o = scale * <query, key>``. ``"sum"``
            needs non-negative logits, so query and key must be non-negative (KMM's ReLU sigma gives
            that; checked in eager mode, negative entries raise ValueError). A row whose logits sum to
            exactly 0 gives ``1 / J`` to every joint, never NaN, and passes no gradient.

    Returns:
        pred: (B, J, Hv, Wv), ``pred[b, j] = sum_i attn[b, j, i] * value[b, i]``.
        attn: (B, J, J), ``attn[b, j] = softmax_i(scale * <query[b, j], key[b, i]>)`` (or the "sum"
        normalisation). B = 0 gives empty results.

    Gradients flow to query, key and value on both backends. The fused path keeps the attention in
    fp32 for its backward whatever the inputs' dtype; the returned ``attn`` is in the inputs' dtype.
    """
    dims: dict[str, int] = {}
    expect_shape("query", query, "B J H W", dims)
    expect_shape("key", key, "B J H W", dims)
    expect_shape("value", value, "B J Hv Wv", dims)
    for name, tensor in (("query", query), ("key", key), ("value", value)):
        expect_float(name, tensor)
    expect_same("device", query=query, key=key, value=value)
    expect_same("dtype", query=query, key=key, value=value)
    expect_choice("normalization", normalization, NORMALIZATIONS)
    if scale is None:
        area = dims["H"] * dims["W"]
        # A traced (symbolic) H * W stays symbolic: math.sqrt would specialise it under torch.export.
        scale = 1.0 / (torch.sym_sqrt(area) if isinstance(area, torch.SymInt) else math.sqrt(area))
    else:
        scale = _expect_scale(scale)
        if normalization == "sum" and not scale > 0:
            raise ValueError(f"scale: normalization='sum' needs a positive scale (non-negative logits), got {scale}")
    if normalization == "sum" and not torch.compiler.is_compiling():  # data-dependent; compiled graphs skip it
        for name, tensor in (("query", query), ("key", key)):
            if tensor.numel() and bool((tensor < 0).any()):
                raise ValueError(
                    f"{name}: normalization='sum' needs non-negative maps (eq. 10 divides by the sum of "
                    f"the logits), got a minimum of {tensor.min().item()}"
                )

    return OPS["kinematics_attention"].dispatch(backend, (query, key, value), scale, normalization)


def keypoint_mask(
    tokens: torch.Tensor,
    feats: torch.Tensor,
    scale: float = 1.0,
    backend: str = "auto",
) -> torch.Tensor:
    """VREMD's keypoint mask (eq. 2): each keypoint token's softmax over positions, summed over tokens.

    ``mask[b, l] = sum_j softmax_l(scale * <tokens[b, j], feats[b, l]>)``

    HKM calls it with every frame's tokens and positions, so the softmax runs over all T * H * W
    positions of the clip and the sum over all T * joints tokens.

    Args:
        tokens: (B, J, C), the keypoint tokens T̂_k; J is any number of tokens (T * joints in HKM).
        feats: (B, L, C), the features F̂; L is any number of positions (T * H * W in HKM).
        scale: logit multiplier. Eq. 2 has none, so the default 1.0 is the paper; ``C ** -0.5`` keeps
            the softmax from saturating when features are large, as in scaled dot-product attention.
        backend: ``"auto"``, ``"reference"`` or ``"triton"``.

    Returns:
        mask: (B, L), Mask_k. Non-negative, and ``mask[b].sum() == J`` (each token's softmax sums to 1).

    Gradients flow to tokens and feats on both backends. The fused path never writes the (B, J, L) map.
    """
    dims: dict[str, int] = {}
    expect_shape("tokens", tokens, "B J C", dims)
    expect_shape("feats", feats, "B L C", dims)
    expect_float("tokens", tokens)
    expect_float("feats", feats)
    expect_same("device", tokens=tokens, feats=feats)
    expect_same("dtype", tokens=tokens, feats=feats)
    scale = _expect_scale(scale)

    return OPS["keypoint_mask"].dispatch(backend, (tokens, feats), scale)


def deformable_cross_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    locations: torch.Tensor,
    scale: float | None = None,
    backend: str = "auto",
) -> torch.Tensor:
    """VREMD's deformable cross attention core (eq. 4): each query attends over N sampled points.

    Args:
        query: (B, Lq, G, D).
        key: (B, H, W, G, D), the projected map W_k x. Sampling commutes with a per-pixel linear map,
            so sampling W_k x equals projecting the sampled x (eq. 4); a key bias is simply not added
            at zero-padded samples outside the map.
        value: (B, H, W, G, Dv), the projected map W_v x.
        locations: (B, Lq, G, N, 2), normalised (x, y): 0 is the left/top edge, 1 the right/bottom
            edge, pixel i's centre is at (i + 0.5) / W (``F.grid_sample(align_corners=False)``). Same
            dtype as the query, or float32 (recommended with half-precision features).
        scale: logit multiplier; default ``D ** -0.5``.
        backend: ``"auto"``, ``"reference"`` or ``"triton"``.

    Returns:
        (B, Lq, G, Dv): ``sum_n softmax_n(scale * <query, key_n>) * value_n`` where ``key_n`` and
        ``value_n`` are bilinear samples (zero padding) at pixel ``(x * W - 0.5, y * H - 0.5)``.

    Gradients flow to all four inputs. The location gradient goes through the bilinear weights; at a
    sample exactly on a pixel centre (integer px or py, the weights' kink) it is grid_sample's
    one-sided derivative, towards pixel ``floor(px) + 1``. The kernels round ``x * W - 0.5`` exactly as
    the reference's ``sampler="gather"`` does; the reference's default grid_sample rounds its own
    way, so at a sample exactly on a pixel centre the backends can pick different neighbours (see
    :mod:`posemods.reference.deformable_cross_attention`). Under
    ``torch.use_deterministic_algorithms(True)`` the fused backward, which scatters key and value
    gradients with atomics, runs the reference instead (logged at DEBUG on ``posemods``).
    """
    dims: dict[str, int] = {}
    expect_shape("query", query, "B Lq G D", dims)
    expect_shape("key", key, "B H W G D", dims)
    expect_shape("value", value, "B H W G Dv", dims)
    expect_shape("locations", locations, "B Lq G N 2", dims)
    for name, tensor in (("query", query), ("key", key), ("value", value), ("locations", locations)):
        expect_float(name, tensor)
    expect_same("device", query=query, key=key, value=value, locations=locations)
    expect_same("dtype", query=query, key=key, value=value)
    if locations.dtype not in (query.dtype, torch.float32):
        raise TypeError(
            f"locations: expected dtype {query.dtype} (the query's) or torch.float32, got {locations.dtype}"
        )
    scale = dims["D"] ** -0.5 if scale is None else _expect_scale(scale)

    return OPS["deformable_cross_attention"].dispatch(backend, (query, key, value, locations), scale)


def deformable_attention(
    value: torch.Tensor,
    locations: torch.Tensor,
    attention: torch.Tensor,
    backend: str = "auto",
) -> torch.Tensor:
    """Plain deformable attention (Deformable DETR's core; VREMD's DA ablation): given point weights.

    Args:
        value: (B, H, W, G, Dv), the projected map W_v x.
        locations: (B, Lq, G, N, 2), normalised (x, y) exactly as in :func:`deformable_cross_attention`.
            Same dtype as the value, or float32.
        attention: (B, Lq, G, N), each point's weight, e.g. a softmax over N of a linear map of the query.
        backend: ``"auto"``, ``"reference"`` or ``"triton"``.

    Returns:
        (B, Lq, G, Dv): ``sum_n attention[n] * value_n``, sampled as in
        :func:`deformable_cross_attention` (zero padding, grid_sample's one-sided location gradient).

    Gradients flow to all three inputs. As for :func:`deformable_cross_attention`, the fused backward
    scatters with atomics, so under ``torch.use_deterministic_algorithms(True)`` it runs the
    reference backward instead.
    """
    dims: dict[str, int] = {}
    expect_shape("value", value, "B H W G Dv", dims)
    expect_shape("locations", locations, "B Lq G N 2", dims)
    expect_shape("attention", attention, "B Lq G N", dims)
    for name, tensor in (("value", value), ("locations", locations), ("attention", attention)):
        expect_float(name, tensor)
    expect_same("device", value=value, locations=locations, attention=attention)
    expect_same("dtype", value=value, attention=attention)
    if locations.dtype not in (value.dtype, torch.float32):
        raise TypeError(
            f"locations: expected dtype {value.dtype} (the value's) or torch.float32, got {locations.dtype}"
        )
    return OPS["deformable_attention"].dispatch(backend, (value, locations, attention))
