"""The RPSTN authors' Penn Action pipeline (posemods.data.rpstn): clip starts, targets, crop, test clips.

Expected values come from their code's formulas (github:YHDang/RPSTN f7dcd3e, penn_action_data.py,
Mytransforms_penn.py) worked by hand, or from NumPy's legacy RandomState stream, which NumPy keeps
fixed across versions.
"""

import math

import numpy as np
import pytest
import torch
from test_penn_action_reader import video, write_video

from posemods.data.geometry import apply_affine
from posemods.data.rpstn import (
    RPSTN_PENN_AUGMENTATION,
    RPSTNPennAction,
    RPSTNTestClips,
    RPSTNTransform,
    rpstn_crop_affine,
    rpstn_heatmaps,
    rpstn_test_start,
    rpstn_train_start,
)

J = 13


def test_test_clips_start_at_their_seeded_draws():
    # np.random.RandomState(10480 + index).randint(1, nframes - 5): literal values of that stream.
    assert [rpstn_test_start(i, n, 5) for i, n in ((0, 151), (1, 151), (7, 40), (3, 9))] == [69, 84, 7, 3]
    assert rpstn_test_start(2, 6, 5) == 0  # too short for their range (randint(1, 1) raises): from frame 0
    with pytest.raises(ValueError, match="video_index: expected a non-negative integer"):
        rpstn_test_start(-1, 151, 5)


def test_training_starts_skip_the_first_and_last_frames():
    rng = np.random.default_rng(0)
    starts = {rpstn_train_start(12, 5, rng) for _ in range(400)}
    assert starts == {1, 2, 3, 4, 5, 6}  # randint(1, 12 - 5): clips end at frame 10 of 0..11 at the latest


def test_targets_are_their_gaussians():
    # A joint at crop (100.7, 37.2), stride 4: centre (int(25.175), int(9.3)) = (25, 9).
    joints = torch.tensor([[[100.7, 37.2], [-20.0, 300.0], [50.0, 50.0]]], dtype=torch.float64)
    present = torch.tensor([[1.0, 1.0, 0.0]])
    maps, weight = rpstn_heatmaps(joints, present, (64, 64), (256, 256), sigma=2.0)
    assert weight.tolist() == [[1.0, 1.0, 0.0]] and maps.shape == (1, 3, 64, 64)
    m = maps[0, 0].double()
    assert m[9, 25] == 1.0 and m[9, 27] == pytest.approx(math.exp(-4 / 8), rel=1e-6)
    assert m[9, 31] == pytest.approx(math.exp(-36 / 8), rel=1e-6)  # 0.0111: kept
    assert m[10, 31] == 0.0  # exp(-37 / 8) = 0.0098 < 0.0099: zeroed
    # Clipped into the crop first: x -20 -> 0, y 300 -> 256, so the centre is (0, 64), half off the grid.
    assert m.shape == maps[0, 1].shape and maps[0, 1, 63, 0] == pytest.approx(math.exp(-1 / 8), rel=1e-6)
    assert maps[0, 2].abs().sum() == 0  # no coordinate, no target


def test_crop_stretches_the_box_rotates_on_an_enlarged_canvas_and_mirrors():
    box = torch.tensor([100.0, 50.0, 200.0, 250.0], dtype=torch.float64)  # 100 x 200, centre (150, 150)
    plain = rpstn_crop_affine(box, (256, 256))
    # Stretched without margin: x by 2.56, y by 1.28, the box's centre at the crop's.
    assert torch.allclose(plain[:, :2], torch.diag(torch.tensor([2.56, 1.28], dtype=torch.float64)))
    centre = torch.tensor([150.0, 150.0], dtype=torch.float64)
    assert torch.allclose(apply_affine(centre, plain), torch.tensor([127.5, 127.5], dtype=torch.float64))
    # 45 degrees: a canvas of int(256 sin + 256 cos) = 362 pixels, resized back to 256.
    turned = rpstn_crop_affine(box, (256, 256), rotation=45.0)
    point = torch.tensor([160.0, 150.0], dtype=torch.float64)  # 25.6 crop pixels right of the centre
    moved = apply_affine(point, turned) - 127.5
    assert moved.norm().item() == pytest.approx(25.6 * 256 / 362, rel=1e-9)
    assert moved[1] < 0  # counter-clockwise in the picture: the right-hand point goes up
    mirrored = rpstn_crop_affine(box, (256, 256), flip=True)
    assert apply_affine(point, mirrored)[0].item() == pytest.approx(255 - apply_affine(point, plain)[0].item())


def test_transform_draws_their_augmentation_once_per_clip():
    frames = torch.zeros(2, 3, 60, 80)
    joints = torch.rand(2, J, 2, dtype=torch.float64) * 40 + 10
    ones = torch.ones(2, J)
    box = torch.tensor([[10.0, 10.0, 50.0, 50.0]] * 2, dtype=torch.float64)
    transform = RPSTNTransform("penn_action", (64, 64), (16, 16), augmentation=RPSTN_PENN_AUGMENTATION)
    rotations = []
    for seed in range(40):
        clip = transform(frames, joints, ones, ones, box, key_frame=0, rng=np.random.default_rng(seed))
        linear = clip["affine"][:, :2]
        rotations.append(abs(math.degrees(math.atan2(float(linear[1, 0]), float(linear[1, 1])))))
        # Targets are their Gaussians at the truncated centre: the argmax is int(x / 4).
        centre = torch.trunc(clip["joints"].double().clamp(0, 64) / 4)
        peak = clip["heatmaps"].flatten(-2).argmax(-1)
        inside = (centre < 16).all(-1)
        assert torch.equal((peak % 16)[inside], centre[..., 0].long()[inside])
        assert torch.equal((peak // 16)[inside], centre[..., 1].long()[inside])
    assert all(0 < r <= 40 for r in rotations)  # always rotated, never beyond 40 degrees


def test_penn_action_clips_and_their_test_clips(tmp_path):
    for i in range(3):
        x, y, vis, bbox = video(n=12, seed=i)
        bbox[:, :2] -= 3 * np.arange(12)[:, None]  # boxes that change from frame to frame
        write_video(tmp_path, f"{i + 1:04d}", x, y, vis, bbox)
    common = {"clip_length": 5, "input_size": (32, 32), "heatmap_size": (8, 8)}
    test = RPSTNPennAction(tmp_path, "test", **common)
    # One clip per test video, from their seeded start, every frame scored.
    starts = [rpstn_test_start(i, 12, 5) for i in range(3)]
    assert [(key, scored.tolist()) for _, key, scored in test.items] == [(s, list(range(s, s + 5))) for s in starts]
    clips = RPSTNTestClips(test)
    item = clips[1]
    assert len(clips) == 3 and len(item) == 5
    # Each frame cropped by its own box (their SinglePersonCrop per frame): the crops differ.
    assert not torch.allclose(item[0]["affine"], item[1]["affine"])
    # Training: one clip per video and epoch, redrawn by set_epoch, never from the first or last frame.
    train = RPSTNPennAction(tmp_path, "test", train=True, **common)
    per_epoch = []
    for epoch in range(6):
        train.set_epoch(epoch)
        per_epoch.append(tuple(key for _, key, _ in train.items))
    assert len(train) == 3 and all(1 <= k <= 6 for keys in per_epoch for k in keys)
    assert len(set(per_epoch)) > 1
    with pytest.raises(ValueError, match="every_frame_as_key: RPSTN's pipeline scores one whole clip"):
        RPSTNPennAction(tmp_path, "test", every_frame_as_key=True, **common)
