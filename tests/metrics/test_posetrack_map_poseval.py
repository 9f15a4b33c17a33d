"""posemods.metrics.posetrack_map against a literal re-statement of poseval (tests/oracles/poseval.py),
and one test per case where posemods used to differ from poseval or where poseval crashes."""

import math

import numpy as np
import pytest

from posemods.metrics import points_in_polygon, posetrack_map
from posemods.skeletons import POSETRACK_17

J = POSETRACK_17.num_joints
SCORED = list(POSETRACK_17.scored_index)
# poseval's joint ids (convert.py POSETRACK18_LM_NAMES): 0 right_ankle ... 12 head_bottom, 13 nose, 14 head_top.
POSEVAL_NAMES = [
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "right_wrist", "right_elbow",
    "right_shoulder", "left_shoulder", "left_elbow", "left_wrist", "head_bottom", "nose", "head_top",
]  # fmt: skip


def to_annolist(gt_frames, pred_frames):
    """The frames as poseval's PoseTrack 2017 dicts (convert.py's to_old): one point per annotated joint."""
    gts, prs = [], []
    for gt, pr in zip(gt_frames, pred_frames):
        rects = []
        for kp, ann, head in zip(gt["keypoints"], gt["annotated"], gt["head_box"]):
            points = [
                {"id": [i], "x": [kp[POSETRACK_17.index(n), 0]], "y": [kp[POSETRACK_17.index(n), 1]]}
                for i, n in enumerate(POSEVAL_NAMES)
                if ann[POSETRACK_17.index(n)]
            ]
            rects.append({"x1": [head[0]], "y1": [head[1]], "x2": [head[2]], "y2": [head[3]],
                          "annopoints": [{"point": points}]})  # fmt: skip
        regions = [{"point": [{"x": [x], "y": [y]} for x, y in r]} for r in gt.get("ignore_regions", [])]
        gts.append({"annorect": rects, "ignore_regions": regions})
        pr_rects = []
        for kp, sc in zip(pr["keypoints"], pr["scores"]):
            points = [
                {"id": [i], "x": [kp[POSETRACK_17.index(n), 0]], "y": [kp[POSETRACK_17.index(n), 1]],
                 "score": [sc[POSETRACK_17.index(n)]]}
                for i, n in enumerate(POSEVAL_NAMES)
                if np.isfinite(sc[POSETRACK_17.index(n)])
            ]  # fmt: skip
            pr_rects.append({"annopoints": [{"point": points}]})
        prs.append({"annorect": pr_rects})
    return gts, prs


def random_frames(rng, num_frames=12):
    gts, prs = [], []
    for f in range(num_frames):
        people = int(rng.integers(0, 4)) if f else 0  # frame 0: no ground-truth people at all
        kp = rng.integers(0, 60, (people, J, 2)).astype(np.float64)
        ann = rng.random((people, J)) > 0.3
        if people and f % 4 == 1:
            ann[0] = False  # a person without any annotated joint
        if f % 6 == 2:
            ann[:] = False  # a frame whose people have no annotated joint at all
        head = np.concatenate((rng.integers(0, 20, (people, 2)), rng.integers(25, 40, (people, 2))), 1).astype(float)
        regions = []
        if f % 3 == 0:
            x0, y0 = rng.integers(0, 30, 2)
            regions.append(np.array([[x0, y0], [x0 + 20, y0], [x0 + 20, y0 + 15], [x0, y0 + 15]], dtype=float))
            if people:
                kp[0, 0] = (x0 + 20, y0 + 5)  # on an edge: outside for shapely
                kp[0, 5] = (x0, y0)  # on a vertex: outside
        gts.append({"keypoints": kp, "annotated": ann, "head_box": head, "ignore_regions": regions})
        preds = int(rng.integers(0, 4))
        pk = np.concatenate((kp, rng.integers(0, 60, (max(preds - people, 0), J, 2)).astype(float)))[:preds]
        pk = pk + rng.integers(-8, 9, pk.shape)
        scores = rng.choice([0.2, 0.5, 0.8], (preds, J))  # many ties
        scores[rng.random((preds, J)) < 0.15] = np.nan
        prs.append({"keypoints": pk, "scores": scores})
    return gts, prs


@pytest.mark.parametrize("seed", range(6))
def test_equals_the_literal_poseval_on_random_frames(seed):
    from oracles.poseval import evaluate_ap

    pytest.importorskip("shapely")
    gts, prs = random_frames(np.random.default_rng(seed))
    ap, total = evaluate_ap(*to_annolist(gts, prs))
    out = posetrack_map(gts, prs)
    for i, name in enumerate(POSEVAL_NAMES):
        assert out[name] == pytest.approx(ap[i], abs=1e-9, nan_ok=True), name
    assert out["Mean"] == pytest.approx(total, abs=1e-9)
    assert 0 < out["Mean"] < 100


