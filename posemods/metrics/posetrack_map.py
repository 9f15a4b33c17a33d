"""PoseTrack multi-person mAP, as the official poseval evaluation (``evaluateAP``) computes it.

Semantics follow github:leonid-pishchulin/poseval at commit 4258a1575b9f2ddd0bdb85f74557235ab5df0f52
(``poseval/eval_helpers.py``: ``cleanupData``, ``removeIgnoredPoints``, ``assignGTmulti``,
``computeRPC``, ``VOCap``; ``poseval/convert.py`` for what counts as an annotated joint, which
:func:`posemods.data.read_posetrack_frames` applies). Per ground-truth frame:

1. A frame without ground-truth people is dropped with its predictions (``cleanupData``: "remove
   all GT frames with empty annorect"). A frame whose people have no annotated joint is kept: its
   predictions are all false positives ("No GT available. All predictions are false positives").
2. Predicted and ground-truth joints strictly inside an ignore region are dropped, then people left
   without joints (``removeIgnoredPointsRects``). Inside means shapely's ``poly.contains(pt)``: a
   point on an edge or a vertex is *outside*, so it stays.
3. Head size = ``0.6*np.linalg.norm(...)`` of the head box's diagonal; a predicted joint matches a
   ground-truth joint of the same type when ``dist / headSize <= 0.5``.
4. PCKh(p, g) = matched joints / annotated joints of g. Each prediction keeps only its best ground
   truth (``np.argmax``: the first on ties); each ground truth takes, among the predictions that
   kept it, the one with the highest PCKh (the first on ties; none if that is 0). A matched
   prediction's joints are true where they matched, an unmatched prediction's all false.

Per joint over all frames (in frame order, then prediction order), predictions ranked as
``computeRPC`` ranks them, ``np.array(scores).argsort()[::-1]`` (so equal scores come out in
numpy's order, not first-given first), give precision and recall over all annotated ground-truth
joints; AP is the area under the VOC monotone precision envelope, in percent. AP is NaN for a joint
with predictions but no ground truth (excluded from the mean, as poseval's 0/0 is) and 0 for a joint
without predictions. Head = mean of head_top, head_bottom and nose; Sho. ... Ank. average left and
right; Mean averages every non-NaN per-joint AP (poseval's ``total``).

A head box of zero size is poseval's division by zero: its person's joints are never matched (the
distances are inf, or nan for an exact prediction) but still count as ground truth. poseval does this
silently; posemods scores it the same way and warns (a ``UserWarning``, one per call) naming the
first such person's image, frame and index, and how many there are. Where poseval
crashes, posemods raises a ``ValueError`` that names the frame and person instead: a person with
annotated joints but no finite head box, in a frame with predictions (poseval reads ``rectGT["x1"]``
only there: ``KeyError: 'x1'``; elsewhere such a person's joints count as missed ground truth), and
an ignore region of 1 or 2 points in a frame with ground-truth people (shapely: "A LinearRing must
have at least 3 coordinate tuples"); an ignore region of 0 points is empty, as shapely's empty
polygon. Documented rule where poseval would also crash: a person without annotated joints needs no
head box (poseval computes one for every ground-truth person of a frame with predictions).

PoseTrack 2021 files are scored with poseval's semantics too. PoseTrack21's own evaluator
(github:anDoer/PoseTrack21 ``eval/posetrack21/posetrack21/trackeval/metrics/map.py``, commit 7dbddbf,
``PosemAP``) is not poseval: it counts a joint as annotated or predicted where ``(gt_kpts[:, :, 0] > 0)
& (gt_kpts[:,  :,  1] > 0)`` (so also a (x, y, 0) joint, but never one at x or y = 0) and takes
``recall[s_idx] = npos / max(total_pos, 1)`` (AP 0, not NaN, for a joint without ground truth). A
PoseTrack21 figure must say which of the two produced it.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from posemods.skeletons import GROUP_NAMES, POSETRACK_17, Skeleton, get_skeleton


def points_in_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """(N,) bool: which points (N, 2) lie strictly inside the polygon (K, 2), as shapely's
    ``Polygon.contains`` decides for a simple polygon: even-odd rule, boundary (edges and vertices)
    outside."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    polygon = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    if len(polygon) == 0:
        return np.zeros(len(points), dtype=bool)
    x, y = points[:, 0:1], points[:, 1:2]
    x0, y0 = polygon[:, 0][None], polygon[:, 1][None]
    x1, y1 = np.roll(polygon[:, 0], -1)[None], np.roll(polygon[:, 1], -1)[None]
    crosses = (y0 > y) != (y1 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_at = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
    inside = ((crosses & (x < x_at)).sum(1) % 2) == 1
    # On an edge: collinear with it and within its bounding box (vertices included).
    cross = (x1 - x0) * (y - y0) - (y1 - y0) * (x - x0)
    within = (
        (np.minimum(x0, x1) <= x) & (x <= np.maximum(x0, x1)) & (np.minimum(y0, y1) <= y) & (y <= np.maximum(y0, y1))
    )
    on_edge = ((cross == 0) & within).any(1)
    return inside & ~on_edge


def precision_recall(scores: np.ndarray, labels: np.ndarray, num_positives: int) -> tuple[np.ndarray, np.ndarray]:
    """Precision and recall after each prediction, ranked as poseval's ``computeRPC``:
    ``idxsSort = np.array(scores).argsort()[::-1]`` (equal scores in numpy's order)."""
    order = np.asarray(scores, dtype=np.float64).argsort()[::-1]
    true_pos = np.cumsum(np.asarray(labels)[order].astype(np.float64))
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = true_pos / num_positives
    precision = true_pos / np.arange(1, len(order) + 1)
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


def _array(where: str, value, shape: tuple, dtype=np.float64) -> np.ndarray:
    """``value`` as an array of ``shape`` (-1: any size), or a ValueError naming ``where``."""
    try:
        array = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError):
        raise TypeError(f"{where}: expected an array of numbers, got {type(value).__name__}") from None
    if len(shape) == 2 and array.size == 0:
        array = array.reshape(0, shape[1])
    if len(shape) == 3 and array.size == 0:
        array = array.reshape(0, *shape[1:])
    if array.ndim != len(shape) or any(s != -1 and a != s for a, s in zip(array.shape, shape)):
        expected = "(" + ", ".join("P" if s == -1 else str(s) for s in shape) + ")"
        raise ValueError(f"{where}: expected shape {expected}, got {array.shape}")
    return array


