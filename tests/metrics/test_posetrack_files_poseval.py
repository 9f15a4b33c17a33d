"""Files in the PoseTrack 2017 and 2018 layouts, read by posemods and scored by posetrack_map, against
poseval's own chain re-stated in tests/oracles/poseval.py (load_data_dir: convert.py's from_new /
to_old for 2018 files, 2017 files as they are; then evaluateAP). Each file carries the quirks of
issue 11: visibility 0 at real coordinates, (0, 0) points that are visible, people without joints,
labelled frames without people, unlabelled frames (and an is_labeled flag poseval never reads),
ignore regions with joints on their edges and vertices, tied scores, predicted joints left out as
(0, 0, 0), missing landmark scores."""

import json

import numpy as np
import pytest

from posemods.data import read_posetrack_frames
from posemods.data.posetrack import POSEVAL_JOINT_NAMES
from posemods.metrics import posetrack_map
from posemods.skeletons import POSETRACK_17

J = 17


def region_at(rng):
    x0, y0 = (int(v) for v in rng.integers(0, 40, 2))
    return x0, y0, [[x0, x0 + 20, x0 + 20, x0]], [[y0, y0, y0 + 15, y0 + 15]]


def person_keypoints(rng, region):
    kp = np.concatenate((rng.integers(0, 60, (J, 2)), rng.integers(0, 2, (J, 1))), 1).astype(float)
    kp[[3, 4]] = 0  # ears: never labelled
    kp[rng.random(J) < 0.2] = 0  # (0, 0, 0): not annotated
    if rng.random() < 0.15:
        kp[:] = 0  # a person without annotated joints
    if rng.random() < 0.15:
        kp[0] = (0, 0, 1)  # at (0, 0) but visible: annotated
    if region is not None and rng.random() < 0.6:
        x0, y0 = region[:2]
        kp[5, :2], kp[6, :2], kp[7, :2] = (x0 + 20, y0 + 5), (x0, y0), (x0 + 3, y0 + 3)  # edge, vertex, inside
    return kp


def prediction_keypoints(rng, base):
    pk = np.concatenate((base + rng.integers(-8, 9, (J, 2)), np.ones((J, 1))), 1)
    if rng.random() < 0.3:
        pk[rng.random(J) < 0.3] = 0  # (0, 0, 0): a joint not predicted
    return pk


def video_2018(rng, vid, frames=6):
    images, gt, pr = [], [], []
    for i in range(frames):
        image_id = int(f"1{vid}{i:04d}")
        labelled = rng.random() < 0.8
        image = {"id": image_id, "file_name": f"images/val/{vid}_mpii_test/{i:06d}.jpg", "frame_id": image_id,
                 "vid_id": vid, "is_labeled": labelled and rng.random() < 0.8,  # poseval never reads the flag
                 "ignore_regions_x": [], "ignore_regions_y": []}  # fmt: skip
        region = region_at(rng) if labelled and rng.random() < 0.4 else None
        if region is not None:
            image["ignore_regions_x"], image["ignore_regions_y"] = region[2], region[3]
        images.append(image)
        people = []
        for t in range(int(rng.integers(0, 4)) if labelled else 0):
            kp = person_keypoints(rng, region)
            head = [float(v) for v in rng.integers(0, 20, 2)] + [float(v) for v in rng.integers(5, 30, 2)]
            gt.append({"id": len(gt), "image_id": image_id, "track_id": t, "category_id": 1,
                       "keypoints": kp.reshape(-1).tolist(), "bbox": [1, 1, 60, 60], "bbox_head": head})  # fmt: skip
            people.append(kp[:, :2])
        for q in range(int(rng.integers(0, 4))):
            base = people[q] if q < len(people) else rng.integers(0, 60, (J, 2)).astype(float)
            ann = {"image_id": image_id, "track_id": q, "category_id": 1,
                   "keypoints": prediction_keypoints(rng, base).reshape(-1).tolist()}  # fmt: skip
            if rng.random() < 0.9:
                ann["scores"] = rng.choice([0.2, 0.5, 0.8], J).tolist()  # many ties
            pr.append(ann)
    categories = [{"name": "person", "keypoints": list(POSETRACK_17.joint_names)}]
    return (
        {"images": images, "annotations": gt, "categories": categories},
        {"images": images, "annotations": pr, "categories": categories},
    )


