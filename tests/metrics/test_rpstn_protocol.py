"""The RPSTN authors' PCK (posemods.metrics.rpstn) against a literal oracle of their evaluate.py.

The oracle, tests/oracles/rpstn_evaluate.py, was written from reading github:YHDang/RPSTN f7dcd3e
(lib/utils/evaluate.py and pose_estimation/1_test_penn.py), not from posemods. It was checked once
against the authors' own ``evaluate.accuracy`` (imported from their file, with
``1_test_penn.py``'s per-clip running average around it), on the same arrays: 60 clips of
T = 5, J = 13, 64 x 64 float32 heatmaps made as :func:`clips` makes them (Gaussian targets at
integer centres, predictions off by 0.5 to 4 heatmap pixels, some joints without a target, a
never-positive prediction, a torso under 1 px, a joint never counted). Their mPCK 0.948468660968661;
the oracle's and posemods' 0.948468660968661, every per-joint value equal (max difference 0.0).
"""

import math

import numpy as np
import pytest
import torch
from oracles.rpstn_evaluate import clip_pck_loop, protocol_loop

from posemods.metrics import RPSTNPCK, heatmap_argmax, rpstn_clip_pck


def gaussian(h, w, cx, cy, sigma=2.0):
    gy, gx = np.mgrid[0:h, 0:w]
    m = np.exp(-((gx - cx) ** 2 + (gy - cy) ** 2) / 2.0 / sigma / sigma)
    m[m < 0.0099] = 0
    return m


def clips(n, frames=3, joints=13, size=16, seed=0):
    """Clips of (pred, target) float32 heatmaps (T, J, size, size), with the awkward cases."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        pose = rng.uniform(1, size - 1, size=(joints, 2))
        err = rng.uniform(0.5, 4.0) * size / 64
        pred = np.zeros((frames, joints, size, size), np.float32)
        target = np.zeros_like(pred)
        for t in range(frames):
            p = np.clip(pose + rng.normal(0, 0.5, size=(joints, 2)), -2, size + 2)
            for j in range(joints):
                if rng.random() < 0.05:
                    continue  # no target for this joint in this frame
                target[t, j] = gaussian(size, size, int(p[j, 0]), int(p[j, 1]))
                q = p[j] + rng.normal(0, err, size=2)
                pred[t, j] = gaussian(size, size, q[0], q[1]) + rng.normal(0, 0.01, size=(size, size))
        if i % 4 == 1:
            pred[:, 4] = -1.0  # never above 0: predicted at (0, 0)
        if i % 4 == 2:
            target[0, 7] = target[0, 2]  # torso under 1 px: the predicted torso
        if i % 4 == 3:
            target[:, 9] = 0  # never counted in this clip
            pred[1, 3, 2, 5] = float("nan")  # NaN: np.argmax's first NaN, then (0, 0)
        out.append((pred, target))
    return out


def test_clip_pck_matches_the_oracle_clip_by_clip():
    for pred, target in clips(8):
        pck, counted = rpstn_clip_pck(pred, target, torso=(2, 7))
        expected, visible = clip_pck_loop(pred, target)
        np.testing.assert_allclose(pck, expected, rtol=0, atol=1e-15)
        assert counted.tolist() == [bool(v) for v in visible]


def test_protocol_matches_the_oracle():
    data = clips(12, seed=1)
    metric = RPSTNPCK("penn_action")
    metric.update(np.stack([p for p, _ in data[:5]]), np.stack([t for _, t in data[:5]]))
    metric.update(torch.from_numpy(np.stack([p for p, _ in data[5:]])), np.stack([t for _, t in data[5:]]))
    per_joint, mean = protocol_loop(data)
    np.testing.assert_allclose(metric.per_joint().numpy(), per_joint, rtol=0, atol=1e-12)
    values = metric.compute()
    assert values["Mean"] == pytest.approx(100 * mean, abs=1e-10)
    assert values["Sho."] == pytest.approx(100 * (per_joint[1] + per_joint[2]) / 2, abs=1e-10)


def test_the_quirks_one_by_one():
    size, frames, joints = 64, 2, 13
    target = np.zeros((frames, joints, size, size), np.float32)
    centres = {j: (10 + 3 * j, 8 + 3 * j) for j in range(joints)}
    centres[2], centres[7] = (20, 10), (20, 40)  # torso 30 heatmap pixels: threshold 0.2 * 30 = 6
    centres[5] = (1, 30)  # x == 1 is not above 1: never counted
    for t in range(frames):
        for j, (x, y) in centres.items():
            target[t, j] = gaussian(size, size, x, y)
    pred = target.copy()
    # A perfect prediction has distance sqrt(2) (the +1), a hit under 6.
    pck, counted = rpstn_clip_pck(pred, target, torso=(2, 7))
    assert counted.tolist() == [j != 5 for j in range(joints)] and pck[counted].min() == 1.0
    # Joint 0 off by 29 pixels in x in frame 1: |(29 / 6.4 + 1, 1)| = 5.62 < 6, still a hit.
    pred[1, 0] = gaussian(size, size, centres[0][0] + 29, centres[0][1])
    assert math.hypot(29 / 6.4 + 1, 1) < 6 and rpstn_clip_pck(pred, target, torso=(2, 7))[0][0] == 1.0
    # +35 pixels: |(35 / 6.4 + 1, 1)| = 6.55 > 6, a miss (-35 would be |(-4.47, 1)| = 4.58, a hit).
    pred[1, 0] = gaussian(size, size, centres[0][0] + 35, centres[0][1])
    assert rpstn_clip_pck(pred, target, torso=(2, 7))[0][0] == 0.5
    # Only the first frame's torso counts: a second frame with a tiny torso changes nothing.
    target[1, 7] = gaussian(size, size, 21, 11)
    assert rpstn_clip_pck(pred, target, torso=(2, 7))[0][0] == 0.5


def test_argmax_is_get_max_preds():
    maps = np.full((1, 3, 4, 5), -1.0, np.float32)
    maps[0, 0, 2, 3] = 2.0
    maps[0, 1, 1, 1] = maps[0, 1, 3, 4] = 1.0  # ties: the first
    coords = heatmap_argmax(maps)  # joint 2 never rises above 0: (0, 0)
    assert coords.tolist() == [[[3.0, 2.0], [1.0, 1.0], [0.0, 0.0]]] and coords.dtype == np.float32


def test_bad_input():
    good = np.zeros((2, 13, 8, 8), np.float32)
    with pytest.raises(ValueError, match=r"target_heatmaps: expected the shape of pred_heatmaps"):
        rpstn_clip_pck(good, good[:1], torso=(2, 7))
    with pytest.raises(ValueError, match=r"pred_heatmaps: expected one clip's heatmaps \(T, J, h, w\)"):
        rpstn_clip_pck(good[0], good[0], torso=(2, 7))
    with pytest.raises(TypeError, match="pred_heatmaps: expected floating-point heatmaps"):
        rpstn_clip_pck(good.astype(np.int64), good, torso=(2, 7))
    with pytest.raises(ValueError, match=r"torso: expected two joint indices below J=13"):
        rpstn_clip_pck(good, good, torso=(2, 13))
    with pytest.raises(ValueError, match=r"alpha: expected a positive finite number"):
        rpstn_clip_pck(good, good, torso=(2, 7), alpha=-1)
    with pytest.raises(ValueError, match=r"pred_heatmaps: expected clips \(B, T, J=13, h, w\)"):
        RPSTNPCK("penn_action").update(good, good)
