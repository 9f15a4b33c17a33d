"""The RPSTN authors' Penn Action PCK, as slow loops, written from reading github:YHDang/RPSTN f7dcd3e.

``lib/utils/evaluate.py``: ``get_max_preds``, ``calc_dists``, ``dist_acc`` and the Penn Action,
``normTorso=True`` path of ``accuracy``; ``pose_estimation/1_test_penn.py``: the per-clip running
average over joints with ``visible[k] == 1`` and ``mPCK = PCK.sum() / numClasses``. One frame and
one joint at a time, never vectorised, and never from posemods.

The threshold ``thr * torso`` is taken in float64, as the authors' NumPy 1 computed
``0.2 * np.float32``; NumPy 2 would round it to float32 (see posemods.metrics.rpstn).
"""

import math

import numpy as np


def argmax_loop(heatmaps):
    """(T, J, h, w) -> list of T lists of J (x, y) float32 pairs; (0, 0) where the max is not > 0."""
    frames, joints, height, width = heatmaps.shape
    out = []
    for t in range(frames):
        row = []
        for j in range(joints):
            best, where = None, 0
            for i in range(height * width):
                v = heatmaps[t, j, i // width, i % width]
                if best is None or v > best or (math.isnan(v) and not math.isnan(best)):
                    best, where = v, i
                    if math.isnan(v):
                        break  # np.argmax stops at the first NaN
            x, y = np.float32(where % width), np.float32(where // width)
            if not best > 0.0:
                x, y = np.float32(0.0), np.float32(0.0)
            row.append((x, y))
        out.append(row)
    return out


def clip_pck_loop(pred_heatmaps, target_heatmaps, torso=(2, 7), thr=0.2):
    """One clip: (pck list of J floats, visible list of J 0/1) as ``accuracy`` returns PCK and visible."""
    frames, joints, height, width = pred_heatmaps.shape
    pred, target = argmax_loop(pred_heatmaps), argmax_loop(target_heatmaps)
    nx, ny = height / 10.0, width / 10.0  # `norm = ones((T, 2)) * [h, w] / 10`, divided into (x, y)
    a, b = torso
    torso_len = np.float32(
        math.hypot(float(target[0][a][0] - target[0][b][0]), float(target[0][a][1] - target[0][b][1]))
    )
    if torso_len < 1:
        torso_len = np.float32(math.hypot(float(pred[0][a][0] - pred[0][b][0]), float(pred[0][a][1] - pred[0][b][1])))
    threshold = thr * float(torso_len)
    pck, visible = [], []
    for j in range(joints):
        hits, counted = 0, 0
        for t in range(frames):
            tx, ty = target[t][j]
            if tx > 1 and ty > 1:
                px, py = pred[t][j]
                dx = float(px) / nx - float(tx) / nx + 1
                dy = float(py) / ny - float(ty) / ny + 1
                counted += 1
                hits += math.sqrt(dx * dx + dy * dy) < threshold
        pck.append(hits / counted if counted else 0.0)
        visible.append(1 if counted else 0)
    return pck, visible


def protocol_loop(clips, torso=(2, 7), thr=0.2):
    """``clips``: a list of (pred (T, J, h, w), target (T, J, h, w)). Returns (per-joint PCK, mPCK) as
    fractions, with the running average of ``1_test_penn.py``."""
    joints = clips[0][0].shape[1]
    pck_avg, count = [0.0] * joints, [0] * joints
    for pred, target in clips:
        pck, visible = clip_pck_loop(pred, target, torso, thr)
        for k in range(joints):
            if visible[k] == 1:
                pck_avg[k] = (pck_avg[k] * count[k] + pck[k]) / (count[k] + 1)
                count[k] += 1
    return pck_avg, sum(pck_avg) / joints