def video_2017(rng, vid, frames=6):
    gt, pr = [], []
    for i in range(frames):
        name = {"name": f"images/bonn/{vid}_bonn/{i + 1:08d}.jpg"}
        labelled = rng.random() < 0.8
        region = region_at(rng) if labelled and rng.random() < 0.4 else None
        rects, people = [], []
        for t in range(int(rng.integers(0, 4)) if labelled else 0):
            kp = person_keypoints(rng, region)
            points = [
                {"id": [j], "x": [kp[POSETRACK_17.index(n), 0]], "y": [kp[POSETRACK_17.index(n), 1]],
                 "is_visible": [int(kp[POSETRACK_17.index(n), 2])]}
                for j, n in enumerate(POSEVAL_JOINT_NAMES)
                if kp[POSETRACK_17.index(n)].any()
            ]  # fmt: skip
            x1, y1 = (float(v) for v in rng.integers(0, 20, 2))
            rect = {"track_id": [t], "x1": [x1], "y1": [y1], "x2": [x1 + 20], "y2": [y1 + 25]}
            if points or rng.random() < 0.5:  # a person without joints: empty point list or no annopoints
                rect["annopoints"] = [{"point": points}]
            rects.append(rect)
            people.append(kp[:, :2])
        entry = {
            "image": [name],
            "imgnum": [i + 1],
            "is_labeled": [int(labelled and rng.random() < 0.8)],
            "annorect": rects,
        }
        if region is not None:
            entry["ignore_regions"] = [{"point": [{"x": [x], "y": [y]} for x, y in zip(region[2][0], region[3][0])]}]
        gt.append(entry)
        pr_rects = []
        for q in range(int(rng.integers(0, 4))):
            base = people[q] if q < len(people) else rng.integers(0, 60, (J, 2)).astype(float)
            pk = prediction_keypoints(rng, base)
            points = [
                {"id": [j], "x": [pk[POSETRACK_17.index(n), 0]], "y": [pk[POSETRACK_17.index(n), 1]],
                 "score": [float(rng.choice([0.2, 0.5, 0.8]))]}
                for j, n in enumerate(POSEVAL_JOINT_NAMES)
                if pk[POSETRACK_17.index(n)].any()
            ]  # fmt: skip
            pr_rects.append({"track_id": [q], "annopoints": [{"point": points}]})
        pr.append({"image": [name], "annorect": pr_rects})
    return {"annolist": gt}, {"annolist": pr}


def prediction_frames(pred, gt_frames):
    """posemods' prediction arrays from a prediction file, frame by frame of gt_frames: a NaN score
    where the file has no joint, -9999 (poseval's MIN_SCORE) where it has one without a score."""
    by_image = {}
    if "annolist" in pred:
        for entry in pred["annolist"]:
            people = []
            for rect in entry["annorect"]:
                kp, sc = np.zeros((J, 2)), np.full(J, np.nan)
                for point in rect["annopoints"][0]["point"]:
                    k = POSETRACK_17.index(POSEVAL_JOINT_NAMES[point["id"][0]])
                    kp[k] = point["x"][0], point["y"][0]
                    sc[k] = point.get("score", [-9999])[0]
                people.append((kp, sc))
            by_image[entry["image"][0]["name"]] = people
    else:
        names = {im["id"]: im["file_name"] for im in pred["images"]}
        for ann in pred["annotations"]:
            kp = np.asarray(ann["keypoints"], dtype=float).reshape(J, 3)
            sc = np.asarray(ann["scores"], dtype=float) if ann.get("scores") else np.full(J, -9999.0)
            sc = np.where((kp == 0).all(1), np.nan, sc)
            by_image.setdefault(names[ann["image_id"]], []).append((kp[:, :2], sc))
    out = []
    for frame in gt_frames:
        people = by_image.get(frame["image"], [])
        out.append({
            "keypoints": np.array([p[0] for p in people]).reshape(-1, J, 2),
            "scores": np.array([p[1] for p in people]).reshape(-1, J),
        })  # fmt: skip
    return out


@pytest.mark.parametrize("seed", range(8))
def test_files_score_as_poseval_reads_and_scores_them(tmp_path, seed):
    pytest.importorskip("shapely")
    from oracles.poseval import evaluate_ap, load_video_files

    rng = np.random.default_rng(seed)
    videos = [video_2018(rng, "000001"), video_2017(rng, "000002"), video_2018(rng, "000003")]
    gts, prs = [], []
    for k, (gt, pr) in enumerate(videos):
        path = tmp_path / f"{k}.json"
        path.write_text(json.dumps(gt))
        frames = read_posetrack_frames(path)
        gts += frames
        prs += prediction_frames(pr, frames)
    with np.errstate(divide="ignore", invalid="ignore"):
        ap, total = evaluate_ap(*load_video_files([g for g, _ in videos], [p for _, p in videos]))
    out = posetrack_map(gts, prs)
    for i, name in enumerate(POSEVAL_JOINT_NAMES):
        assert out[name] == pytest.approx(ap[i], abs=1e-9, nan_ok=True), name
    assert out["Mean"] == pytest.approx(total, abs=1e-9)
