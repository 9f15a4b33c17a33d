"""OcclusionMasks: KIMNet section 4.5's temporal and spatial occlusion, checked pixel by pixel."""

import pytest
import torch

from posemods.data import OcclusionMasks, SyntheticPoseVideos, check_clip

SMALL = dict(num_clips=4, clip_length=4, frame_size=(96, 96), heatmap_size=(24, 24), sigma=1.0, occluders=0)


def white_clip(index=0, **changes):
    """A synthetic clip on white frames, so a mask filled with 0 shows every pixel it covers."""
    clip = SyntheticPoseVideos(seed=0, **SMALL)[index]
    clip = {**clip, "frames": torch.ones_like(clip["frames"]), **changes}
    return clip


def changed(before, after):
    return (before["frames"] != after["frames"]).any(1)  # (T, H, W)


def test_spatial_masks_the_same_joints_on_frames_2_to_T_and_leaves_frame_1_clean():
    clip = white_clip()
    out = OcclusionMasks(size=8, joints=3, mode="spatial", seed=1)(clip)
    check_clip(out)
    diff = changed(clip, out)
    assert not diff[0].any()
    hidden = (clip["visibility"] - out["visibility"]) > 0
    assert not hidden[0].any()
    assert (hidden[1:].sum(-1) <= 3).all() and hidden[1:].any()
    # The same joints on every masked frame (those annotated there; synthetic clips annotate all).
    assert (hidden[1:] == hidden[1]).all() and hidden[1].sum() == 3
    # Every changed pixel is within the 8 x 8 square of one hidden joint, and every hidden joint's
    # centre pixel is changed.
    ys, xs = torch.meshgrid(torch.arange(96), torch.arange(96), indexing="ij")
    for t in range(1, 4):
        near = torch.zeros(96, 96, dtype=torch.bool)
        for j in torch.nonzero(hidden[t]).flatten().tolist():
            x, y = clip["joints"][t, j].tolist()
            near |= ((xs - x).abs() <= 4) & ((ys - y).abs() <= 4)
            if 0 <= round(x) < 96 and 0 <= round(y) < 96:
                assert diff[t, round(y), round(x)]
        assert not (diff[t] & ~near).any()
    # Labels and targets stay: the model must still find the joint.
    for key in ("joints", "annotated", "heatmaps", "target_weight", "joints_image"):
        assert torch.equal(out[key], clip[key]), key


def test_temporal_masks_k_joints_on_one_frame():
    for index in range(4):
        clip = white_clip(index)
        out = OcclusionMasks(size=8, joints=2, mode="temporal", seed=index)(clip)
        hidden = (clip["visibility"] - out["visibility"]) > 0
        frames_hit = changed(clip, out).flatten(1).any(1)
        assert frames_hit.sum() == 1 and hidden.sum() == 2
        assert torch.equal(hidden.any(1), frames_hit)


def test_size_is_in_original_image_pixels():
    # An affine that halves the image: a 40-pixel mask covers 20 x 20 crop pixels.
    clip = white_clip(affine=torch.tensor([[0.5, 0.0, 3.0], [0.0, 0.5, -2.0]], dtype=torch.float64))
    clip["joints"][:] = torch.tensor([40.0, 50.0])
    out = OcclusionMasks(size=40, joints=1, mode="spatial", seed=0)(clip)
    diff = changed(clip, out)[1]
    ys, xs = torch.nonzero(diff, as_tuple=True)
    assert diff.sum() == 400
    assert (xs.max() - xs.min() + 1, ys.max() - ys.min() + 1) == (20, 20)
    # Centred on the joint (40, 50): an even side covers pixel centres 30..49 and 40..59.
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (30, 49, 40, 59)


def test_only_annotated_joints_are_masked():
    clip = white_clip()
    annotated = torch.zeros_like(clip["annotated"])
    annotated[:, [2, 7]] = 1
    clip = {**clip, "annotated": annotated, "visibility": annotated.clone()}
    hidden = OcclusionMasks(size=8, joints=5, mode="spatial")(clip)["visibility"] < clip["visibility"]
    assert set(torch.nonzero(hidden.any(0)).flatten().tolist()) == {2, 7}


def test_masks_depend_on_the_seed_and_the_clip_not_on_call_order():
    masks = OcclusionMasks(size=8, joints=2, mode="temporal", seed=5)
    clips = [white_clip(i) for i in range(4)]
    forward = [masks.masked(c) for c in clips]
    backward = [masks.masked(c) for c in reversed(clips)][::-1]
    assert all(torch.equal(a, b) for a, b in zip(forward, backward))
    others = [OcclusionMasks(size=8, joints=2, mode="temporal", seed=6).masked(c) for c in clips]
    assert not all(torch.equal(a, b) for a, b in zip(forward, others))


def test_apply_wraps_a_dataset():
    ds = SyntheticPoseVideos(seed=0, **SMALL)
    wrapped = OcclusionMasks(joints=1, mode="spatial").apply(ds)
    assert len(wrapped) == len(ds) and wrapped.skeleton is ds.skeleton
    assert (wrapped[0]["visibility"].sum() < ds[0]["visibility"].sum()).item()


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"size": 0}, ValueError, "size: expected a positive number"),
        ({"size": float("nan")}, ValueError, "size: expected a positive number"),
        ({"joints": 0}, ValueError, "joints: expected a positive integer"),
        ({"mode": "both"}, ValueError, "mode: expected one of"),
        ({"seed": 1.5}, TypeError, "seed: expected an int"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        OcclusionMasks(**kwargs)


def test_a_joint_without_a_position_is_left_alone():
    clip = white_clip()
    clip["joints"][:, :] = float("nan")
    out = OcclusionMasks(size=8, joints=2, mode="spatial")(clip)  # before: math.ceil(nan) raised
    assert torch.equal(out["frames"], clip["frames"])
