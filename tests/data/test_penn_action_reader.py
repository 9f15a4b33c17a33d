"""Penn Action's quirks, each in a label file written in the release's format (scipy.io.savemat)."""

import math

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.io import savemat

from posemods.data import PennAction, read_penn_action
from posemods.metrics import PCK
from posemods.skeletons import PENN_ACTION_13

J = 13


def write_video(root, stem, x, y, visibility, bbox, flag=-1, h=40, w=48):
    n = x.shape[0]
    (root / "labels").mkdir(parents=True, exist_ok=True)
    savemat(
        root / "labels" / f"{stem}.mat",
        {"x": x, "y": y, "visibility": visibility, "bbox": bbox, "train": flag, "nframes": n,
         "dimensions": np.array([h, w, n]), "action": "squat", "pose": "front"},
    )  # fmt: skip
    frames = root / "frames" / stem
    frames.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(np.full((h, w, 3), 60 + 10 * i, dtype=np.uint8)).save(frames / f"{i + 1:06d}.jpg")


def video(n=4, seed=0):
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(10, 38, (n, J)), rng.uniform(8, 32, (n, J))
    bbox = np.stack((x.min(1) - 2, y.min(1) - 2, x.max(1) + 2, y.max(1) + 2), axis=1)
    return x, y, np.ones((n, J), dtype=np.uint8), bbox


def test_unlabelled_joints_at_matlab_pixel_one_are_not_annotated(tmp_path):
    # The release stores unlabelled joints with visibility 0 at (s, s), s = 0.75 after its rescaling.
    x, y, vis, bbox = video()
    x[1, 5], y[1, 5], vis[1, 5] = 0.75, 0.75, 0
    x[2, 0], y[2, 0], vis[2, 0] = 0.0, 0.0, 0
    write_video(tmp_path, "0001", x, y, vis, bbox)
    (record,) = read_penn_action(tmp_path, "test")
    assert record.annotated[1, 5] == 0 and record.visibility[1, 5] == 0
    assert record.annotated[2, 0] == 0
    assert record.annotated.sum() == 4 * J - 2


def test_occluded_joints_are_annotated_trained_on_and_not_scored_as_visible(tmp_path):
    """Visibility 0 at a real coordinate is an occluded joint: LSTMPM's transformation_PENN.m draws its
    Gaussian (``if(label_flip(3,i,k) >=0 )``) and run_benchmark_GPU_PENN.m does not count it."""
    x, y, vis, bbox = video()
    elbow = PENN_ACTION_13.index("left_elbow")
    vis[:, elbow] = 0  # occluded through the clip, at its true position inside the box
    x[1, 0], y[1, 0], vis[1, 0] = 0.75, 0.75, 0  # and one unlabelled head
    write_video(tmp_path, "0001", x, y, vis, bbox)
    (record,) = read_penn_action(tmp_path, "test")
    assert record.visibility[:, elbow].tolist() == [0, 0, 0, 0]
    assert record.annotated[:, elbow].tolist() == [1, 1, 1, 1]
    clip = PennAction(tmp_path, "test", clip_length=4, input_size=(32, 32), heatmap_size=(8, 8))[0]
    assert clip["target_weight"][:, elbow].tolist() == [1, 1, 1, 1]
    assert (clip["heatmaps"][:, elbow].amax((-2, -1)) > 0.5).all()
    assert clip["target_weight"][1, 0] == 0  # the placeholder: no target pulled to the image corner
    assert clip["target_weight"].sum() == 4 * J - 1  # every joint with a coordinate, all inside the crop
    batch = {k: v[None] for k, v in clip.items()}
    visible, occluded = PCK("penn_action"), PCK("penn_action")
    visible.update_clips(clip["joints_image"][None], batch)
    occluded.update_clips(clip["joints_image"][None], batch, joints="occluded")
    assert visible.counted[elbow] == 0 and visible.counted.sum() == 4 * J - 5
    assert occluded.counted.tolist() == [4.0 if j == elbow else 0.0 for j in range(J)]


