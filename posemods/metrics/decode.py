"""Heatmap decoding: argmax, the quarter-pixel shift, and the way back to the original image.

Shapes use the vocabulary of :mod:`posemods._shapes`; coordinates follow
:mod:`posemods.data.geometry`'s pixel-centre convention.
"""

from __future__ import annotations

import torch

from posemods._shapes import expect_float
from posemods.data.geometry import apply_affine, heatmap_to_crop, invert_affine


def decode_heatmaps(heatmaps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Joint positions in heatmap pixels from heatmaps (..., J, h, w).

    The argmax, moved a quarter pixel toward the higher neighbour along x and along y (where that
    neighbour exists), as SimpleBaseline/HRNet decode. Returns ``(coords (..., J, 2) as (x, y),
    maxvals (..., J))``. A heatmap holding a NaN decodes to NaN coordinates and a NaN score.
    """
    expect_float("heatmaps", heatmaps)
    if heatmaps.dim() < 3:
        raise ValueError(f"heatmaps: expected (..., J, h, w), got shape {tuple(heatmaps.shape)}")
    h, w = heatmaps.shape[-2:]
    flat = heatmaps.detach().flatten(-2).float()
    has_nan = flat.isnan().any(-1)
    maxvals, idx = flat.nan_to_num(float("-inf")).max(-1)
    x, y = (idx % w).long(), torch.div(idx, w, rounding_mode="floor").long()

    def at(dx: torch.Tensor, dy: torch.Tensor) -> torch.Tensor:
        xx, yy = (x + dx).clamp(0, w - 1), (y + dy).clamp(0, h - 1)
        return flat.gather(-1, (yy * w + xx).unsqueeze(-1)).squeeze(-1)

    one, zero = torch.ones_like(x), torch.zeros_like(x)
    shift_x = torch.sign(at(one, zero) - at(-one, zero)) * 0.25 * ((x > 0) & (x < w - 1))
    shift_y = torch.sign(at(zero, one) - at(zero, -one)) * 0.25 * ((y > 0) & (y < h - 1))
    coords = torch.stack((x.float() + shift_x, y.float() + shift_y), dim=-1)
    coords = coords.masked_fill(has_nan.unsqueeze(-1), float("nan"))
    return coords, maxvals.masked_fill(has_nan, float("nan"))


def heatmap_to_image(
    coords: torch.Tensor, affine: torch.Tensor, heatmap_size: tuple[int, int], input_size: tuple[int, int]
) -> torch.Tensor:
    """Map heatmap coordinates (..., J, 2) back to original-image pixels.

    ``affine`` is the crop affine from the original image to the ``input_size = (H, W)`` crop: one
    (2, 3), or one per leading index of ``coords`` counted from the left, e.g. (B, 2, 3) for coords
    (B, T, J, 2) (a clip shares one affine). The heatmap is ``heatmap_size = (h, w)``. Grid sizes are
    (H, W) in torch's order everywhere in posemods; the points are (x, y).
    """
    stride = (input_size[1] / heatmap_size[1], input_size[0] / heatmap_size[0])  # (x, y), as the points
    crop = heatmap_to_crop(coords.double(), stride)
    inverse = invert_affine(affine)
    lead = inverse.dim() - 2
    if lead:
        if tuple(inverse.shape[:lead]) != tuple(coords.shape[:lead]):
            raise ValueError(
                f"affine: expected leading shape {tuple(coords.shape[:lead])} to match coords, "
                f"got {tuple(affine.shape)}"
            )
        inverse = inverse.reshape(*inverse.shape[:lead], *([1] * (coords.dim() - 1 - lead)), 2, 3)
    return apply_affine(crop, inverse).to(coords.dtype)


def decode_to_image(
    heatmaps: torch.Tensor, affine: torch.Tensor, input_size: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted heatmaps (B, T, J, h, w) of crops of ``input_size = (H, W)`` to original-image joints.

    ``affine`` is the clips' (B, 2, 3) crop affine (``clips["affine"]``). Returns ``(joints (B, T, J, 2)
    in original-image pixels, scores (B, T, J))``, ready for :meth:`posemods.metrics.PCK.update_clips`.
    """
    coords, scores = decode_heatmaps(heatmaps)
    return heatmap_to_image(coords.double(), affine, tuple(heatmaps.shape[-2:]), input_size).float(), scores