def _get(frames: str, f: int, frame, key: str):
    if not isinstance(frame, dict):
        raise TypeError(f"{frames}[{f}]: expected a dict, got {type(frame).__name__}")
    if key not in frame:
        raise ValueError(f"{frames}[{f}]: missing {key!r} (it has {sorted(frame)})")
    return frame[key]


def _regions(f: int, regions) -> list[np.ndarray]:
    out = []
    for r, region in enumerate(regions):
        polygon = _array(f"gt_frames[{f}]['ignore_regions'][{r}]", region, (-1, 2))
        if 0 < len(polygon) < 3:
            raise ValueError(
                f"gt_frames[{f}]['ignore_regions'][{r}]: a polygon needs 0 or at least 3 points, got {len(polygon)} "
                "(poseval's shapely.Polygon fails on it)"
            )
        out.append(polygon)
    return out


def _warn_zero_heads(gt_frames, zero_heads: list[tuple[int, int, list[float]]]) -> None:
    """One warning for every person whose head box has zero size: poseval scores them silently."""
    f, person, box = zero_heads[0]
    image = gt_frames[f].get("image")
    more = len(zero_heads) - 1
    warnings.warn(
        f"{f'{image}: ' if image else ''}gt_frames[{f}] person {person}: head box {box} has zero size, so none of "
        "its joints can be matched (poseval divides by the head size: even an exact prediction scores as a "
        f"miss) but they count as ground truth{f'; {more} more people like it' if more else ''}",
        UserWarning,
        stacklevel=3,
    )


