"""Crop geometry, Gaussian targets and heatmap decoding, including their round trips."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from posemods.data import apply_affine, box_to_center_size, crop_affine, flip_joints, gaussian_heatmaps, invert_affine
from posemods.data.geometry import warp_frames
from posemods.metrics import decode_heatmaps, heatmap_to_image
from posemods.skeletons import PENN_ACTION_13

coord = st.floats(min_value=-500, max_value=500, allow_nan=False)


def test_box_is_fixed_to_the_aspect_ratio_then_enlarged():
    center, size = box_to_center_size(torch.tensor([10.0, 20.0, 110.0, 70.0]), aspect_ratio=1.0)
    assert center.tolist() == [60.0, 45.0]
    assert size.tolist() == pytest.approx([125.0, 125.0])  # 100 x 50 -> 100 x 100 -> x1.25
    _, size = box_to_center_size(torch.tensor([0.0, 0.0, 30.0, 120.0]), aspect_ratio=0.75, enlarge=1.0)
    assert size.tolist() == pytest.approx([90.0, 120.0])


def test_crop_affine_maps_the_box_onto_the_crop():
    center, size = torch.tensor([50.0, 40.0]), torch.tensor([20.0, 10.0])
    a = crop_affine(center, size, (32, 64))  # output_size = (H, W)
    # The region's corners land on the crop's outer pixel edges, its centre on the crop's centre.
    pts = torch.tensor([[40.0, 35.0], [60.0, 45.0], [50.0, 40.0]], dtype=torch.float64)
    assert apply_affine(pts, a).tolist() == [[-0.5, -0.5], [63.5, 31.5], [31.5, 15.5]]


def test_rotation_turns_the_picture_counter_clockwise():
    a = crop_affine(torch.tensor([0.0, 0.0]), torch.tensor([2.0, 2.0]), (3, 3), rotation=90.0)
    # A point right of the centre appears above it in the crop (y points down).
    out = apply_affine(torch.tensor([[1.0, 0.0]], dtype=torch.float64), a)
    assert out[0].tolist() == pytest.approx([1.0, -0.5])


@settings(max_examples=40, deadline=None)
@given(
    coord,
    coord,
    st.floats(1, 400),
    st.floats(-180, 180),
    st.booleans(),
    st.lists(st.tuples(coord, coord), min_size=1, max_size=5),
)
def test_invert_affine_undoes_apply_affine(cx, cy, s, rot, flip, points):
    a = crop_affine(torch.tensor([cx, cy]), torch.tensor([s, 1.3 * s]), (64, 48), rot, flip)
    p = torch.tensor(points, dtype=torch.float64)
    back = apply_affine(apply_affine(p, a), invert_affine(a))
    assert torch.allclose(back, p, atol=1e-8)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(coord, coord), min_size=13, max_size=13), st.integers(1, 300))
def test_a_flip_twice_is_the_identity(points, width):
    joints = torch.tensor(points, dtype=torch.float64)
    once = flip_joints(joints, PENN_ACTION_13.flip_index, width)
    assert torch.allclose(flip_joints(once, PENN_ACTION_13.flip_index, width), joints, rtol=0, atol=1e-9)
    # Labels swap: the flipped left shoulder is the mirrored right shoulder.
    assert once[1, 0].item() == pytest.approx(width - 1 - joints[2, 0].item())


def test_warp_frames_moves_a_pixel_where_apply_affine_moves_its_centre():
    frames = torch.zeros(2, 3, 40, 50)
    frames[:, :, 12, 30] = 1.0  # pixel centre (x=30, y=12)
    a = crop_affine(torch.tensor([25.0, 20.0]), torch.tensor([25.0, 20.0]), (40, 50), flip=True)  # 2x zoom + mirror
    out = warp_frames(frames, a, (40, 50))
    assert out.shape == (2, 3, 40, 50)
    x, y = apply_affine(torch.tensor([30.0, 12.0], dtype=torch.float64), a).tolist()
    # The bright pixel becomes a 2x2 block centred on (x, y); the brightest samples are next to it.
    ys, xs = torch.nonzero(out[0, 0] >= out[0, 0].max() - 1e-6, as_tuple=True)
    assert abs(xs.float().mean().item() - x) <= 0.5 and abs(ys.float().mean().item() - y) <= 0.5


def test_heatmap_peak_and_sigma():
    hm, w = gaussian_heatmaps(torch.tensor([[[30.0, 18.0]]]), torch.ones(1, 1), (16, 16), (64, 64), sigma=2.0)
    # Crop (30, 18) at stride 4 is heatmap (30.5 / 4 - 0.5, 18.5 / 4 - 0.5) = (7.125, 4.125).
    mu = (7.125, 4.125)
    expected = math.exp(-((8 - mu[0]) ** 2 + (4 - mu[1]) ** 2) / 8)
    assert hm[0, 0, 4, 8].item() == pytest.approx(expected, rel=1e-6)
    assert w.tolist() == [[1.0]]


def test_heatmap_sizes_are_height_then_width():
    """(H, W) as torch: a 16 x 32 crop (H x W) with 4 x 8 heatmaps (stride 4 on both axes)."""
    hm, w = gaussian_heatmaps(torch.tensor([[[29.5, 13.5]]]), torch.ones(1, 1), (4, 8), (16, 32), sigma=1.0)
    assert hm.shape == (1, 1, 4, 8)
    # Crop (x, y) = (29.5, 13.5) is heatmap (30 / 4 - 0.5, 14 / 4 - 0.5) = (7, 3): column 7, row 3.
    assert hm[0, 0, 3, 7].item() == pytest.approx(1.0) and w.tolist() == [[1.0]]


def test_joints_outside_the_heatmap_or_unannotated_get_no_target():
    joints = torch.tensor([[[-10.0, 5.0], [5.0, 5.0], [float("nan"), 1.0]]])
    hm, w = gaussian_heatmaps(joints, torch.tensor([[1.0, 0.0, 1.0]]), (8, 8), (32, 32))
    assert w.tolist() == [[0.0, 0.0, 0.0]]
    assert hm.abs().sum() == 0


@settings(max_examples=60, deadline=None)
@given(st.floats(1.0, 14.0), st.floats(1.0, 10.0), st.sampled_from([1.0, 2.0, 3.0]))
def test_decoding_a_rendered_gaussian_returns_its_centre_within_a_quarter_pixel(mx, my, sigma):
    # Heatmap (H, W) = (12, 16) at stride 1: crop and heatmap coordinates coincide.
    hm, _ = gaussian_heatmaps(torch.tensor([[[mx, my]]]), torch.ones(1, 1), (12, 16), (12, 16), sigma)
    coords, maxval = decode_heatmaps(hm)
    assert abs(coords[0, 0, 0].item() - mx) <= 0.25 + 1e-5
    assert abs(coords[0, 0, 1].item() - my) <= 0.25 + 1e-5
    # The peak sample is at most half a pixel off per axis from the centre.
    assert math.exp(-0.25 / sigma**2) - 1e-6 <= maxval.item() <= 1.0


def test_quarter_pixel_shift_by_hand():
    hm = torch.zeros(1, 2, 5, 6)
    hm[0, 0, 2, 3], hm[0, 0, 2, 4], hm[0, 0, 1, 3] = 1.0, 0.5, 0.2  # right and upper neighbours higher
    hm[0, 1, 0, 0] = 1.0  # on the border: no neighbour on one side, no shift
    coords, maxvals = decode_heatmaps(hm)
    assert coords[0, 0].tolist() == [3.25, 1.75]
    assert coords[0, 1].tolist() == [0.0, 0.0]
    assert maxvals.tolist() == [[1.0, 1.0]]


def test_nan_heatmap_decodes_to_nan_not_a_crash():
    hm = torch.rand(2, 3, 4, 4)
    hm[1, 2, 0, 1] = float("nan")
    coords, maxvals = decode_heatmaps(hm)
    assert coords[1, 2].isnan().all() and maxvals[1, 2].isnan()
    assert coords[0].isfinite().all() and coords[1, :2].isfinite().all()


def test_decode_rejects_integer_heatmaps():
    with pytest.raises(TypeError, match="heatmaps"):
        decode_heatmaps(torch.zeros(1, 2, 3, 3, dtype=torch.int64))


@settings(max_examples=30, deadline=None)
@given(st.floats(-45, 45), st.floats(0.7, 1.3), st.booleans(), st.floats(40, 200), st.floats(40, 200))
def test_render_decode_and_map_back_recovers_image_points(rotation, scale, flip, px, py):
    # One person box in a 256 x 256 image; crop 64 x 64 and heatmap 16 x 16 (stride 4).
    center, size = box_to_center_size(torch.tensor([60.0, 50.0, 180.0, 210.0]), 1.0)
    a = crop_affine(center, size * scale, (64, 64), rotation, flip)
    point = torch.tensor([[[px, py]]], dtype=torch.float64)
    crop = apply_affine(point, a)
    hm, w = gaussian_heatmaps(crop, torch.ones(1, 1), (16, 16), (64, 64))
    if w.item() == 0 or not ((crop > 4).all() and (crop < 59).all()):
        return  # fell off the crop (or its border row): nothing to decode
    coords, _ = decode_heatmaps(hm)
    back = heatmap_to_image(coords.double(), a, (16, 16), (64, 64))
    # A quarter heatmap pixel per axis is stride / 4 crop pixels; in the image that is scaled by size / 64.
    tol = 0.25 * 4 * math.sqrt(2) * float(size.max() * scale) / 64 + 1e-6
    assert (back - point).norm().item() <= tol


def test_heatmap_to_image_takes_one_affine_per_clip():
    a = torch.stack([crop_affine(torch.tensor([c, c]), torch.tensor([64.0, 64.0]), (64, 64)) for c in (32.0, 100.0)])
    coords = torch.full((2, 3, 4, 2), 7.5)  # (B, T, J, 2) heatmap pixels at stride 1
    out = heatmap_to_image(coords, a, (64, 64), (64, 64))
    # The crop's centre 31.5 is the box centre c, so crop 7.5 is image c - 24.
    assert torch.allclose(out[0], torch.full((3, 4, 2), 8.0)) and torch.allclose(out[1], torch.full((3, 4, 2), 76.0))
    with pytest.raises(ValueError, match="affine"):
        heatmap_to_image(coords, a[:1].expand(3, 2, 3), (64, 64), (64, 64))
