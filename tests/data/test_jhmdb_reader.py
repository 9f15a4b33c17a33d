"""Sub-JHMDB's quirks in files written in the release's format (scipy.io.savemat)."""

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.io import savemat

from posemods.data import SubJHMDB, read_jhmdb
from posemods.data.jhmdb import get_box


def write_video(root, pos_img, mask, cls="walk", video="v_1"):
    n = pos_img.shape[2]
    (root / "joint_positions" / cls / video).mkdir(parents=True)
    savemat(root / "joint_positions" / cls / video / "joint_positions.mat", {"pos_img": pos_img, "scale": np.ones(n)})
    (root / "puppet_mask" / cls / video).mkdir(parents=True)
    savemat(root / "puppet_mask" / cls / video / "puppet_mask.mat", {"part_mask": mask})
    frames = root / "Rename_Images" / cls / video
    frames.mkdir(parents=True)
    for i in range(n):
        Image.fromarray(np.zeros((*mask.shape[:2], 3), dtype=np.uint8)).save(frames / f"{i + 1:05d}.png")
    (root / "sub_splits").mkdir(exist_ok=True)
    (root / "sub_splits" / f"{cls}_test_split_1.txt").write_text(f"{video}.avi 2\n")


def test_pos_img_is_one_based_and_becomes_zero_based(tmp_path):
    pos = np.full((2, 15, 2), 10.0)
    pos[:, 0, 0] = (1.0, 1.0)  # MATLAB's first pixel: the 0-based pixel (0, 0)
    pos[:, 3, 1] = (40.0, 30.0)  # the last pixel of a 40 x 30 image: (39, 29)
    mask = np.zeros((30, 40, 2), dtype=np.uint8)
    mask[4:20, 6:25] = 1
    write_video(tmp_path, pos, mask)
    (record,) = read_jhmdb(tmp_path, 1, "test")
    assert record.joints[0, 0].tolist() == [0.0, 0.0]
    assert record.joints[1, 3].tolist() == [39.0, 29.0]
    assert record.bbox[0].tolist() == [6.0, 4.0, 24.0, 19.0]  # the mask's own 0-based extent


def test_boxes_follow_getbox_rounding():
    # getBox.m: bbox(1) = floor(pos1/dim1)+1, pos1 the first non-zero of mask(:) (column-major, 1-based).
    # A first non-zero pixel in the last row (1-based row 10 of 10, column 4) gives
    # pos1 = 3*10 + 10 = 40 and floor(40/10)+1 = 5: one column right of the pixel's own column 4.
    mask = np.zeros((10, 12), dtype=bool)
    mask[9, 3] = True  # 1-based (10, 4)
    mask[2:6, 5:8] = True  # 1-based rows 3..6, columns 6..8
    # pos2 = last of mask(:): 1-based (6, 8) -> 7*10 + 6 = 76, floor(7.6)+1 = 8.
    # pos3 = first of mask'(:): 1-based (3, 6) -> 2*12 + 6 = 30, floor(30/12)+1 = 3.
    # pos4 = last of mask'(:): 1-based (10, 4) -> 9*12 + 4 = 112, floor(112/12)+1 = 10.
    assert get_box(mask).tolist() == [5.0, 3.0, 8.0, 10.0]
    # A last pixel in the last column of its row: 1-based (3, 12): pos4 = 2*12 + 12 = 36, floor(3)+1 = 4.
    mask = np.zeros((10, 12), dtype=bool)
    mask[1:3, 11] = True  # 1-based rows 2..3, column 12
    # pos1 = 11*10 + 2 = 112 -> 12; pos2 = 11*10 + 3 = 113 -> 12; pos3 = 1*12 + 12 = 24 -> 3.
    assert get_box(mask).tolist() == [12.0, 3.0, 12.0, 4.0]
    assert np.isnan(get_box(np.zeros((4, 4), dtype=bool))).all()


def test_every_joint_counts_and_empty_masks_take_the_joints(tmp_path):
    pos = np.full((2, 15, 2), 10.0)
    pos[:, 5, 0] = (-4.0, 50.0)  # outside the image: LSTMPM still counts it
    pos[:, :, 1] = np.stack((np.linspace(3, 20, 15), np.linspace(4, 18, 15)))
    mask = np.zeros((30, 40, 2), dtype=np.uint8)
    mask[4:20, 6:25, 0] = 1
    write_video(tmp_path, pos, mask)
    (record,) = read_jhmdb(tmp_path, 1, "test")
    assert record.visibility.sum() == 2 * 15
    assert record.bbox[1].tolist() == [2.0, 3.0, 19.0, 17.0]  # empty mask: the 0-based joints' extent
    clip = SubJHMDB(tmp_path, 1, "test", clip_length=2, input_size=(32, 32), heatmap_size=(8, 8))[0]
    assert clip["visibility"].sum() == 2 * 15
    assert clip["person_size"][0] == 18.0  # max(24 - 6, 19 - 4)