def test_the_torso_is_measured_between_the_stored_labels_whatever_their_visibility(tmp_path):
    """run_benchmark_GPU_PENN.m's torso: ``norm(label(:,3) - label(:,8))`` of the stored labels, an
    occluded joint at its place and an unlabelled one at MATLAB's pixel (1, 1) alike."""
    x, y, vis, bbox = video()
    shoulder, hip = PENN_ACTION_13.index("right_shoulder"), PENN_ACTION_13.index("left_hip")
    vis[0, hip] = 0  # occluded at its true position
    x[1, hip], y[1, hip], vis[1, hip] = 0.6667, 0.6667, 0  # unlabelled
    x[2, shoulder], y[2, shoulder] = x[2, hip] + 0.5, y[2, hip]  # under 1 px
    write_video(tmp_path, "0001", x, y, vis, bbox)
    clip = PennAction(tmp_path, "test", clip_length=4, input_size=(32, 32), heatmap_size=(8, 8))[0]
    expected = [math.hypot(x[f, shoulder] - x[f, hip], y[f, shoulder] - y[f, hip]) for f in range(4)]
    assert clip["torso_size"].tolist() == pytest.approx(expected, rel=1e-12)
    assert clip["target_weight"][1, hip] == 0 and clip["target_weight"][0, hip] == 1


def test_only_visibility_one_counts(tmp_path):
    x, y, vis, bbox = video()
    vis[0, 3] = 2  # not a Penn value; LSTMPM's `label(3,joints,frame)==1` does not count it
    write_video(tmp_path, "0001", x, y, vis, bbox)
    (record,) = read_penn_action(tmp_path, "test")
    assert record.visibility[0, 3] == 0


def test_a_short_bbox_array_repeats_its_last_row(tmp_path):
    x, y, vis, bbox = video(5)
    write_video(tmp_path, "0001", x, y, vis, bbox[:3])
    (record,) = read_penn_action(tmp_path, "test")
    np.testing.assert_array_equal(record.bbox[3], bbox[2])
    np.testing.assert_array_equal(record.bbox[4], bbox[2])


def test_degenerate_boxes_are_kept_for_evaluation_and_crop_around_the_joints(tmp_path):
    x, y, vis, bbox = video()
    bbox[1] = (30, 20, 30, 28)  # zero width: person size max(0, 8) = 8
    bbox[2] = (30, 20, 25, 15)  # negative: person size max(-5, -5) = -5, every joint a miss
    write_video(tmp_path, "0001", x, y, vis, bbox)
    (record,) = read_penn_action(tmp_path, "test")
    np.testing.assert_array_equal(record.bbox, bbox)
    np.testing.assert_allclose(record.crop_bbox[2], (x[2].min(), y[2].min(), x[2].max(), y[2].max()))
    np.testing.assert_array_equal(record.crop_bbox[0], bbox[0])
    ds = PennAction(tmp_path, "test", clip_length=4, input_size=(32, 32), heatmap_size=(8, 8))
    clip = ds[0]
    assert clip["person_size"].tolist() == pytest.approx(
        [max(bbox[0, 2] - bbox[0, 0], bbox[0, 3] - bbox[0, 1]), 8.0, -5.0, max(bbox[3, 2:] - bbox[3, :2])]
    )
    metric = PCK("penn_action")
    metric.update_clips(clip["joints_image"][None].double(), {k: v[None] for k, v in clip.items()})
    assert metric.counted.sum() == 4 * J  # the negative box's frame is counted,
    assert metric.correct.sum() == 3 * J  # with misses only (LSTMPM: error_dist <= bodysize*0.2)


def test_a_file_without_the_expected_variables_is_named(tmp_path):
    (tmp_path / "labels").mkdir()
    savemat(tmp_path / "labels" / "0001.mat", {"x": np.zeros((2, J)), "train": 1})
    with pytest.raises(ValueError, match=r"0001\.mat.*missing \['y', 'visibility'\]"):
        read_penn_action(tmp_path, "all")


def test_a_truncated_mat_file_is_named(tmp_path):
    x, y, vis, bbox = video()
    write_video(tmp_path, "0001", x, y, vis, bbox)
    path = tmp_path / "labels" / "0001.mat"
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match=r"0001\.mat: not a readable MATLAB"):
        read_penn_action(tmp_path, "all")
    path.write_bytes(b"this is not a mat file at all" * 10)
    with pytest.raises(ValueError, match=r"0001\.mat"):
        read_penn_action(tmp_path, "all")


