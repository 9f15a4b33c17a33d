"""PCK@alpha: hand-computed cases, the loop oracle, and the clip interface."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from oracles.metrics import pck_loop

from posemods.metrics import PCK, pck
from posemods.skeletons import PENN_ACTION_13

J = PENN_ACTION_13.num_joints


def frames(n=2):
    # Whole-pixel targets, so the offsets below are exact and "on the threshold" means exactly on it.
    target = torch.randint(0, 100, (n, J, 2)).double()
    return target.clone(), target, torch.ones(n, J), torch.full((n,), 100.0, dtype=torch.float64)


def test_perfect_prediction_gives_100():
    pred, target, mask, norm = frames()
    out = pck(pred, target, mask, norm, "penn_action")
    assert all(v == 100.0 for v in out.values())
    assert set(out) >= {"Head", "Sho.", "Elb.", "Wri.", "Hip", "Knee", "Ank.", "Mean", "left_wrist"}


def test_a_joint_just_outside_the_threshold_is_a_miss():
    pred, target, mask, norm = frames()
    wrist = PENN_ACTION_13.index("left_wrist")
    pred[0, wrist, 0] += 20.0  # exactly alpha * L = 0.2 * 100: still correct
    pred[1, wrist, 1] += 20.001  # just outside
    out = pck(pred, target, mask, norm, "penn_action")
    assert out["left_wrist"] == 50.0
    assert out["Wri."] == 75.0  # 3 of 4 wrist detections
    assert out["Mean"] == pytest.approx(100.0 * 25 / 26)
    assert out["Head"] == 100.0


def test_invisible_joints_are_ignored():
    pred, target, mask, norm = frames()
    pred[:, 0] += 1000.0
    mask[:, 0] = 0
    out = pck(pred, target, mask, norm, "penn_action")
    assert math.isnan(out["Head"]) and out["Mean"] == 100.0


def test_normaliser_scales_the_threshold_and_degenerate_boxes_count_as_misses():
    pred, target, mask, norm = frames(5)
    pred += 15.0 / math.sqrt(2)  # every joint 15 px off
    pred[4] = target[4]  # exact, on a zero-size box: LSTMPM's 0 <= 0.2 * 0 is a hit
    # 15 <= 0.2*100 hit; 15 > 0.2*50 miss; L=0 and L=-10: counted, misses (hit = error_dist <= bodysize*0.2);
    # L=NaN: not counted.
    norm = torch.tensor([100.0, 50.0, 0.0, -10.0, 0.0], dtype=torch.float64)
    out = pck(pred, target, mask, norm, "penn_action")
    assert out["Mean"] == 40.0
    norm[4] = float("nan")
    assert pck(pred, target, mask, norm, "penn_action")["Mean"] == 25.0
    assert pck(pred, target, mask, norm, "penn_action", alpha=0.5)["Mean"] == 50.0


def test_numpy_arrays_are_accepted():
    pred, target, mask, norm = frames()
    pred[0, 3, 0] += 30.0
    expected = pck(pred, target, mask, norm, "penn_action")
    got = pck(pred.numpy(), target.numpy(), mask.numpy(), norm.numpy(), "penn_action")
    assert got == expected and got["Mean"] < 100


@pytest.mark.parametrize("alpha", [float("nan"), -0.1, 0.0, float("inf")])
def test_bad_alpha_is_refused(alpha):
    pred, target, mask, norm = frames()
    with pytest.raises(ValueError, match="alpha"):
        pck(pred, target, mask, norm, "penn_action", alpha=alpha)
    with pytest.raises(ValueError, match="alpha"):
        PCK("penn_action", alpha=alpha)


@pytest.mark.parametrize("alpha", ["0.2", True, None])
def test_alpha_of_the_wrong_type_is_refused(alpha):
    with pytest.raises(TypeError, match="alpha"):
        PCK("penn_action", alpha=alpha)


def test_non_numeric_arrays_are_refused_with_the_argument_name():
    _, target, mask, norm = frames()
    with pytest.raises(TypeError, match="pred"):
        pck("abc", target, mask, norm, "penn_action")


def test_nan_prediction_is_a_miss_not_a_crash():
    pred, target, mask, norm = frames(1)
    pred[0, 3] = float("nan")
    out = pck(pred, target, mask, norm, "penn_action")
    assert out[PENN_ACTION_13.joint_names[3]] == 0.0 and out["Mean"] == pytest.approx(100.0 * 12 / 13)


def test_matches_the_loop_oracle_on_random_data():
    gen = torch.Generator().manual_seed(0)
    target = torch.rand(6, J, 2, generator=gen, dtype=torch.float64) * 200
    pred = target + torch.randn(6, J, 2, generator=gen, dtype=torch.float64) * 25
    mask = (torch.rand(6, J, generator=gen) > 0.2).float()
    norm = torch.rand(6, generator=gen, dtype=torch.float64) * 150 + 20
    norm[2] = float("nan")
    metric = PCK("penn_action", alpha=0.2)
    metric.update(pred[:3], target[:3], mask[:3], norm[:3])  # accumulation over two batches
    metric.update(pred[3:], target[3:], mask[3:], norm[3:])
    out = metric.compute()
    expected = pck_loop(pred.tolist(), target.tolist(), mask.tolist(), norm.tolist(), PENN_ACTION_13.groups)
    for key, value in expected.items():
        assert out[key] == pytest.approx(value, abs=1e-9), key
    assert 0 < out["Mean"] < 100  # the random case is not degenerate


def test_update_clips_uses_the_clip_keys():
    b, t = 2, 3
    target = torch.rand(b, t, J, 2) * 100
    clips = {
        "joints_image": target,
        "visibility": torch.ones(b, t, J),
        "annotated": torch.ones(b, t, J),
        "frame_mask": torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]]),
        "person_size": torch.full((b, t), 100.0),
        "torso_size": torch.full((b, t), 10.0),
    }
    clips["visibility"][0, 0, :4] = 0  # 4 occluded joints
    pred = target + 5.0  # 7.07 px off: within 0.2 x 100, outside 0.2 x 10
    person = PCK("penn_action")
    person.update_clips(pred, clips, normalize="person")
    assert person.counted.sum() == 5 * J - 4 and person.compute()["Mean"] == 100.0
    torso = PCK("penn_action")
    torso.update_clips(pred, clips, normalize="torso")
    assert torso.compute()["Mean"] == 0.0
    # A ground-truth torso under 1 px (or unknown) takes the predicted torso, as LSTMPM's
    # `if(bodysize<1) bodysize = norm(pred(3) - pred(8))`: here the prediction's torso.
    clips["torso_size"][1, 0] = 0.5
    clips["torso_size"][1, 1] = float("nan")
    pred[1, :2] = target[1, :2] + 20.0  # 28.3 px off: a hit only against a torso of at least 141 px
    pred[1, :2, 2] = torch.tensor([0.0, 0.0])  # right shoulder (Penn joint 3)
    pred[1, :2, 7] = torch.tensor([200.0, 0.0])  # left hip (Penn joint 8): torso 200 px
    fallback = PCK("penn_action")
    fallback.update_clips(pred, clips, normalize="torso")
    assert fallback.correct.sum() == 2 * (J - 2)  # 28.3 px <= 0.2 x 200, in both frames
    occluded = PCK("penn_action")
    occluded.update_clips(pred, clips, joints="occluded")
    assert occluded.counted.sum() == 4
    assert "Head" in person.table() and "100.0" in person.table()


def test_shape_errors_name_the_argument():
    pred, target, mask, norm = frames()
    with pytest.raises(ValueError, match="target"):
        pck(pred, target[:, :5], mask, norm, "penn_action")
    with pytest.raises(ValueError, match="mask"):
        pck(pred, target, mask[:1], norm, "penn_action")
    with pytest.raises(ValueError, match="normalizer"):
        pck(pred, target, mask, norm[:1], "penn_action")
    with pytest.raises(ValueError, match="J=15"):
        pck(pred, target, mask, norm, "jhmdb")
    with pytest.raises(ValueError, match="normalize"):
        PCK("penn_action").update_clips(pred, {}, normalize="height")


def test_synthetic_targets_score_100_end_to_end():
    # The pipeline a training loop runs: clips -> heatmaps -> decode -> original image -> PCK.
    from posemods.data import SyntheticPoseVideos
    from posemods.metrics import decode_to_image

    ds = SyntheticPoseVideos(num_clips=2, clip_length=2, frame_size=(128, 128), heatmap_size=(32, 32), occluders=1)
    batch = torch.utils.data.default_collate([ds[0], ds[1]])
    joints, scores = decode_to_image(batch["heatmaps"], batch["affine"], (128, 128))
    metric = PCK("penn_action", alpha=0.05)
    metric.update_clips(joints, batch)
    assert metric.compute()["Mean"] == 100.0
    assert scores.shape == (2, 2, J)
    shifted = PCK("penn_action", alpha=0.05)
    shifted.update_clips(joints + 0.3 * batch["person_size"][..., None, None], batch)
    assert shifted.compute()["Mean"] == 0.0


@pytest.mark.parametrize("torso_norm", [0, 1])
@pytest.mark.parametrize("layout", ["penn_action", "jhmdb"])
def test_matches_the_literal_lstmpm_loop(layout, torso_norm):
    """posemods.metrics against tests/oracles/lstmpm.py, a line-by-line restatement of LSTMPM's MATLAB, on
    random frames with invisible joints, degenerate boxes (zero and negative sizes) and tiny torsos."""
    from oracles.lstmpm import lstmpm_pck

    from posemods.skeletons import get_skeleton

    skeleton = get_skeleton(layout)
    n, j = 40, skeleton.num_joints
    gen = torch.Generator().manual_seed(1)
    # Whole pixels, so distances equal to a threshold happen and are decided the same way.
    target = torch.randint(0, 60, (n, j, 2), generator=gen).double()
    pred = target + torch.randint(-12, 13, (n, j, 2), generator=gen).double()
    visibility = (torch.rand(n, j, generator=gen) > 0.25).double()
    xy = torch.randint(0, 60, (n, 2), generator=gen).double()
    size = torch.randint(-5, 60, (n, 2), generator=gen).double()
    size[::7] = 0.0  # zero-size boxes
    bbox = torch.cat((xy, xy + size), 1)
    s, h = skeleton.index(skeleton.torso[0]), skeleton.index(skeleton.torso[1])
    target[::5, h] = target[::5, s] + 0.5  # ground-truth torso under 1 px: LSTMPM takes the predicted one
    count_every_joint = layout == "jhmdb"  # LSTMPM's JHMDB loop has no visibility test
    mask = torch.ones(n, j) if count_every_joint else visibility
    frames_ = [
        (
            [target[f, :, 0].tolist(), target[f, :, 1].tolist(), visibility[f].tolist()],
            pred[f, :, 0].tolist(),
            pred[f, :, 1].tolist(),
            bbox[f].tolist(),
        )
        for f in range(n)
    ]
    detected, obj = lstmpm_pck(frames_, torso_norm, (s + 1, h + 1), count_every_joint)
    clips = {
        "joints_image": target,
        "visibility": mask,
        "annotated": torch.ones(n, j),
        "frame_mask": torch.ones(n),
        "person_size": torch.maximum(bbox[:, 2] - bbox[:, 0], bbox[:, 3] - bbox[:, 1]),
        "torso_size": (target[:, s] - target[:, h]).norm(dim=-1),
    }
    metric = PCK(layout)
    metric.update_clips(pred, clips, normalize="torso" if torso_norm else "person")
    assert metric.counted.tolist() == obj
    assert metric.correct.tolist() == detected
    assert 0 < sum(detected) < sum(obj)
    assert metric.compute()["Mean"] == pytest.approx(100.0 * sum(detected) / sum(obj), abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 6),
    st.integers(0, 2**31 - 1),
    st.sampled_from([0.05, 0.1, 0.2, 0.5]),
    st.sampled_from(["penn_action", "jhmdb"]),
)
def test_property_equals_the_lstmpm_loop(frames_count, seed, alpha, layout):
    """Any small set of whole-pixel frames (ties with the threshold, degenerate boxes, invisible joints):
    posemods' counts are LSTMPM's."""
    from oracles.lstmpm import lstmpm_pck

    from posemods.skeletons import get_skeleton

    skeleton = get_skeleton(layout)
    rng = np.random.default_rng(seed)
    n, j = frames_count, skeleton.num_joints
    target = rng.integers(0, 40, (n, j, 2)).astype(float)
    pred = target + rng.integers(-10, 11, (n, j, 2))
    vis = (rng.random((n, j)) > 0.3).astype(float)
    bbox = np.concatenate((target.min(1), target.min(1) + rng.integers(-3, 40, (n, 2))), 1)
    rows = [([target[f, :, 0], target[f, :, 1], vis[f]], pred[f, :, 0], pred[f, :, 1], bbox[f]) for f in range(n)]
    detected, obj = lstmpm_pck(rows, 0, (1, 2), layout == "jhmdb", alpha)
    metric = PCK(layout, alpha)
    mask = np.ones((n, j)) if layout == "jhmdb" else vis
    metric.update(pred, target, mask, np.maximum(bbox[:, 2] - bbox[:, 0], bbox[:, 3] - bbox[:, 1]))
    assert metric.correct.tolist() == detected and metric.counted.tolist() == obj


def _clip(joints_image, bbox):
    """A one-frame Penn clip through the contract's make_clip, with every joint visible."""
    from posemods.data.clip import make_clip

    torso = (PENN_ACTION_13.index(PENN_ACTION_13.torso[0]), PENN_ACTION_13.index(PENN_ACTION_13.torso[1]))
    ones = torch.ones(1, J)
    return make_clip(
        frames=torch.zeros(1, 3, 8, 8),
        joints=joints_image.float(),
        visibility=ones,
        annotated=ones,
        heatmaps=torch.zeros(1, J, 2, 2),
        target_weight=ones,
        affine=torch.eye(2, 3, dtype=torch.float64),
        joints_image=joints_image,
        bbox=bbox,
        torso=torso,
    )