def person(seed=0, offset=0.0):
    kp = np.random.default_rng(seed).integers(0, 100, (J, 2)).astype(np.float64) + offset
    ann = np.zeros(J, dtype=bool)
    ann[SCORED] = True
    return kp, ann


def frame(*people, regions=()):
    return {
        "keypoints": np.array([p[0] for p in people]).reshape(-1, J, 2),
        "annotated": np.array([p[1] for p in people], dtype=bool).reshape(-1, J),
        "head_box": np.array([[0.0, 0.0, 30.0, 40.0]] * len(people)).reshape(-1, 4),
        "ignore_regions": list(regions),
    }


def preds(*people):
    return {
        "keypoints": np.array([k for k, _ in people]).reshape(-1, J, 2),
        "scores": np.array([np.full(J, s) for _, s in people]).reshape(-1, J),
    }


def test_predictions_in_a_frame_whose_people_have_no_annotated_joint_are_false_positives():
    a = person(1)
    nobody = (a[0], np.zeros(J, dtype=bool))
    # poseval keeps the frame (its annorect is not empty) and counts its prediction as a false positive,
    # ranked first here: precision 0 then 1/2.
    out = posetrack_map([frame(a), frame(nobody)], [preds((a[0], 0.5)), preds((a[0] + 50, 0.9))])
    assert out["Mean"] == pytest.approx(50.0)
    # A frame without any ground-truth person is dropped with its predictions.
    out = posetrack_map([frame(a), frame()], [preds((a[0], 0.5)), preds((a[0] + 50, 0.9))])
    assert out["Mean"] == pytest.approx(100.0)


def test_points_on_an_ignore_region_edge_or_vertex_stay():
    square = np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]])
    points = np.array([[5.0, 5.0], [10.0, 5.0], [0.0, 0.0], [5.0, 10.0], [11.0, 5.0], [5.0, 0.0]])
    # shapely: Polygon(square).contains(Point) is True only for the interior point.
    assert points_in_polygon(points, square).tolist() == [True, False, False, False, False, False]
    a = person(2)
    a[0][:] = 50.0
    a[0][SCORED[0]] = (10.0, 5.0)  # the nose on the region's right edge: still scored
    out = posetrack_map([frame(a, regions=[square])], [preds((a[0], 0.9))])
    assert out["nose"] == 100.0


def test_an_ignore_region_of_two_points_is_refused_and_an_empty_one_is_nothing():
    a = person(3)
    with pytest.raises(ValueError, match=r"gt_frames\[0\]\['ignore_regions'\]\[0\].*got 2"):
        posetrack_map([frame(a, regions=[np.array([[0.0, 0.0], [5.0, 5.0]])])], [preds((a[0], 0.9))])
    out = posetrack_map([frame(a, regions=[np.zeros((0, 2))])], [preds((a[0], 0.9))])
    assert out["Mean"] == 100.0


@pytest.mark.parametrize("box", [[5.0, 5.0, 5.0, 5.0], [7.0, 3.0, 7.0, 3.0]])
def test_a_head_box_of_zero_size_matches_nothing_as_poseval(box, recwarn):
    # poseval does not crash on it: ``np.linalg.norm(...) / headSize`` with headSize 0 is inf (or nan
    # for an exact prediction), never ``<= distThresh``. Person a's exact prediction (0.9) is then a
    # false positive ranked before b's true positive (0.5): precision 0, 1/2 at recall 0, 1/2 -> AP 25.
    a, b = person(4), person(5)
    gt_a = frame(a)
    gt_a["head_box"] = np.array([box])
    gts, prs = [gt_a, frame(b)], [preds((a[0], 0.9)), preds((b[0], 0.5))]
    out = posetrack_map(gts, prs)
    assert out["Mean"] == pytest.approx(25.0)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
    from oracles.poseval import evaluate_ap

    pytest.importorskip("shapely")
    with np.errstate(divide="ignore", invalid="ignore"):
        _, total = evaluate_ap(*to_annolist(gts, prs))
    assert out["Mean"] == pytest.approx(total)


def test_a_head_box_of_zero_size_is_scored_as_poseval_with_one_warning_naming_it():
    """Scored as above (a perfect prediction counts as a miss), but not silently: one UserWarning per
    call names the first such person's image, frame and index, and how many more there are."""
    a, b, c = person(4), person(5), person(6)
    gt = frame(b, a)
    gt["head_box"][1] = (5.0, 5.0, 5.0, 5.0)
    gt["image"] = "images/val/000342_mpii_test/000007.jpg"
    later = frame(c)
    later["head_box"][0] = (2.0, 3.0, 2.0, 3.0)
    with pytest.warns(UserWarning) as caught:
        out = posetrack_map([gt, later], [preds((b[0], 0.5), (a[0], 0.9)), preds((c[0], 0.7))])
    assert len(caught) == 1
    message = str(caught[0].message)
    assert message.startswith("images/val/000342_mpii_test/000007.jpg: gt_frames[0] person 1: head box")
    assert "zero size" in message and "1 more" in message
    assert caught[0].filename == __file__  # points at the caller
    # a's and c's exact predictions (0.9, 0.7) rank first as misses, then b's hit: precision 1/3 at recall 1/3.
    assert out["Mean"] == pytest.approx(100 / 9)


