"""PCK@alpha: hand-computed cases, the loop oracle, and the clip interface."""

import math

import pytest
import torch
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


def test_normaliser_scales_the_threshold_and_bad_frames_are_skipped():
    pred, target, mask, norm = frames(3)
    pred += 15.0 / math.sqrt(2)  # every joint 15 px off
    norm[:] = torch.tensor([100.0, 50.0, 0.0])  # 15/100 <= 0.2 hit; 15/50 > 0.2 miss; L=0 skipped
    out = pck(pred, target, mask, norm, "penn_action")
    assert out["Mean"] == 50.0
    assert pck(pred, target, mask, norm, "penn_action", alpha=0.5)["Mean"] == 100.0


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
