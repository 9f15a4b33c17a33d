"""Gaussian heatmap targets.

Shapes use the vocabulary of :mod:`posemods._shapes`; the coordinate convention is
:mod:`posemods.data.geometry`'s.
"""

from __future__ import annotations

import math
import numbers

import torch

from posemods.data.geometry import crop_to_heatmap


def expect_sigma(sigma, name: str = "sigma") -> float:
    """Return ``sigma`` as a float, or raise unless it is a positive, finite number.

    A Gaussian of standard deviation 0 is no Gaussian: ``exp(-d^2 / 0)`` is 0 off the joint and NaN on
    it, so the targets come out all zero and training runs on, learning nothing. A negative sigma
    squares to a valid-looking positive one, and infinity makes every heatmap all ones.
    """
    if isinstance(sigma, bool) or not isinstance(sigma, numbers.Real):
        raise TypeError(f"{name}: expected a positive number (heatmap pixels), got {type(sigma).__name__} {sigma!r}")
    if not (math.isfinite(sigma) and sigma > 0):
        raise ValueError(
            f"{name}: expected a positive, finite Gaussian standard deviation in heatmap pixels, got {sigma!r}"
        )
    return float(sigma)


def gaussian_heatmaps(
    joints: torch.Tensor,
    weight: torch.Tensor,
    heatmap_size: tuple[int, int],
    input_size: tuple[int, int],
    sigma: float = 2.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Render one Gaussian per joint.

    Args:
        joints: (..., J, 2) joint positions (x, y) in crop pixels of an ``input_size = (H, W)`` crop.
        weight: (..., J) 1 where the joint has a known position.
        heatmap_size: (h, w) of the heatmap grid (torch's order, as every grid size in posemods).
        sigma: the Gaussian's standard deviation in heatmap pixels (2 by default); positive and finite.

    Returns:
        ``(heatmaps (..., J, h, w), target_weight (..., J))``. Each heatmap is
        ``exp(-|p - mu|^2 / (2 sigma^2))`` with peak 1 at the joint's heatmap position ``mu`` (sub-pixel,
        not rounded); ``target_weight`` is ``weight`` with joints whose centre falls outside the
        heatmap (or is not finite) zeroed, and their heatmaps are all zeros.
    """
    sigma = expect_sigma(sigma)
    h, w = heatmap_size
    stride = (input_size[1] / w, input_size[0] / h)  # (x, y), as the points
    mu = crop_to_heatmap(joints.double(), stride)
    inside = (
        mu.isfinite().all(-1)
        & (mu[..., 0] >= -0.5)
        & (mu[..., 0] <= w - 0.5)
        & (mu[..., 1] >= -0.5)
        & (mu[..., 1] <= h - 0.5)
    )
    target_weight = weight.double() * inside
    xs = torch.arange(w, dtype=torch.float64)
    ys = torch.arange(h, dtype=torch.float64)
    mu = mu.nan_to_num(0.0)
    # Separable: exp(-(dx^2 + dy^2)/2s^2) = exp(-dx^2/2s^2) * exp(-dy^2/2s^2).
    gx = torch.exp(-((xs - mu[..., 0:1]) ** 2) / (2 * sigma**2))
    gy = torch.exp(-((ys - mu[..., 1:2]) ** 2) / (2 * sigma**2))
    heatmaps = gy[..., :, None] * gx[..., None, :] * (target_weight > 0)[..., None, None]
    return heatmaps.float(), target_weight.float()