def posetrack_map(
    gt_frames: Sequence[dict],
    pred_frames: Sequence[dict],
    layout: str | Skeleton = POSETRACK_17,
    threshold: float = 0.5,
) -> dict[str, float]:
    """PoseTrack mAP over frames, equal to poseval's ``evaluateAP`` (see the module docstring).

    Args:
        gt_frames: per frame ``{"keypoints": (P, J, 2), "annotated": (P, J) bool, "head_box": (P, 4)
            (x1, y1, x2, y2)}`` and optionally ``"ignore_regions"``: a list of (K, 2) polygons
            (:func:`posemods.data.read_posetrack_frames` reads these). People without annotated
            joints belong here too: they keep their frame in the evaluation.
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
    J = skeleton.num_joints
    joints = list(skeleton.scored_index)
    nj = len(joints)
    scores_all: list[list[np.ndarray]] = [[] for _ in range(nj)]
    labels_all: list[list[np.ndarray]] = [[] for _ in range(nj)]
    num_gt = np.zeros(nj)
    zero_heads: list[tuple[int, int, list[float]]] = []  # (frame, person, head box) that no joint can match
    for f, (gt, pr) in enumerate(zip(gt_frames, pred_frames)):
        gt_kp = _array(f"gt_frames[{f}]['keypoints']", _get("gt_frames", f, gt, "keypoints"), (-1, J, 2))
        p = len(gt_kp)
        has_gt = _array(f"gt_frames[{f}]['annotated']", _get("gt_frames", f, gt, "annotated"), (p, J), bool)
        head = _array(f"gt_frames[{f}]['head_box']", _get("gt_frames", f, gt, "head_box"), (p, 4))
        pr_kp = _array(f"pred_frames[{f}]['keypoints']", _get("pred_frames", f, pr, "keypoints"), (-1, J, 2))
        score = _array(f"pred_frames[{f}]['scores']", _get("pred_frames", f, pr, "scores"), (len(pr_kp), J))
        if p == 0:
            continue  # cleanupData: "remove all GT frames with empty annorect", predictions too
        # Only now: poseval builds its shapely polygons for the frames cleanupData keeps.
        regions = _regions(f, gt.get("ignore_regions", []))
        gt_kp, has_gt, head = gt_kp[:, joints], has_gt[:, joints], head
        pr_kp, score = pr_kp[:, joints], score[:, joints]
        has_pr = np.isfinite(score)
        if regions:
            has_gt = _drop_ignored(gt_kp, has_gt, regions)
            has_pr = _drop_ignored(pr_kp, has_pr, regions)
        keep_gt, keep_pr = has_gt.any(1), has_pr.any(1)
        gt_kp, has_gt, head = gt_kp[keep_gt], has_gt[keep_gt], head[keep_gt]
        pr_kp, has_pr, score = pr_kp[keep_pr], has_pr[keep_pr], score[keep_pr]
        head_size = 0.6 * np.linalg.norm(head[:, 2:] - head[:, :2], axis=1)
        missing = ~np.isfinite(head_size)
        if missing.any() and len(pr_kp):
            # poseval reads rectGT["x1"] only where the frame has predictions: KeyError there.
            person = int(np.flatnonzero(keep_gt)[np.flatnonzero(missing)[0]])
            raise ValueError(
                f"gt_frames[{f}]['head_box'][{person}]: a person with annotated joints in a frame with predictions "
                f"needs a finite head box for PCKh (poseval: KeyError 'x1'), got {head[missing][0].tolist()}"
            )
        for g in np.flatnonzero(head_size == 0):
            zero_heads.append((f, int(np.flatnonzero(keep_gt)[g]), head[g].tolist()))
        num_gt += has_gt.sum(0)
        assigned = np.full(len(pr_kp), -1)
        match = np.zeros((len(pr_kp), len(gt_kp), nj), dtype=bool)
        if len(pr_kp) and len(gt_kp):
            # A head box of zero size gives poseval inf (or 0/0 = nan) distances: never a match.
            with np.errstate(divide="ignore", invalid="ignore"):
                dist = np.linalg.norm(pr_kp[:, None] - gt_kp[None], axis=-1) / head_size[None, :, None]
            match = (dist <= threshold) & has_pr[:, None] & has_gt[None]
            pckh = match.sum(2) / np.maximum(has_gt.sum(1), 1)[None]
            best_gt = pckh.argmax(1)
            pckh = np.where(np.arange(len(gt_kp))[None] == best_gt[:, None], pckh, 0.0)
            winner = pckh.argmax(0)
            for g in range(len(gt_kp)):
                if pckh[winner[g], g] > 0:
                    assigned[winner[g]] = g
        for q in range(len(pr_kp)):
            label = match[q, assigned[q]] if assigned[q] >= 0 else np.zeros(nj, dtype=bool)
            for j in np.flatnonzero(has_pr[q]):
                scores_all[j].append(score[q, j : j + 1])
                labels_all[j].append(label[j : j + 1])
    if zero_heads:
        _warn_zero_heads(gt_frames, zero_heads)
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
