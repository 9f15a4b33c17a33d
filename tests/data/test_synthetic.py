"""SyntheticPoseVideos: determinism, the clip contract, occluders, blur and layouts."""

import pytest
import torch

from posemods.data import SyntheticPoseVideos, check_clip
from posemods.metrics import decode_heatmaps

SMALL = dict(num_clips=6, clip_length=3, frame_size=(64, 64), heatmap_size=(16, 16), sigma=1.0, occluder_size=12)


def test_sizes_are_height_then_width():
    """frame_size and heatmap_size are (H, W), torch's order: a 48 x 64 (H x W) clip, 12 x 16 targets."""
    ds = SyntheticPoseVideos(**{**SMALL, "frame_size": (48, 64), "heatmap_size": (12, 16)})
    clip = ds[0]
    assert ds.input_size == (48, 64)
    assert check_clip(clip) == {"T": 3, "J": 13, "H": 48, "W": 64, "h": 12, "w": 16}
    coords, _ = decode_heatmaps(clip["heatmaps"])
    inside = clip["target_weight"] > 0
    # Stride 4 on both axes: heatmap (x, y) is ((x + 0.5) / 4 - 0.5, (y + 0.5) / 4 - 0.5).
    expected = (clip["joints"] + 0.5) / 4 - 0.5
    assert (coords - expected.float()).abs()[inside].max() <= 0.3
    with pytest.raises(ValueError, match=r"frame_size: expected \(H, W\)"):
        SyntheticPoseVideos(**{**SMALL, "frame_size": (64, 0)})


def test_deterministic_per_seed_and_index():
    a, b = SyntheticPoseVideos(seed=4, **SMALL), SyntheticPoseVideos(seed=4, **SMALL)
    for key, value in a[2].items():
        assert torch.equal(value, b[2][key]), key
    assert not torch.equal(a[1]["frames"], a[2]["frames"])
    assert not torch.equal(a[1]["joints"], SyntheticPoseVideos(seed=5, **SMALL)[1]["joints"])


def test_clip_contract_and_targets_sit_on_the_joints():
    ds = SyntheticPoseVideos(seed=0, **SMALL)
    clip = ds[0]
    sizes = check_clip(clip)
    assert sizes == {"T": 3, "J": 13, "H": 64, "W": 64, "h": 16, "w": 16}
    assert clip["frames"].min() >= 0 and clip["frames"].max() <= 1
    assert torch.equal(clip["affine"], torch.tensor([[1.0, 0, 0], [0, 1.0, 0]], dtype=torch.float64))
    # The identity crop: the same positions, float64 in the evaluation geometry, float32 for the network.
    assert clip["joints_image"].dtype == torch.float64 and torch.equal(clip["joints_image"].float(), clip["joints"])
    coords, _ = decode_heatmaps(clip["heatmaps"])
    inside = clip["target_weight"] > 0
    assert inside.any()
    # Heatmap pixel -> crop pixel at stride 4; decoding is within a quarter heatmap pixel plus the border.
    err = ((coords + 0.5) * 4 - 0.5 - clip["joints"]).abs().amax(-1)
    assert err[inside].max() <= 1.0 + 1e-4
    b = clip["bbox"]
    assert (b[:, 2] > b[:, 0]).all() and (b[:, 3] > b[:, 1]).all()
    assert torch.equal(clip["person_size"], torch.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]))


def test_default_loader_batches_clips():
    loader = torch.utils.data.DataLoader(SyntheticPoseVideos(seed=0, **SMALL), batch_size=2)
    batch = next(iter(loader))
    assert check_clip(batch, batched=True)["B"] == 2


def test_without_occluders_every_joint_in_frame_is_visible():
    ds = SyntheticPoseVideos(seed=1, **SMALL)
    for i in range(len(ds)):
        clip = ds[i]
        j = clip["joints"]
        in_frame = (j >= -0.5).all(-1) & (j <= 63.5).all(-1)
        assert torch.equal(clip["visibility"] > 0, in_frame)
        assert clip["annotated"].all()


def test_occluders_hide_joints_and_cover_them_with_the_box():
    plain = SyntheticPoseVideos(seed=2, **{**SMALL, "num_clips": 12})
    occluded = SyntheticPoseVideos(seed=2, occluders=2, **{**SMALL, "num_clips": 12})
    hidden = 0
    for i in range(12):
        p, o = plain[i], occluded[i]
        assert torch.equal(p["joints"], o["joints"])  # occluders do not change the motion
        newly_hidden = (p["visibility"] > 0) & (o["visibility"] == 0)
        hidden += int(newly_hidden.sum())
        for t, j in newly_hidden.nonzero().tolist():
            x, y = (round(v) for v in o["joints"][t, j].tolist())
            # The frame differs from the unoccluded render under a hidden joint (the box is drawn there).
            assert not torch.equal(o["frames"][t, :, y, x], p["frames"][t, :, y, x])
        assert ((o["visibility"] > 0) <= (p["visibility"] > 0)).all()
    assert hidden > 0