def test_a_joint_positions_file_without_pos_img_is_named(tmp_path):
    write_video(tmp_path, np.ones((2, 15, 1)), np.ones((5, 5, 1)))
    savemat(tmp_path / "joint_positions/walk/v_1/joint_positions.mat", {"scale": np.ones(1)})
    with pytest.raises(ValueError, match=r"joint_positions\.mat: expected the variables \['pos_img'\]"):
        read_jhmdb(tmp_path, 1, "test")


def test_a_corrupt_puppet_mask_is_named(tmp_path):
    write_video(tmp_path, np.ones((2, 15, 1)), np.ones((5, 5, 1)))
    (tmp_path / "puppet_mask/walk/v_1/puppet_mask.mat").write_bytes(b"MATLAB 5.0 MAT-file" + b"\0" * 30)
    with pytest.raises(ValueError, match=r"puppet_mask\.mat: not a readable MATLAB"):
        read_jhmdb(tmp_path, 1, "test")


def test_getbox_equals_the_literal_matlab_on_random_masks():
    from oracles.lstmpm import get_box as matlab_get_box

    rng = np.random.default_rng(0)
    for _ in range(50):
        mask = rng.random((int(rng.integers(2, 9)), int(rng.integers(2, 9)))) < rng.uniform(0.02, 0.5)
        if not mask.any():
            continue
        assert get_box(mask).tolist() == matlab_get_box(mask.tolist())


@pytest.mark.parametrize("normalize", ["person", "torso"])
def test_files_score_as_lstmpm_reads_and_scores_them(tmp_path, normalize):
    """joint_positions.mat and puppet_mask.mat read and scored by posemods against LSTMPM's chain on
    the same arrays in MATLAB's 1-based pixels (getBox.m, then run_benchmark_GPU_JHMDB.m's loop, which
    counts every joint): the reader's shift to 0-based pixels must not change a single hit."""
    from oracles.lstmpm import get_box as matlab_get_box
    from oracles.lstmpm import lstmpm_pck

    from posemods.metrics import PCK
    from posemods.skeletons import JHMDB_15

    rng = np.random.default_rng(1)
    n, h, w = 5, 30, 40
    pos = (rng.integers(1, 41, (2, 15, n)) + 0.5).astype(float)  # 1-based, joints outside the image too
    pos[:, 6, 0] = pos[:, 3, 0] + (0.5, 0)  # torso (5, 6) under 1 px in frame 1: the predicted torso
    mask = np.zeros((h, w, n), dtype=np.uint8)
    for f in range(n):
        r, c = rng.integers(0, 20), rng.integers(0, 25)
        mask[r : r + rng.integers(3, 10), c : c + rng.integers(3, 15), f] = 1
    mask[h - 1, 2, 0] = 1  # a first pixel in the last row: getBox's one-column shift
    write_video(tmp_path, pos, mask)
    pred = pos + rng.integers(-6, 7, pos.shape)  # 1-based, like pos_img
    rows = [
        (
            [pos[0, :, f], pos[1, :, f], np.ones(15)],
            pred[0, :, f],
            pred[1, :, f],
            matlab_get_box(mask[:, :, f].tolist()),
        )
        for f in range(n)
    ]
    s, hip = JHMDB_15.index(JHMDB_15.torso[0]) + 1, JHMDB_15.index(JHMDB_15.torso[1]) + 1
    detected, obj = lstmpm_pck(rows, int(normalize == "torso"), (s, hip), count_every_joint=True)
    ds = SubJHMDB(tmp_path, 1, "test", clip_length=n, input_size=(32, 32), heatmap_size=(8, 8))
    (item,) = range(len(ds))
    clip = {k: v[None] for k, v in ds[item].items()}
    pred_image = torch.from_numpy(pred.transpose(2, 1, 0) - 1.0)[None]  # the reader's 0-based pixels
    metric = PCK("jhmdb")
    metric.update_clips(pred_image, clip, normalize=normalize)
    assert metric.counted.tolist() == obj
    assert metric.correct.tolist() == detected
    assert 0 < sum(detected) < sum(obj)
