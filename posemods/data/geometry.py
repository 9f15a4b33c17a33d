"""Top-down crop geometry: boxes, the crop affine, warping frames and points.

**Pixel convention.** A point (x, y) is in continuous pixel coordinates where pixel (row i,
column j) has its centre at (x=j, y=i); an image of width W spans x in [-0.5, W - 0.5]. Every
affine here maps such coordinates to such coordinates, and the heatmap grid follows the same rule
(see :func:`crop_to_heatmap`), so rendering a target and decoding it are exact inverses.

An affine is a (2, 3) float64 tensor ``A`` acting as ``p' = A[:, :2] @ p + A[:, 2]``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def box_to_center_size(
    bbox: torch.Tensor, aspect_ratio: float, enlarge: float = 1.25
) -> tuple[torch.Tensor, torch.Tensor]:
    """Centre and (w, h) of the crop for an ``(x1, y1, x2, y2)`` person box.

    The box is widened or heightened to ``aspect_ratio = W / H`` of the network input (so the
    person is not stretched), then enlarged by ``enlarge`` (1.25 by default) for context.
    """
    bbox = bbox.to(torch.float64)
    center = torch.stack(((bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2))
    w, h = float(bbox[2] - bbox[0]), float(bbox[3] - bbox[1])
    w, h = max(w, 1e-3), max(h, 1e-3)
    if w > aspect_ratio * h:
        h = w / aspect_ratio
    else:
        w = h * aspect_ratio
    return center, torch.tensor([w * enlarge, h * enlarge], dtype=torch.float64)


def crop_affine(
    center: torch.Tensor,
    size: torch.Tensor,
    output_size: tuple[int, int],
    rotation: float = 0.0,
    flip: bool = False,
) -> torch.Tensor:
    """The (2, 3) affine from image pixels to crop pixels.

    The region of ``size = (w, h)`` around ``center``, rotated by ``rotation`` degrees
    (counter-clockwise in the picture), fills an ``output_size = (H, W)`` crop (torch's order, as
    every grid size in posemods); ``flip`` mirrors the crop left-right afterwards. ``center`` and
    ``size`` are (x, y) vectors in image pixels.
    """
    out_h, out_w = output_size
    theta = math.radians(rotation)
    # Image y points down, so a picture-counter-clockwise turn is a clockwise one in (x, y).
    cos, sin = math.cos(theta), math.sin(theta)
    rot = torch.tensor([[cos, sin], [-sin, cos]], dtype=torch.float64)
    scale = torch.diag(torch.tensor([out_w / float(size[0]), out_h / float(size[1])], dtype=torch.float64))
    linear = scale @ rot
    offset = torch.tensor([(out_w - 1) / 2, (out_h - 1) / 2], dtype=torch.float64) - linear @ center.double()
    affine = torch.cat((linear, offset[:, None]), dim=1)
    if flip:
        mirror = torch.tensor([[-1.0, 0.0, out_w - 1.0], [0.0, 1.0, 0.0]], dtype=torch.float64)
        affine = compose_affine(mirror, affine)
    return affine


def compose_affine(outer: torch.Tensor, inner: torch.Tensor) -> torch.Tensor:
    """The affine that applies ``inner`` then ``outer``."""
    return torch.cat((outer[:, :2] @ inner[:, :2], (outer[:, :2] @ inner[:, 2:] + outer[:, 2:])), dim=1)


def invert_affine(affine: torch.Tensor) -> torch.Tensor:
    linear_inv = torch.linalg.inv(affine[..., :2].double())
    return torch.cat((linear_inv, -linear_inv @ affine[..., 2:].double()), dim=-1)


def apply_affine(points: torch.Tensor, affine: torch.Tensor) -> torch.Tensor:
    """Map ``points`` (..., 2) through ``affine`` (2, 3) or (..., 2, 3) broadcasting; keeps points' dtype."""
    a = affine.to(torch.float64)
    p = points.to(torch.float64)
    out = (a[..., :2] @ p.unsqueeze(-1)).squeeze(-1) + a[..., 2]
    return out.to(points.dtype)


def warp_frames(frames: torch.Tensor, affine: torch.Tensor, output_size: tuple[int, int]) -> torch.Tensor:
    """Resample frames (T, C, Hin, Win) into the ``output_size = (H, W)`` crop (T, C, H, W) defined by
    ``affine``; zeros outside."""
    out_h, out_w = output_size
    t, _, in_h, in_w = frames.shape
    inverse = invert_affine(affine)
    ys, xs = torch.meshgrid(
        torch.arange(out_h, dtype=torch.float64), torch.arange(out_w, dtype=torch.float64), indexing="ij"
    )
    src = apply_affine(torch.stack((xs, ys), dim=-1), inverse)
    # grid_sample with align_corners=False uses the same pixel-centre convention.
    grid = torch.stack(((2 * src[..., 0] + 1) / in_w - 1, (2 * src[..., 1] + 1) / in_h - 1), dim=-1)
    grid = grid.to(frames.dtype if frames.is_floating_point() else torch.float32).expand(t, -1, -1, -1)
    frames = frames if frames.is_floating_point() else frames.float()
    return F.grid_sample(frames, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def crop_to_heatmap(points: torch.Tensor, stride: tuple[float, float]) -> torch.Tensor:
    """Crop pixels to heatmap pixels for a heatmap ``stride = (W / w, H / h)`` times smaller (x, y order,
    as the points)."""
    s = torch.tensor(stride, dtype=points.dtype, device=points.device)
    return (points + 0.5) / s - 0.5


def heatmap_to_crop(points: torch.Tensor, stride: tuple[float, float]) -> torch.Tensor:
    """Inverse of :func:`crop_to_heatmap`."""
    s = torch.tensor(stride, dtype=points.dtype, device=points.device)
    return (points + 0.5) * s - 0.5


def flip_joints(joints: torch.Tensor, flip_index: tuple[int, ...], width: int) -> torch.Tensor:
    """Mirror joints (..., J, 2) in an image of ``width`` and swap left/right labels."""
    out = joints[..., list(flip_index), :].clone()
    out[..., 0] = (width - 1) - out[..., 0]
    return out