def test_motion_blur_changes_frames_not_joints():
    sharp = SyntheticPoseVideos(seed=3, **SMALL)[0]
    blurred = SyntheticPoseVideos(seed=3, motion_blur=1.0, **SMALL)[0]
    assert torch.equal(sharp["joints"], blurred["joints"])
    assert not torch.equal(sharp["frames"], blurred["frames"])


def test_distractors_add_people_not_labels():
    alone = SyntheticPoseVideos(seed=6, **SMALL)
    crowd = SyntheticPoseVideos(seed=6, distractors=3, **SMALL)
    assert torch.equal(alone[0]["joints"], crowd[0]["joints"])
    assert any(not torch.equal(alone[i]["frames"], crowd[i]["frames"]) for i in range(len(alone)))


@pytest.mark.parametrize(("layout", "joints"), [("jhmdb", 15), ("coco", 17), ("posetrack", 17)])
def test_other_layouts(layout, joints):
    clip = SyntheticPoseVideos(layout=layout, seed=0, **SMALL)[0]
    assert check_clip(clip)["J"] == joints
    assert clip["torso_size"].isfinite().all() and (clip["torso_size"] > 0).all()


def test_motion_is_smooth_and_present():
    ds = SyntheticPoseVideos(seed=7, **{**SMALL, "clip_length": 8, "frame_size": (256, 256), "heatmap_size": (64, 64)})
    for i in range(3):
        steps = ds[i]["joints"].diff(dim=0).norm(dim=-1)  # (T-1, J) pixels per frame
        assert steps.mean() > 0.5  # people move
        assert steps.max() < 40  # no teleporting


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_clips": 0}, "num_clips"),
        ({"occluders": -1}, "occluders"),
        ({"motion_blur": -0.5}, "motion_blur"),
        ({"layout": "mpii"}, "layout"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SyntheticPoseVideos(**kwargs)


def test_index_out_of_range():
    with pytest.raises(IndexError):
        SyntheticPoseVideos(**SMALL)[6]


def test_data_and_metrics_import_without_scipy():
    # scipy is only needed to read .mat files: the synthetic data and the metrics work without it.
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['scipy'] = None\n"
        "import posemods.data, posemods.metrics\n"
        "posemods.data.SyntheticPoseVideos(num_clips=1, clip_length=1, frame_size=(32, 32), heatmap_size=(8, 8))[0]\n"
        "try:\n"
        "    posemods.data.read_penn_action('.')\n"
        "except ImportError:\n"
        "    pass\n"
        "else:\n"
        "    raise AssertionError('no ImportError')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr


def _person_pixels(dataset, index):
    """(T - 1, H, W) bool: where frames 1.. of a clip change when the whole person is not drawn there.

    An oracle independent of ``silhouette``: the same clip rendered with the person hidden in every
    frame but the first shows exactly what lies behind the person."""
    import copy

    from posemods.data import HiddenFrames

    gone = copy.copy(dataset)
    gone.hidden = HiddenFrames((dataset.clip_length - 1,), "person", first_frame=1)
    return (dataset[index]["frames"][1:] != gone[index]["frames"][1:]).any(1)


def test_silhouette_is_where_the_person_is_drawn():
    ds = SyntheticPoseVideos(**{**SMALL, "clip_length": 4, "distractors": 2})
    for i in range(3):
        before = ds[i]
        sil = ds.silhouette(i)
        assert sil.shape == (4, 64, 64) and sil.dtype == torch.float32
        assert sil.min() >= 0 and sil.max() <= 1 and (sil == 1).any()
        drawn = _person_pixels(ds, i)
        assert torch.equal(sil[1:] > 0, drawn)
        for key, value in ds[i].items():  # asking for the silhouette changes nothing of the clip
            assert torch.equal(value, before[key]), key


def test_silhouette_drops_hidden_parts_and_occluded_pixels():
    from posemods.data import HiddenFrames

    ds = SyntheticPoseVideos(**{**SMALL, "hidden": HiddenFrames((1,), "person", first_frame=1)})
    assert (ds.silhouette(0)[1] == 0).all() and (ds.silhouette(0)[0] > 0).any()
    covered = SyntheticPoseVideos(**{**SMALL, "occluders": 3, "occluder_size": 24})
    plain = SyntheticPoseVideos(**SMALL)
    lost = (plain.silhouette(1) > 0) & (covered.silhouette(1) == 0)
    assert lost.any()  # the boxes cut the person somewhere
    boxes = (covered[1]["frames"] != plain[1]["frames"]).any(1)
    assert not (lost & ~boxes).any()  # and only under a box
