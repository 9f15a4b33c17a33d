"""Dataset readers on tiny fixture files written in each dataset's format, and the top-down transform."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.io import savemat

from posemods.data import (
    Augmentation,
    PennAction,
    PoseTrack,
    SubJHMDB,
    TopDownTransform,
    apply_affine,
    check_clip,
    read_jhmdb,
    read_penn_action,
    read_posetrack,
    read_posetrack_frames,
)
from posemods.skeletons import JHMDB_15, PENN_ACTION_13

SIZES = dict(clip_length=3, input_size=(32, 32), heatmap_size=(8, 8))


def write_image(path, h, w):
    pixels = np.random.default_rng(sum(map(ord, path.name))).integers(0, 255, (h, w, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def random_joints(rng, n, j, w, h):
    return np.stack((rng.uniform(8, w - 8, (n, j)), rng.uniform(6, h - 6, (n, j))), axis=-1)


@pytest.fixture
def penn_root(tmp_path):
    """Two videos: 0001 (train, 5 frames, one bbox row short) and 0002 (test, 4 frames)."""
    rng = np.random.default_rng(0)
    for stem, n, flag in (("0001", 5, 1), ("0002", 4, -1)):
        joints = random_joints(rng, n, 13, 48, 40)
        vis = rng.integers(0, 2, (n, 13))
        bbox = np.concatenate((joints.min(1) - 2, joints.max(1) + 2), axis=1)
        if stem == "0001":
            bbox = bbox[:-1]
        savemat(
            _mkdir(tmp_path / "labels") / f"{stem}.mat",
            {"x": joints[..., 0], "y": joints[..., 1], "visibility": vis, "bbox": bbox, "train": flag,
             "nframes": n, "dimensions": np.array([40, 48, n]), "action": "squat", "pose": "front"},
        )  # fmt: skip
        frames = _mkdir(tmp_path / "frames" / stem)
        for i in range(n):
            write_image(frames / f"{i + 1:06d}.jpg", 40, 48)
    return tmp_path


def _mkdir(path):
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_penn_action_reads_the_label_files(penn_root):
    from scipy.io import loadmat

    train = read_penn_action(penn_root, "train")
    assert [r.name for r in train] == ["0001"]
    assert [r.name for r in read_penn_action(penn_root, "test")] == ["0002"]
    assert len(read_penn_action(penn_root, "all")) == 2
    mat = loadmat(str(penn_root / "labels" / "0001.mat"))
    r = train[0]
    assert np.array_equal(r.joints[..., 0], mat["x"]) and np.array_equal(r.joints[..., 1], mat["y"])
    assert np.array_equal(r.visibility, mat["visibility"])
    assert np.array_equal(r.bbox[:4], mat["bbox"])
    # The missing last box repeats the previous row, as LSTMPM's PENN_PreData.m does.
    assert np.array_equal(r.bbox[4], mat["bbox"][3])
    assert [p.name for p in r.frame_paths] == [f"{i:06d}.jpg" for i in range(1, 6)]


def test_penn_action_clips_follow_the_contract(penn_root):
    ds = PennAction(penn_root, "train", **SIZES)
    assert ds.train and len(ds) == 1
    clip = ds[0]
    assert check_clip(clip) == {"T": 3, "J": 13, "H": 32, "W": 32, "h": 8, "w": 8}
    # The crop affine maps the original joints onto the crop joints.
    assert torch.allclose(
        apply_affine(clip["joints_image"].double(), clip["affine"]).float(), clip["joints"], atol=1e-4
    )
    ds.set_epoch(0)
    again = ds[0]
    torch.testing.assert_close(again, clip, rtol=0, atol=0)


def test_evaluation_items_score_every_frame_exactly_once(penn_root):
    ds = PennAction(penn_root, "train", **SIZES)
    ev = PennAction(penn_root, "train", train=False, **SIZES)
    assert not ev.train and len(ev) == 2  # 5 frames in clips of 3: frames 0-2 and 2-4
    record = ev.records[0]
    scored = []
    for i in range(len(ev)):
        clip = ev[i]
        assert not clip["flipped"]
        for t in np.flatnonzero(clip["frame_mask"].numpy()):
            match = np.flatnonzero((np.abs(record.joints - clip["joints_image"][t].numpy()) < 1e-4).all((1, 2)))
            scored.append(int(match[0]))
    assert sorted(scored) == [0, 1, 2, 3, 4]
    assert ds.transform.augmentation is not None and ev.transform.augmentation is None


def test_key_frame_evaluation_keys_a_clip_on_every_frame(penn_root):
    ev = PennAction(penn_root, "train", train=False, every_frame_as_key=True, **SIZES)
    record = ev.records[0]
    assert len(ev) == 5  # one clip per frame
    for k in range(len(ev)):
        clip = ev[k]
        assert clip["frame_mask"].tolist() == [0.0, 1.0, 0.0]  # the middle (key) frame only
        np.testing.assert_allclose(clip["joints_image"][1].numpy(), record.joints[k], atol=1e-4)


@pytest.fixture
def jhmdb_root(tmp_path):
    """Two classes, one video each; split 1 puts walk in train and jump in test (Sub-JHMDB naming)."""
    rng = np.random.default_rng(1)
    for cls, video, flag in (("walk", "v_walk_1", 1), ("jump", "v_jump_1", 2)):
        n, h, w = 4, 30, 40
        joints = random_joints(rng, n, 15, w, h)
        joints[1, 0] = (w + 5, 3)  # one joint outside the image: not visible
        savemat(_mkdir(tmp_path / "joint_positions" / cls / video) / "joint_positions.mat",
                {"pos_img": joints.transpose(2, 1, 0), "scale": np.ones(n), "viewpoint": "E"})  # fmt: skip
        mask = np.zeros((h, w, n), dtype=np.uint8)
        mask[5:25, 10:30, :] = 1
        mask[7:9, 12:14, 2] = 0
        savemat(_mkdir(tmp_path / "puppet_mask" / cls / video) / "puppet_mask.mat", {"part_mask": mask})
        frames = _mkdir(tmp_path / "Rename_Images" / cls / video)
        for i in range(n):
            write_image(frames / f"{i + 1:05d}.png", h, w)
        splits = _mkdir(tmp_path / "sub_splits")
        for k in (1, 2, 3):
            (splits / f"{cls}_test_split_{k}.txt").write_text(f"{video}.avi {flag if k == 1 else 3 - flag}\n")
    return tmp_path


def test_jhmdb_reads_positions_masks_and_splits(jhmdb_root):
    from scipy.io import loadmat

    train = read_jhmdb(jhmdb_root, split=1, subset="train")
    assert [r.name for r in train] == ["walk/v_walk_1"]
    assert [r.name for r in read_jhmdb(jhmdb_root, split=2, subset="train")] == ["jump/v_jump_1"]
    r = train[0]
    pos = loadmat(str(jhmdb_root / "joint_positions/walk/v_walk_1/joint_positions.mat"))["pos_img"]
    # pos_img is 1-based (MATLAB); the reader's pixels are 0-based.
    assert np.array_equal(r.joints[2, JHMDB_15.index("left_wrist")], pos[:, 12, 2] - 1)
    # Mask rows 5..24, columns 10..29 (0-based): getBox.m's box, in 0-based pixels.
    assert np.array_equal(r.bbox, np.tile([10.0, 5.0, 29.0, 24.0], (4, 1)))
    # LSTMPM's JHMDB evaluation counts every joint, one outside the image too.
    assert r.visibility.sum() == 4 * 15
    clip = SubJHMDB(jhmdb_root, split=1, subset="test", **SIZES)[0]
    assert check_clip(clip)["J"] == 15


def test_jhmdb_bad_split(jhmdb_root):
    with pytest.raises(ValueError, match="split"):
        read_jhmdb(jhmdb_root, split=4)
    with pytest.raises(ValueError, match="subset"):
        read_jhmdb(jhmdb_root, subset="val")


@pytest.fixture
def posetrack_root(tmp_path):
    """One 6-frame video; frames 1, 2 and 4 labelled; track 7 in frames 1 and 2, track 9 in frame 4."""
    rng = np.random.default_rng(2)
    video = _mkdir(tmp_path / "images" / "val" / "000001_test")
    images = []
    for i in range(6):
        write_image(video / f"{i:06d}.jpg", 36, 44)
        images.append({"id": 100 + i, "file_name": f"images/val/000001_test/{i:06d}.jpg", "frame_id": 100 + i,
                       "is_labeled": i in (1, 2, 4), "ignore_regions_x": [[0, 5, 5, 0]] if i == 4 else [],
                       "ignore_regions_y": [[0, 0, 5, 5]] if i == 4 else []})  # fmt: skip
    annotations = []
    for image, track in ((101, 7), (102, 7), (104, 9), (103, 7)):  # 103 is not labelled: ignored
        kp = np.concatenate((random_joints(rng, 1, 17, 44, 36)[0], np.ones((17, 1))), axis=1)
        kp[3:5] = 0  # PoseTrack never labels the ears
        annotations.append({"id": len(annotations), "image_id": image, "track_id": track, "category_id": 1,
                            "keypoints": kp.reshape(-1).tolist(), "bbox": [5, 4, 30, 28],
                            "bbox_head": [10, 4, 8, 6]})  # fmt: skip
    names = ["nose", "head_bottom", "head_top", "left_ear", "right_ear"] + [
        f"{s}_{p}" for p in ("shoulder", "elbow", "wrist", "hip", "knee", "ankle") for s in ("left", "right")
    ]
    ann_dir = _mkdir(tmp_path / "annotations" / "val")
    (ann_dir / "000001_test.json").write_text(
        json.dumps({"images": images, "annotations": annotations, "categories": [{"keypoints": names}]})
    )
    return tmp_path


def test_posetrack_reads_tracks_and_labelled_frames(posetrack_root):
    records = read_posetrack(posetrack_root, posetrack_root / "annotations" / "val")
    assert [r.name for r in records] == ["000001_test/7", "000001_test/9"]
    track7 = records[0]
    assert track7.key_frames == [1, 2] and len(track7.frame_paths) == 6
    assert track7.annotated[1].sum() == 15 and track7.annotated[0].sum() == 0 and track7.annotated[3].sum() == 0
    assert np.array_equal(track7.bbox[0], [5.0, 4.0, 35.0, 32.0])  # filled from the nearest labelled frame
    ds = PoseTrack(posetrack_root, posetrack_root / "annotations" / "val", train=False, **SIZES)
    assert len(ds) == 3
    clip = ds[0]
    assert check_clip(clip)["J"] == 17
    assert clip["frame_mask"].tolist() == [0.0, 1.0, 0.0]  # only the key frame is scored
    assert clip["annotated"][:, 0].tolist() == [0.0, 1.0, 1.0]


def test_posetrack_ground_truth_frames(posetrack_root):
    frames = read_posetrack_frames(posetrack_root / "annotations" / "val" / "000001_test.json")
    # Frame 3 is not labelled but has a person: poseval's to_old gives it an annorect, so it is evaluated.
    assert [f["image"][-10:] for f in frames] == ["000001.jpg", "000002.jpg", "000003.jpg", "000004.jpg"]
    f = frames[3]
    assert f["keypoints"].shape == (1, 17, 2) and f["annotated"].sum() == 15
    assert f["head_box"].tolist() == [[10.0, 4.0, 18.0, 10.0]]
    assert len(f["ignore_regions"]) == 1 and f["ignore_regions"][0].shape == (4, 2)


def test_posetrack_rejects_other_keypoint_orders(posetrack_root):
    path = posetrack_root / "annotations" / "val" / "000001_test.json"
    data = json.loads(path.read_text())
    data["categories"][0]["keypoints"][1:3] = ["left_eye", "right_eye"]
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match="keypoint names"):
        read_posetrack(posetrack_root, path.parent)


def frames_and_joints():
    frames = torch.rand(2, 3, 50, 60)
    joints = torch.tensor(np.random.default_rng(3).uniform(15, 40, (2, 13, 2)))
    bbox = torch.tensor([[10.0, 10.0, 45.0, 45.0]] * 2, dtype=torch.float64)
    return frames, joints, torch.ones(2, 13), torch.ones(2, 13), bbox


def test_flip_swaps_labels_and_mirrors_the_crop():
    no_change = dict(rotation_prob=0.0, scale=(1.0, 1.0), half_body_prob=0.0)
    plain = TopDownTransform("penn_action", (32, 32), (8, 8), augmentation=Augmentation(flip_prob=0.0, **no_change))
    mirror = TopDownTransform("penn_action", (32, 32), (8, 8), augmentation=Augmentation(flip_prob=1.0, **no_change))
    args = frames_and_joints()
    a = plain(*args, key_frame=0, rng=np.random.default_rng(0))
    b = mirror(*args, key_frame=0, rng=np.random.default_rng(0))
    assert b["flipped"] and not a["flipped"]
    flip = list(PENN_ACTION_13.flip_index)
    assert torch.allclose(b["joints"][..., 0], 31 - a["joints"][:, flip, 0], atol=1e-4)
    assert torch.allclose(b["joints"][..., 1], a["joints"][:, flip, 1], atol=1e-4)
    assert torch.allclose(b["frames"], a["frames"].flip(-1), atol=1e-5)
    assert torch.allclose(b["joints_image"], a["joints_image"][:, flip])
    # The inverse affine of a flipped clip still lands each channel on its own joint in the image.
    back = apply_affine(
        b["joints"].double(),
        torch.linalg.inv(torch.cat((b["affine"], torch.tensor([[0, 0, 1.0]], dtype=torch.float64))))[:2],
    )
    assert torch.allclose(back, b["joints_image"], atol=1e-3)


def test_augmentation_ranges_hold():
    tf = TopDownTransform("penn_action", (32, 32), (8, 8), augmentation=Augmentation(half_body_prob=0.0))
    frames, joints, vis, ann, bbox = frames_and_joints()
    base = TopDownTransform("penn_action", (32, 32), (8, 8))(frames, joints, vis, ann, bbox, key_frame=0)
    base_scale = torch.linalg.det(base["affine"][:, :2]).abs().sqrt()
    rotations, flips = [], 0
    for seed in range(40):
        clip = tf(frames, joints, vis, ann, bbox, key_frame=0, rng=np.random.default_rng(seed))
        lin = clip["affine"][:, :2]
        scale = torch.linalg.det(lin).abs().sqrt() / base_scale  # crop pixels per image pixel, relative
        assert 1 / 1.35 - 1e-6 <= scale <= 1 / 0.65 + 1e-6
        flips += int(clip["flipped"])
        sign = -1.0 if clip["flipped"] else 1.0
        rotations.append(float(torch.rad2deg(torch.atan2(lin[0, 1], sign * lin[0, 0]))))
    assert max(abs(r) for r in rotations) <= 45 + 1e-6 and any(abs(r) > 1 for r in rotations)
    assert 5 <= flips <= 35


def test_half_body_crops_around_one_half():
    tf = TopDownTransform(
        "penn_action", (32, 32), (8, 8),
        augmentation=Augmentation(half_body_prob=1.0, rotation_prob=0.0, scale=(1.0, 1.0), flip_prob=0.0),
    )  # fmt: skip
    frames, joints, vis, ann, bbox = frames_and_joints()
    clip = tf(frames, joints, vis, ann, bbox, key_frame=0, rng=np.random.default_rng(0))
    upper, lower = list(PENN_ACTION_13.upper_body), list(PENN_ACTION_13.lower_body)
    inside = ((clip["joints"][0] >= -0.5) & (clip["joints"][0] <= 31.5)).all(-1)
    assert inside[upper].all() or inside[lower].all()


def test_transform_checks_shapes():
    frames, joints, vis, ann, bbox = frames_and_joints()
    tf = TopDownTransform("penn_action", (32, 32), (8, 8))
    with pytest.raises(ValueError, match="joints"):
        tf(frames, joints[:, :12], vis, ann, bbox, key_frame=0)
    with pytest.raises(ValueError, match="key_frame"):
        tf(frames, joints, vis, ann, bbox, key_frame=2)