def test_the_clip_geometry_keeps_double_precision():
    """person_size and torso_size are the float64 values of the labels, as MATLAB's double computes them."""
    a, b = PENN_ACTION_13.index(PENN_ACTION_13.torso[0]), PENN_ACTION_13.index(PENN_ACTION_13.torso[1])
    joints = torch.zeros(1, J, 2, dtype=torch.float64)
    joints[0, a], joints[0, b] = (
        torch.tensor([0.1, 0.2], dtype=torch.float64),
        torch.tensor([10.7, 11.3], dtype=torch.float64),
    )
    clip = _clip(joints, torch.tensor([[0.1, 0.2, 10.7, 5.3]], dtype=torch.float64))
    for key in ("joints_image", "bbox", "person_size", "torso_size"):
        assert clip[key].dtype == torch.float64, key
    assert clip["person_size"].item() == max(10.7 - 0.1, 5.3 - 0.2)
    assert clip["torso_size"].item() == pytest.approx(math.sqrt((10.7 - 0.1) ** 2 + (11.3 - 0.2) ** 2), rel=1e-14)


def test_an_exact_torso_tie_is_a_hit_as_in_lstmpm_double():
    """run_benchmark_GPU_PENN.m: ``hit = error_dist <= bodysize*0.2`` in double. A torso of sqrt(125)
    and a prediction exactly 0.2 * sqrt(125) away is a hit; float32 rounds the torso down to a miss."""
    a, b = PENN_ACTION_13.index(PENN_ACTION_13.torso[0]), PENN_ACTION_13.index(PENN_ACTION_13.torso[1])
    joints = torch.zeros(1, J, 2, dtype=torch.float64)
    joints[0, b] = torch.tensor([10.0, 5.0])  # torso sqrt(125) from joint a at the origin
    clip = _clip(joints, torch.tensor([[0.0, 0.0, 10.0, 5.0]], dtype=torch.float64))
    d = 0.2 * math.sqrt(125)
    pred = joints.clone()
    pred[0, a, 0] = d  # joint a off by exactly the threshold; every other joint exact
    # The oracle, in Python's double as MATLAB: a hit; and the float32 torso would call it a miss.
    assert math.hypot(d, 0.0) <= math.sqrt(125) * 0.2
    assert float(np.float32(math.sqrt(125))) * 0.2 < d
    metric = PCK("penn_action")
    batch = {key: value[None] for key, value in clip.items()}
    metric.update_clips(pred[None], batch, normalize="torso")
    assert metric.compute()["Mean"] == 100.0
