"""HiddenFrames in SyntheticPoseVideos: the hidden parts are gone from exactly the frames drawn, and
nothing else of the clip changes."""

import numpy as np
import pytest
import torch

from posemods.data import HiddenFrames, SyntheticPoseVideos

SIZE = dict(clip_length=6, frame_size=(64, 64), heatmap_size=(16, 16))


def plain(**kwargs):
    return SyntheticPoseVideos(12, **SIZE, **kwargs)


def test_a_clip_without_a_gap_is_the_clip_of_a_dataset_without_hiding():
    base, never = plain(), plain(hidden=HiddenFrames(probability=0.0))
    for i in range(4):
        a, b = base[i], never[i]
        assert not never.hidden_joints(i).any()
        for key in a:
            assert torch.equal(a[key], b[key]), key


@pytest.mark.parametrize("parts", ["person", "limb", "either"])
def test_gaps_have_the_drawn_lengths_and_never_cover_frame_one(parts):
    ds = plain(hidden=HiddenFrames((1, 2, 3), parts))
    lengths = set()
    for i in range(len(ds)):
        frames = ds.hidden_joints(i).any(-1)
        assert not frames[0]
        idx = torch.nonzero(frames).flatten()
        assert len(idx) >= 1 and torch.equal(idx, torch.arange(int(idx[0]), int(idx[-1]) + 1))  # one run
        lengths.add(len(idx))
    assert lengths <= {1, 2, 3} and len(lengths) > 1


def test_a_hidden_person_leaves_only_the_background_and_keeps_its_targets():
    # No distractors, occluders or blur: the background is the same in every frame, so the frames of
    # one gap are identical to each other, and the frames outside it are those of the plain clip.
    base, hid = plain(), plain(hidden=HiddenFrames((2, 3), "person"))
    for i in range(3):
        a, b, mask = base[i], hid[i], hid.hidden_joints(i)
        gap = torch.nonzero(mask.any(-1)).flatten()
        assert mask[gap].all()  # every joint of a hidden frame
        assert torch.equal(b["frames"][gap[0]], b["frames"][gap[1]])
        assert not torch.equal(a["frames"][gap[0]], a["frames"][gap[1]])  # the person moved
        shown = ~mask.any(-1)
        assert torch.equal(a["frames"][shown], b["frames"][shown])
        assert (b["visibility"][gap] == 0).all() and torch.equal(b["visibility"][shown], a["visibility"][shown])
        for key in ("heatmaps", "target_weight", "annotated", "joints_image"):
            assert torch.equal(a[key], b[key]), key


def test_a_hidden_limb_changes_only_the_pixels_around_that_limb():
    base, hid = plain(), plain(hidden=HiddenFrames((1,), "limb"))
    names = hid.skeleton.joint_names
    for i in range(6):
        a, b, mask = base[i], hid[i], hid.hidden_joints(i)
        t = int(torch.nonzero(mask.any(-1))[0])
        lost = [names[j] for j in torch.nonzero(mask[t]).flatten()]
        assert len(lost) == 2 and lost[0].split("_")[0] == lost[1].split("_")[0]  # one side
        assert {n.split("_")[1] for n in lost} in ({"elbow", "wrist"}, {"knee", "ankle"})
        changed = (a["frames"][t] != b["frames"][t]).any(0)
        assert changed.any()
        # Every changed pixel lies within the limb's reach: a few pixels of its root-to-end segments.
        root = {"elbow": "shoulder", "knee": "hip"}
        mid = next(n for n in lost if n.split("_")[1] in root)
        end = next(n for n in lost if n != mid)
        side, kind = mid.split("_")
        chain = [a["joints"][t, hid.skeleton.index(n)].numpy() for n in (f"{side}_{root[kind]}", mid, end)]
        ys, xs = np.nonzero(changed.numpy())
        pts = np.stack([xs, ys], 1).astype(float)

        dist = np.minimum(_segment_distance(pts, chain[0], chain[1]), _segment_distance(pts, chain[1], chain[2]))
        assert dist.max() < 6.0
        assert (b["visibility"][t][mask[t]] == 0).all()
        other = ~mask[t]
        assert torch.equal(b["visibility"][t][other], a["visibility"][t][other])


def _segment_distance(pts: np.ndarray, p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Distance of each point (N, 2) to the segment p-q."""
    d = q - p
    u = np.clip(((pts - p) @ d) / max(d @ d, 1e-9), 0, 1)
    return np.linalg.norm(pts - (p + u[:, None] * d), axis=1)


def test_the_same_index_hides_the_same_frames_every_time():
    ds = plain(hidden=HiddenFrames((1, 2, 3), "either"))
    assert torch.equal(ds[5]["frames"], ds[5]["frames"])
    assert torch.equal(ds.hidden_joints(5), plain(hidden=HiddenFrames((1, 2, 3), "either")).hidden_joints(5))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"gaps": ()}, "gaps"),
        ({"gaps": (0,)}, "gaps"),
        ({"gaps": (1.5,)}, "gaps"),
        ({"parts": "arm"}, "parts"),
        ({"probability": 1.5}, "probability"),
    ],
)
def test_bad_hiding_settings_name_the_argument(kwargs, match):
    with pytest.raises(ValueError, match=match):
        HiddenFrames(**kwargs)


def test_bad_dataset_settings_name_the_argument():
    with pytest.raises(TypeError, match="hidden"):
        plain(hidden=(1, 2))
    with pytest.raises(ValueError, match="person_height"):
        plain(person_height=(0.8, 0.5))
    with pytest.raises(ValueError, match="center_jitter"):
        plain(center_jitter=0.7)
    with pytest.raises(IndexError):
        plain().hidden_joints(12)


def test_first_frame_places_every_gap_there_and_changes_nothing_else():
    # A gap of one frame at frame 2 (0-based), the key frame of a 5-frame clip, in every clip; the
    # clip outside that frame, and what the gap hides, are those of the same dataset without it.
    drawn, fixed = plain(hidden=HiddenFrames((1,), "limb")), plain(hidden=HiddenFrames((1,), "limb", first_frame=2))
    base = plain()
    for i in range(6):
        mask = fixed.hidden_joints(i)
        assert torch.equal(torch.nonzero(mask.any(-1)).flatten(), torch.tensor([2]))
        # The same limb as the random placement hides (the stream draws the same numbers).
        assert torch.equal(mask[2], drawn.hidden_joints(i).any(0))
        a, b = base[i], fixed[i]
        others = [0, 1, 3, 4, 5]
        assert torch.equal(a["frames"][others], b["frames"][others])
        assert not torch.equal(a["frames"][2], b["frames"][2])


def test_first_frame_must_be_a_later_frame_of_the_clip():
    with pytest.raises(ValueError, match="first_frame"):
        HiddenFrames(first_frame=0)
    with pytest.raises(ValueError, match="first_frame"):
        HiddenFrames(first_frame=True)
    with pytest.raises(ValueError, match="first_frame"):
        plain(hidden=HiddenFrames(first_frame=6))[0]
