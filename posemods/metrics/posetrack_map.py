"""PoseTrack multi-person mAP, computed as the official poseval evaluation (evaluateAP) does.

Per labelled frame:

1. Frames without ground-truth people are skipped with their predictions. Predicted and
   ground-truth joints inside an ignore region are dropped, then people left without joints.
2. Head size = 0.6 x the diagonal of the ground-truth head box; a predicted joint matches a
   ground-truth joint of the same type when ``dist / head size <= 0.5`` (PCKh@0.5).
3. PCKh(p, g) = matched joints / annotated joints of g. Each prediction keeps only its best ground
   truth (first on ties); each ground truth then takes, among the predictions that kept it, the one
   with the highest PCKh (none if that is 0). That one-to-one assignment labels every predicted
   joint of a matched prediction as true if it matched its ground-truth joint, every joint of an
   unmatched prediction as false.

Per joint over all frames: predictions ranked by score give precision and recall (over all
annotated ground-truth joints); AP is the area under the VOC monotone precision envelope, as a
percentage. AP is NaN for a joint with predictions but no ground truth (excluded from the mean, as
poseval's division by zero does) and 0 for a joint with no predictions. The Head column is the mean
of head_top, head_bottom and nose; Sho. ... Ank. average left and right; Mean averages every scored
per-joint AP. Ties between equal scores are ranked stably (first given, first ranked), where poseval's
unstable sort may order them differently.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from posemods.skeletons import GROUP_NAMES, POSETRACK_17, Skeleton, get_skeleton


def points_in_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """(N,) bool: which points (N, 2) lie inside the polygon (K, 2), by the even-odd rule."""
    x, y = points[:, 0:1], points[:, 1:2]
    x0, y0 = polygon[:, 0][None], polygon[:, 1][None]
    x1, y1 = np.roll(polygon[:, 0], -1)[None], np.roll(polygon[:, 1], -1)[None]
    crosses = (y0 > y) != (y1 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_at = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
    return ((crosses & (x < x_at)).sum(1) % 2) == 1


def precision_recall(scores: np.ndarray, labels: np.ndarray, num_positives: int) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall after each prediction, ranked by decreasing score."""
    order = np.argsort(-scores, kind="stable")
    true_pos = np.cumsum(labels[order].astype(np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = true_pos / num_positives
    precision = true_pos / np.arange(1, len(scores) + 1)
    return precision, recall


def voc_ap(recall: np.ndarray, precision: np.ndarray) -> float:
    """Area under the monotone (non-increasing) envelope of precision over recall, from recall 0 to 1."""
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([0.0], precision, [0.0]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    steps = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
    return float(np.sum((mrec[steps] - mrec[steps - 1]) * mpre[steps]))


def _drop_ignored(keypoints, present, regions):
    present = present.copy()
    for polygon in regions:
        for p in range(len(keypoints)):
            present[p] &= ~points_in_polygon(keypoints[p], polygon)
    return present


def posetrack_map(
    gt_frames: Sequence[dict],
    pred_frames: Sequence[dict],
    layout: str | Skeleton = POSETRACK_17,
    threshold: float = 0.5,
) -> dict[str, float]:
    """PoseTrack mAP over frames.

    Args:
        gt_frames: per frame ``{"keypoints": (P, J, 2), "annotated": (P, J) bool, "head_box": (P, 4)
            (x1, y1, x2, y2)}`` and optionally ``"ignore_regions"``: a list of (K, 2) polygons
            (:func:`posemods.data.read_posetrack_frames` reads these).
        pred_frames: per frame ``{"keypoints": (Q, J, 2), "scores": (Q, J)}``; a NaN score means the
            joint was not predicted.
        layout: the joint layout (only ``Skeleton.scored_joints`` are scored).
        threshold: the PCKh threshold (0.5).

    Returns:
        ``{joint name: AP, ..., "Head": ..., "Sho.": ..., ..., "Ank.": ..., "Mean": ...}`` in percent.
    """
    skeleton = get_skeleton(layout)
    if len(gt_frames) != len(pred_frames):
        raise ValueError(f"pred_frames: expected {len(gt_frames)} frames like gt_frames, got {len(pred_frames)}")
    joints = list(skeleton.scored_index)
    nj = len(joints)
    scores_all: list[list[np.ndarray]] = [[] for _ in range(nj)]
    labels_all: list[list[np.ndarray]] = [[] for _ in range(nj)]
    num_gt = np.zeros(nj)
    for f, (gt, pr) in enumerate(zip(gt_frames, pred_frames)):
        gt_kp = np.asarray(gt["keypoints"], dtype=np.float64).reshape(-1, skeleton.num_joints, 2)[:, joints]
        if len(gt_kp) == 0:
            continue  # poseval drops frames without ground-truth people, and their predictions
        has_gt = np.asarray(gt["annotated"], dtype=bool).reshape(len(gt_kp), skeleton.num_joints)[:, joints]
        head = np.asarray(gt["head_box"], dtype=np.float64).reshape(-1, 4)
        pr_kp = np.asarray(pr["keypoints"], dtype=np.float64).reshape(-1, skeleton.num_joints, 2)[:, joints]
        score = np.asarray(pr["scores"], dtype=np.float64).reshape(len(pr_kp), skeleton.num_joints)[:, joints]
        if len(head) != len(gt_kp):
            raise ValueError(f"gt_frames[{f}]: {len(gt_kp)} people but {len(head)} head boxes")
        has_pr = np.isfinite(score)
        regions = [np.asarray(r, dtype=np.float64) for r in gt.get("ignore_regions", [])]
        if regions:
            has_gt = _drop_ignored(gt_kp, has_gt, regions)
            has_pr = _drop_ignored(pr_kp, has_pr, regions)
        keep_gt, keep_pr = has_gt.any(1), has_pr.any(1)
        gt_kp, has_gt, head = gt_kp[keep_gt], has_gt[keep_gt], head[keep_gt]
        pr_kp, has_pr, score = pr_kp[keep_pr], has_pr[keep_pr], score[keep_pr]
        num_gt += has_gt.sum(0)
        assigned = np.full(len(pr_kp), -1)
        match = np.zeros((len(pr_kp), len(gt_kp), nj), dtype=bool)
        if len(pr_kp) and len(gt_kp):
            head_size = 0.6 * np.linalg.norm(head[:, 2:] - head[:, :2], axis=1)
            dist = np.linalg.norm(pr_kp[:, None] - gt_kp[None], axis=-1) / head_size[None, :, None]
            match = (dist <= threshold) & has_pr[:, None] & has_gt[None]
            pckh = match.sum(2) / np.maximum(has_gt.sum(1), 1)[None]
            best_gt = pckh.argmax(1)
            pckh = np.where(np.arange(len(gt_kp))[None] == best_gt[:, None], pckh, 0.0)
            winner = pckh.argmax(0)
            for g in range(len(gt_kp)):
                if pckh[winner[g], g] > 0:
                    assigned[winner[g]] = g
        for p in range(len(pr_kp)):
            label = match[p, assigned[p]] if assigned[p] >= 0 else np.zeros(nj, dtype=bool)
            for j in np.flatnonzero(has_pr[p]):
                scores_all[j].append(score[p, j : j + 1])
                labels_all[j].append(label[j : j + 1])
    ap = np.zeros(nj)
    for j in range(nj):
        if not scores_all[j]:
            continue  # no predictions: poseval leaves AP at 0
        precision, recall = precision_recall(np.concatenate(scores_all[j]), np.concatenate(labels_all[j]), num_gt[j])
        ap[j] = 100.0 * voc_ap(recall, precision) if num_gt[j] > 0 else float("nan")
    names = [skeleton.joint_names[j] for j in joints]
    out = dict(zip(names, ap.tolist()))
    for group, idx in skeleton.groups.items():
        out[group] = float(np.mean([out[skeleton.joint_names[j]] for j in idx]))
    valid = ap[~np.isnan(ap)]
    out["Mean"] = float(valid.mean()) if len(valid) else float("nan")
    return out


__all__ = ["GROUP_NAMES", "points_in_polygon", "posetrack_map", "precision_recall", "voc_ap"]