def test_visibility_of_the_wrong_shape_is_named(tmp_path):
    x, y, vis, bbox = video()
    write_video(tmp_path, "0001", x, y, vis[:, :5], bbox)
    with pytest.raises(ValueError, match=r"0001\.mat: expected visibility"):
        read_penn_action(tmp_path, "all")


def clip_predictions(ds, index, table):
    """The rows of ``table[record name]`` (N, J, 2) for the frames of evaluation item ``index``."""
    r_idx, key, _ = ds.items[index]
    n = len(ds.records[r_idx].frame_paths)
    frames = np.clip(np.arange(key - ds.key_offset, key - ds.key_offset + ds.clip_length), 0, n - 1)
    return torch.from_numpy(table[ds.records[r_idx].name][frames])[None]


@pytest.mark.parametrize("normalize", ["person", "torso"])
def test_label_files_score_as_lstmpm_reads_and_scores_them(tmp_path, normalize):
    """Penn label files with the release's quirks (occluded joints at their true positions, unlabelled
    joints at (0.75, 0.75), torso joints among both, zero and negative boxes, a short bbox array,
    tiny torsos), read and scored by posemods, against LSTMPM's chain re-stated in
    tests/oracles/lstmpm.py on the same arrays: PENN_PreData.m's box fix, then the
    run_benchmark_GPU_PENN.m loop."""
    from oracles.lstmpm import lstmpm_pck, penn_predata_bbox

    rng = np.random.default_rng(0)
    rows, preds = [], {}
    torso = (PENN_ACTION_13.index("right_shoulder"), PENN_ACTION_13.index("left_hip"))
    for v in range(3):
        n = int(rng.integers(3, 7))
        x, y = rng.integers(8, 40, (n, J)) + 0.5, rng.integers(8, 30, (n, J)) + 0.5
        vis = (rng.random((n, J)) > 0.4).astype(np.uint8)
        vis[:2, list(torso)] = 0  # an occluded or unlabelled torso in the first two frames
        unlabelled = (vis == 0) & (rng.random((n, J)) < 0.4)
        unlabelled[0, torso[1]], unlabelled[1, torso[1]] = True, False
        x[unlabelled], y[unlabelled] = 0.75, 0.75  # MATLAB's pixel (1, 1) after rescaling
        x[2, torso[1]], y[2, torso[1]] = x[2, torso[0]] + 0.5, y[2, torso[0]]  # under 1 px: the predicted torso
        vis[2, list(torso)] = 1
        bbox = np.stack((x.min(1) - 2, y.min(1) - 2, x.max(1) + 2, y.max(1) + 2), axis=1)
        bbox[1] = (30, 20, 30, 28)  # zero width
        if n > 3:
            bbox[3] = (30, 20, 25, 15)  # negative size
        stored = bbox[:-1] if v == 1 else bbox  # the last row missing, as in videos 1154 and 1865
        write_video(tmp_path, f"{v + 1:04d}", x, y, vis, stored)
        pred = np.stack((x, y), -1) + rng.integers(-10, 11, (n, J, 2))
        preds[f"{v + 1:04d}"] = pred
        boxes = penn_predata_bbox(stored.tolist(), n)
        rows += [([x[f], y[f], vis[f]], pred[f, :, 0], pred[f, :, 1], boxes[f]) for f in range(n)]
    detected, obj = lstmpm_pck(rows, int(normalize == "torso"), (3, 8), count_every_joint=False)
    ds = PennAction(tmp_path, "test", clip_length=3, input_size=(32, 32), heatmap_size=(8, 8))
    metric = PCK("penn_action")
    for i in range(len(ds)):
        clip = {k: v[None] for k, v in ds[i].items()}
        metric.update_clips(clip_predictions(ds, i, preds), clip, normalize=normalize)
    assert metric.counted.tolist() == obj
    assert metric.correct.tolist() == detected
    assert 0 < sum(detected) < sum(obj)
