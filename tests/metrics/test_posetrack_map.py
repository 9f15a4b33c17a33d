"""PoseTrack mAP as poseval computes it: hand-computed cases and the AP loop oracle."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from oracles.metrics import ap_loop

from posemods.metrics import points_in_polygon, posetrack_map, precision_recall, voc_ap
from posemods.skeletons import POSETRACK_17

J = POSETRACK_17.num_joints
SCORED = list(POSETRACK_17.scored_index)
HEAD_BOX = [0.0, 0.0, 30.0, 40.0]  # diagonal 50, head size 30: a joint matches within 15 px


def person(offset=0.0, seed=0):
    rng = np.random.default_rng(seed)
    kp = rng.integers(0, 100, (J, 2)).astype(np.float64) + offset
    annotated = np.zeros(J, dtype=bool)
    annotated[SCORED] = True  # never the ears
    return kp, annotated


def gt_frame(*people, regions=()):
    return {
        "keypoints": np.stack([p[0] for p in people]) if people else np.zeros((0, J, 2)),
        "annotated": np.stack([p[1] for p in people]) if people else np.zeros((0, J), dtype=bool),
        "head_box": np.array([HEAD_BOX] * len(people)).reshape(-1, 4),
        "ignore_regions": list(regions),
    }


def pred_frame(*preds):
    return {
        "keypoints": np.stack([k for k, _ in preds]) if preds else np.zeros((0, J, 2)),
        "scores": np.stack([np.broadcast_to(np.asarray(s, dtype=np.float64), (J,)) for _, s in preds])
        if preds
        else np.zeros((0, J)),
    }


def scored_names():
    return [POSETRACK_17.joint_names[j] for j in SCORED]


def test_perfect_predictions_give_100():
    a, b, c = person(0, 1), person(300, 2), person(0, 3)
    out = posetrack_map([gt_frame(a, b), gt_frame(c)], [pred_frame((b[0], 0.7), (a[0], 0.9)), pred_frame((c[0], 0.5))])
    assert all(out[n] == 100.0 for n in scored_names())
    assert out["Head"] == out["Ank."] == out["Mean"] == 100.0
    assert "left_ear" not in out


def test_a_frame_without_predictions_counts_its_people_as_missed():
    a, b = person(0, 1), person(0, 2)
    out = posetrack_map([gt_frame(a), gt_frame(b)], [pred_frame((a[0], 0.9)), pred_frame()])
    # Every scored joint: one true positive first, then one ground truth never found -> AP 50.
    assert all(out[n] == 50.0 for n in scored_names())


def test_a_joint_just_outside_half_the_head_size_is_a_miss():
    a = person(0, 1)
    on, off = a[0].copy(), a[0].copy()
    wrist, ankle = POSETRACK_17.index("left_wrist"), POSETRACK_17.index("left_ankle")
    on[wrist, 0] += 15.0  # dist / head size = 0.5 exactly: a match
    off[wrist, 1] += 15.001  # just outside
    off[ankle] += [9.0, 12.0]  # 15 px away: a match
    out = posetrack_map([gt_frame(a), gt_frame(a)], [pred_frame((on, 1.0)), pred_frame((off, 0.9))])
    # left wrist: ranked TP, FP of 2 -> precision 1, 1/2; recall 1/2, 1/2.
    assert out["left_wrist"] == pytest.approx(50.0)
    assert out["left_ankle"] == 100.0 and out["Wri."] == 75.0
    assert out["Mean"] == pytest.approx((14 * 100 + 50) / 15)


def test_tied_scores_are_ranked_as_poseval_argsort_reversed():
    # computeRPC: idxsSort = np.array(scores).argsort()[::-1]. For two equal scores numpy's argsort keeps
    # them in order, so the reversal ranks the *later* prediction first: here the false positive.
    a = person(0, 1)
    on, off = a[0].copy(), a[0] + 100.0
    out = posetrack_map([gt_frame(a), gt_frame(a)], [pred_frame((on, 1.0)), pred_frame((off, 1.0))])
    # FP then TP: precision 0, 1/2 at recall 0, 1/2 -> envelope 1/2 over recall 0..1/2 -> AP 25.
    assert out["Mean"] == pytest.approx(25.0)
    swapped = posetrack_map([gt_frame(a), gt_frame(a)], [pred_frame((off, 1.0)), pred_frame((on, 1.0))])
    assert swapped["Mean"] == pytest.approx(50.0)


def test_a_higher_scored_duplicate_is_a_false_positive_ranked_first():
    a = person(0, 1)
    # Both predictions match every joint; the ground truth keeps the first one (poseval's argmax).
    out = posetrack_map([gt_frame(a)], [pred_frame((a[0], 0.5), (a[0].copy(), 0.9))])
    # Ranked FP then TP: precision 0, 1/2 at recall 0, 1 -> envelope 1/2 over recall (0, 1].
    assert all(out[n] == pytest.approx(50.0) for n in scored_names())


def test_each_prediction_keeps_only_its_best_ground_truth():
    g0, g1 = person(0, 1), person(500, 2)
    far = np.full(2, 5000.0)
    p1 = np.where(np.isin(np.arange(J), SCORED[:10])[:, None], g0[0], g1[0])  # 10 joints on g0, 5 on g1
    p0 = g0[0].copy()  # 8 joints on g0, 3 on g1, 4 nowhere
    p0[SCORED[8:11]] = g1[0][SCORED[8:11]]
    p0[SCORED[11:]] = far
    out = posetrack_map([gt_frame(g0, g1)], [pred_frame((p0, 0.9), (p1, 0.8))])
    # PCKh: p0 -> g0 8/15, g1 3/15; p1 -> g0 10/15, g1 5/15. Both keep only g0; g0 takes p1 (10/15);
    # g1 goes unmatched even though p0 would fit it, so all of p0's joints are false positives.
    names = scored_names()
    for n in names[:10]:  # FP at 0.9 then TP at 0.8 of 2 positives: AP = 1/2 x 1/2
        assert out[n] == pytest.approx(25.0), n
    for n in names[10:]:  # p1's joints on g1 are judged against g0: all false
        assert out[n] == 0.0, n
    assert out["Mean"] == pytest.approx(10 * 25.0 / 15)


def test_missing_and_unannotated_joints():
    a = person(0, 1)
    pred = a[0].copy()
    scores = np.ones(J)
    scores[POSETRACK_17.index("left_wrist")] = np.nan  # not predicted
    gt = gt_frame(a)
    gt["annotated"][0, POSETRACK_17.index("head_top")] = False  # predicted but never annotated
    out = posetrack_map([gt], [pred_frame((pred, scores))])
    assert out["left_wrist"] == 0.0  # no predictions at all: poseval's 0
    assert math.isnan(out["head_top"]) and math.isnan(out["Head"])  # no ground truth: NaN, left out of the mean
    assert out["Mean"] == pytest.approx(13 * 100 / 14)


def test_ignore_regions_drop_predictions_inside_them():
    a = person(0, 1)
    ghost = np.full((J, 2), 500.0) + np.arange(J)[:, None]  # a spurious person far from a
    square = np.array([[450.0, 450.0], [600.0, 450.0], [600.0, 600.0], [450.0, 600.0]])
    preds = pred_frame((a[0], 0.5), (ghost, 0.9))
    assert posetrack_map([gt_frame(a)], [preds])["Mean"] == pytest.approx(50.0)
    assert posetrack_map([gt_frame(a, regions=[square])], [preds])["Mean"] == 100.0


def test_frames_without_ground_truth_are_skipped_with_their_predictions():
    a = person(0, 1)
    out = posetrack_map([gt_frame(a), gt_frame()], [pred_frame((a[0], 0.5)), pred_frame((a[0], 0.9))])
    assert out["Mean"] == 100.0


def test_voc_ap_of_a_known_curve():
    precision, recall = precision_recall(np.array([0.9, 0.8, 0.7]), np.array([True, False, True]), 2)
    assert precision.tolist() == pytest.approx([1.0, 0.5, 2 / 3]) and recall.tolist() == [0.5, 0.5, 1.0]
    assert voc_ap(recall, precision) == pytest.approx(0.5 * 1.0 + 0.5 * 2 / 3)
    # One ground truth never found: recall stops at 2/3.
    precision, recall = precision_recall(np.array([0.9, 0.8, 0.7]), np.array([True, False, True]), 3)
    assert voc_ap(recall, precision) == pytest.approx(1 / 3 * 1.0 + 1 / 3 * 2 / 3)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 20), st.booleans()), min_size=1, max_size=12), st.integers(0, 5))
def test_ap_matches_the_loop_oracle(detections, extra_positives):
    # Distinct scores (the oracle and the stable sort agree on ties only by accident).
    detections = [(s + i / 100, ok) for i, (s, ok) in enumerate(detections)]
    positives = sum(ok for _, ok in detections) + extra_positives
    if positives == 0:
        return
    scores = np.array([s for s, _ in detections])
    labels = np.array([ok for _, ok in detections])
    precision, recall = precision_recall(scores, labels, positives)
    assert voc_ap(recall, precision) == pytest.approx(ap_loop(detections, positives), abs=1e-12)


def test_points_in_polygon():
    square = np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]])
    pts = np.array([[5.0, 5.0], [15.0, 5.0], [-1.0, 5.0], [5.0, 11.0]])
    assert points_in_polygon(pts, square).tolist() == [True, False, False, False]


def test_frame_counts_must_match():
    with pytest.raises(ValueError, match="pred_frames"):
        posetrack_map([gt_frame(person())], [])