def test_a_missing_head_box_is_refused_only_where_poseval_needs_it():
    # poseval reads rectGT["x1"] only in a frame with predictions (``if len(prFrames[imgidx]["annorect"])
    # and len(gtFrames[imgidx]["annorect"])``): there a person without a head box is a KeyError ...
    a, b = person(4), person(5)
    gt_a = frame(a)
    gt_a["head_box"] = np.array([[0.0, 0.0, math.nan, 3.0]])
    with pytest.raises(ValueError, match=r"gt_frames\[0\]\['head_box'\]\[0\].*head box"):
        posetrack_map([gt_a], [preds((a[0], 0.9))])
    # ... elsewhere its joints are counted as ground truth, missed: recall 1/2 at precision 1 -> AP 50.
    out = posetrack_map([gt_a, frame(b)], [preds(), preds((b[0], 0.5))])
    assert out["Mean"] == pytest.approx(50.0)


def test_a_person_without_joints_needs_no_head_box():
    a = person(5)
    gt = frame(a, (a[0], np.zeros(J, dtype=bool)))
    gt["head_box"][1] = np.nan
    assert posetrack_map([gt], [preds((a[0], 0.9))])["Mean"] == 100.0


def test_a_frame_without_head_box_names_the_key():
    a = person(6)
    gt = frame(a)
    del gt["head_box"]
    with pytest.raises(ValueError, match=r"gt_frames\[0\]: missing 'head_box'"):
        posetrack_map([gt], [preds((a[0], 0.9))])


def test_keypoints_and_scores_of_the_wrong_shape_are_named():
    a = person(7)
    gt = frame(a)
    bad = dict(gt, keypoints=gt["keypoints"][:, :15])
    with pytest.raises(
        ValueError, match=r"gt_frames\[0\]\['keypoints'\]: expected shape \(P, 17, 2\), got \(1, 15, 2\)"
    ):
        posetrack_map([bad], [preds((a[0], 0.9))])
    pr = preds((a[0], 0.9))
    with pytest.raises(ValueError, match=r"pred_frames\[0\]\['scores'\]: expected shape \(1, 17\)"):
        posetrack_map([gt], [dict(pr, scores=pr["scores"][:, :3])])
    with pytest.raises(ValueError, match=r"pred_frames\[0\]\['keypoints'\]"):
        posetrack_map([gt], [dict(pr, keypoints=pr["keypoints"].reshape(1, 34))])
    with pytest.raises(ValueError, match=r"gt_frames\[0\]\['annotated'\]"):
        posetrack_map([dict(gt, annotated=np.ones((2, J), dtype=bool))], [pr])


@pytest.mark.parametrize("seed", range(4))
def test_points_in_polygon_equals_shapely_contains_on_a_grid(seed):
    geometry = pytest.importorskip("shapely.geometry")
    rng = np.random.default_rng(seed)
    # A star-shaped (so simple) polygon with integer vertices; the grid hits its edges and vertices.
    angles = np.sort(rng.uniform(0, 2 * np.pi, 7))
    radii = rng.integers(3, 10, 7)
    polygon = np.unique(np.round(np.stack((10 + radii * np.cos(angles), 10 + radii * np.sin(angles)), 1)), axis=0)
    order = np.argsort(np.arctan2(polygon[:, 1] - 10, polygon[:, 0] - 10))
    polygon = polygon[order]
    poly = geometry.Polygon(polygon)
    if not poly.is_valid:
        pytest.skip("rounding made the polygon self-touching")
    grid = np.stack(np.meshgrid(np.arange(0, 21, 0.5), np.arange(0, 21, 0.5)), -1).reshape(-1, 2)
    expected = [poly.contains(geometry.Point(x, y)) for x, y in grid]
    assert points_in_polygon(grid, polygon).tolist() == expected
    assert 0 < sum(expected) < len(grid)


def test_a_two_point_ignore_region_in_a_frame_poseval_drops_is_nothing():
    # cleanupData drops a frame without ground-truth people before removeIgnoredPoints builds any
    # shapely.Polygon, so poseval does not fail on that frame's regions.
    a = person(8)
    two = np.array([[0.0, 0.0], [5.0, 5.0]])
    out = posetrack_map([frame(a), frame(regions=[two])], [preds((a[0], 0.5)), preds((a[0], 0.9))])
    assert out["Mean"] == 100.0
