"""Slow, obvious loop versions of the metrics, written from the protocols' text, not from posemods."""

import math


def pck_loop(pred, target, mask, normalizer, groups, alpha=0.2):
    """PCK from the KIMNet paper's eq. (PCK_k and mPCK): per joint, correct / counted over frames.

    pred, target: nested lists [frame][joint] = (x, y); mask [frame][joint]; normalizer [frame].
    """
    num_joints = len(pred[0])
    correct, counted = [0] * num_joints, [0] * num_joints
    for f in range(len(pred)):
        norm = normalizer[f]
        if math.isnan(norm):  # no normaliser at all: the frame is not scored
            continue
        for j in range(num_joints):
            if not mask[f][j]:
                continue
            counted[j] += 1
            d = math.dist(pred[f][j], target[f][j])
            if d <= alpha * norm:  # LSTMPM's `error_dist <= bodysize*0.2`: L <= 0 counts, as misses
                correct[j] += 1
    out = {}
    for name, idx in groups.items():
        n = sum(counted[j] for j in idx)
        out[name] = 100.0 * sum(correct[j] for j in idx) / n if n else float("nan")
    n = sum(counted)
    out["Mean"] = 100.0 * sum(correct) / n if n else float("nan")
    return out


def ap_loop(detections, num_positives):
    """VOC AP: detections [(score, is_true)], precision made monotone from the right, area over recall."""
    ranked = sorted(detections, key=lambda d: -d[0])
    tp = 0
    points = []  # (recall, precision) after each detection
    for k, (_, ok) in enumerate(ranked, start=1):
        tp += ok
        points.append((tp / num_positives, tp / k))
    area, previous_recall = 0.0, 0.0
    for k, (recall, _) in enumerate(points):
        best_precision_from_here = max(p for _, p in points[k:])
        area += (recall - previous_recall) * best_precision_from_here
        previous_recall = recall
    return area
