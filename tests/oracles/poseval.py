"""A literal re-statement of poseval's evaluateAP, written from the reference, not from posemods.

github:leonid-pishchulin/poseval at commit 4258a1575b9f2ddd0bdb85f74557235ab5df0f52:
eval_helpers.py (cleanupData, removeIgnoredPoints, assignGTmulti, computeRPC, VOCap) and
evaluateAP.py (computeMetrics). Frames use poseval's PoseTrack 2017 ("annolist") dicts, as
convert.py's ``to_old`` writes them: ``{"annorect": [{"x1": [..], "y1": [..], "x2": [..], "y2": [..],
"annopoints": [{"point": [{"id": [j], "x": [..], "y": [..], "score": [..]}]}]}], "ignore_regions":
[{"point": [{"x": [..], "y": [..]}]}]}``. Joint ids are poseval's 15 (0 right_ankle ... 14 head_top).
The MOT bookkeeping, which does not touch AP, is left out. Needs shapely, as poseval does.
"""

import copy

import numpy as np
from shapely import geometry

N_JOINTS = 15


def get_point_by_id(points, pidx):
    point = []
    for i in range(len(points)):
        if points[i]["id"] is not None and points[i]["id"][0] == pidx:
            point = points[i]
            break
    return point


def rect_has_points(rect):
    return (
        ("annopoints" in rect)
        and (len(rect["annopoints"]) > 0 and len(rect["annopoints"][0]) > 0)
        and ("point" in rect["annopoints"][0])
    )


def cleanup(gt_frames, pr_frames):
    idxs = [i for i in range(len(gt_frames)) if len(gt_frames[i]["annorect"]) > 0]
    gt_frames = [gt_frames[i] for i in idxs]
    pr_frames = [pr_frames[i] for i in idxs]
    for i in range(len(gt_frames)):
        gt_frames[i]["annorect"] = [r for r in gt_frames[i]["annorect"] if rect_has_points(r)]
        pr_frames[i]["annorect"] = [r for r in pr_frames[i]["annorect"] if rect_has_points(r)]
    return gt_frames, pr_frames


def remove_ignored_points_rects(rects, polys):
    ridxs = list(range(len(rects)))
    for ridx in range(len(rects)):
        points = rects[ridx]["annopoints"][0]["point"]
        pidxs = list(range(len(points)))
        for pidx in range(len(points)):
            pt = geometry.Point(points[pidx]["x"][0], points[pidx]["y"][0])
            if any(poly.contains(pt) for poly in polys):
                pidxs.remove(pidx)
        points = [points[p] for p in pidxs]
        if len(points) > 0:
            rects[ridx]["annopoints"][0]["point"] = points
        else:
            ridxs.remove(ridx)
    return [rects[r] for r in ridxs]


def remove_ignored_points(gt_frames, pr_frames):
    for i in range(len(gt_frames)):
        if "ignore_regions" in gt_frames[i] and len(gt_frames[i]["ignore_regions"]) > 0:
            polys = [
                geometry.Polygon([[p["x"][0], p["y"][0]] for p in region["point"]])
                for region in gt_frames[i]["ignore_regions"]
            ]
            pr_frames[i]["annorect"] = remove_ignored_points_rects(pr_frames[i]["annorect"], polys)
            gt_frames[i]["annorect"] = remove_ignored_points_rects(gt_frames[i]["annorect"], polys)
    return gt_frames, pr_frames


def assign_gt_multi(gt_frames, pr_frames, dist_thresh=0.5):
    scores_all = {j: {i: np.zeros([0, 0], dtype=np.float32) for i in range(len(gt_frames))} for j in range(N_JOINTS)}
    labels_all = {j: {i: np.zeros([0, 0], dtype=np.int8) for i in range(len(gt_frames))} for j in range(N_JOINTS)}
    n_gt_all = np.zeros([N_JOINTS, len(gt_frames)])
    for img in range(len(gt_frames)):
        gts, prs = gt_frames[img]["annorect"], pr_frames[img]["annorect"]
        dist = np.full((len(prs), len(gts), N_JOINTS), np.inf)
        score = np.full((len(prs), N_JOINTS), np.nan)
        has_pr = np.zeros((len(prs), N_JOINTS), dtype=bool)
        has_gt = np.zeros((len(gts), N_JOINTS), dtype=bool)
        for g, rect in enumerate(gts):
            points = rect["annopoints"][0]["point"] if len(rect["annopoints"]) > 0 else []
            for i in range(N_JOINTS):
                if len(get_point_by_id(points, i)) > 0:
                    has_gt[g, i] = True
        for p, rect in enumerate(prs):
            points = rect["annopoints"][0]["point"]
            for i in range(N_JOINTS):
                pp = get_point_by_id(points, i)
                if len(pp) > 0:
                    score[p, i] = pp["score"][0]
                    has_pr[p, i] = True
        if len(prs) and len(gts):
            for g, rect in enumerate(gts):
                head_size = 0.6 * np.linalg.norm(
                    np.subtract([rect["x2"][0], rect["y2"][0]], [rect["x1"][0], rect["y1"][0]])
                )
                points_gt = rect["annopoints"][0]["point"] if len(rect["annopoints"]) > 0 else []
                for p, rect_pr in enumerate(prs):
                    points_pr = rect_pr["annopoints"][0]["point"]
                    for i in range(N_JOINTS):
                        pg, pp = get_point_by_id(points_gt, i), get_point_by_id(points_pr, i)
                        if has_pr[p, i] and has_gt[g, i]:
                            dist[p, g, i] = (
                                np.linalg.norm(np.subtract([pg["x"][0], pg["y"][0]], [pp["x"][0], pp["y"][0]]))
                                / head_size
                            )
            n_gtp = np.sum(has_gt, axis=1)
            match = dist <= dist_thresh
            pck = 1.0 * np.sum(match, axis=2)
            for i in range(has_pr.shape[0]):
                for j in range(has_gt.shape[0]):
                    if n_gtp[j] > 0:
                        pck[i, j] = pck[i, j] / n_gtp[j]
            idx = np.argmax(pck, axis=1)
            for p in range(pck.shape[0]):
                for g in range(pck.shape[1]):
                    if g != idx[p]:
                        pck[p, g] = 0
            pr_to_gt = np.argmax(pck, axis=0)
            val = np.max(pck, axis=0)
            pr_to_gt[val == 0] = -1
            for p in range(has_pr.shape[0]):
                if p in pr_to_gt:
                    g = np.argwhere(pr_to_gt == p)
                    assert g.size == 1
                    m = np.squeeze(match[p, g[0, 0], :])
                else:
                    m = np.zeros([match.shape[2], 1], dtype=bool)
                for i in range(N_JOINTS):
                    if has_pr[p, i]:
                        scores_all[i][img] = np.append(scores_all[i][img], score[p, i])
                        labels_all[i][img] = np.append(labels_all[i][img], m[i])
        elif not len(gts):
            for p in range(has_pr.shape[0]):
                m = np.zeros([N_JOINTS, 1], dtype=bool)
                for i in range(N_JOINTS):
                    if has_pr[p, i]:
                        scores_all[i][img] = np.append(scores_all[i][img], score[p, i])
                        labels_all[i][img] = np.append(labels_all[i][img], m[i])
        for g in range(has_gt.shape[0]):
            for i in range(N_JOINTS):
                n_gt_all[i, img] += has_gt[g, i]
    return scores_all, labels_all, n_gt_all


def compute_rpc(scores, labels, total_pos):
    precision, recall = np.zeros(len(scores)), np.zeros(len(scores))
    npos = 0
    idxs = np.array(scores).argsort()[::-1]
    labels_sorted = labels[idxs]
    for s in range(len(idxs)):
        if labels_sorted[s] == 1:
            npos += 1
        with np.errstate(divide="ignore", invalid="ignore"):
            recall[s] = 1.0 * npos / np.float64(total_pos)
        precision[s] = 1.0 * npos / (s + 1)
    return precision, recall


def voc_ap(rec, prec):
    mpre = np.zeros([1, 2 + len(prec)])
    mpre[0, 1 : len(prec) + 1] = prec
    mrec = np.zeros([1, 2 + len(rec)])
    mrec[0, 1 : len(rec) + 1] = rec
    mrec[0, len(rec) + 1] = 1.0
    for i in range(mpre.size - 2, -1, -1):
        mpre[0, i] = max(mpre[0, i], mpre[0, i + 1])
    i = np.argwhere(~np.equal(mrec[0, 1:], mrec[0, : mrec.shape[1] - 1])) + 1
    i = i.flatten()
    return np.sum(np.multiply(np.subtract(mrec[0, i], mrec[0, i - 1]), mpre[0, i]))


def evaluate_ap(gt_frames, pr_frames):
    """Per-joint AP (15,) in poseval's joint order, and the total (mean of the non-NaN ones)."""
    gt_frames, pr_frames = copy.deepcopy(gt_frames), copy.deepcopy(pr_frames)
    gt_frames, pr_frames = cleanup(gt_frames, pr_frames)
    gt_frames, pr_frames = remove_ignored_points(gt_frames, pr_frames)
    scores_all, labels_all, n_gt_all = assign_gt_multi(gt_frames, pr_frames)
    ap = np.zeros(N_JOINTS)
    for j in range(N_JOINTS):
        scores = np.zeros([0, 0], dtype=np.float32)
        labels = np.zeros([0, 0], dtype=np.int8)
        for img in range(n_gt_all.shape[1]):
            scores = np.append(scores, scores_all[j][img])
            labels = np.append(labels, labels_all[j][img])
        precision, recall = compute_rpc(scores, labels, sum(n_gt_all[j, :]))
        if len(precision) > 0:
            with np.errstate(invalid="ignore"):
                ap[j] = voc_ap(recall, precision) * 100
    return ap, ap[~np.isnan(ap)].mean()


# convert.py: how poseval's load_data_dir turns a PoseTrack 2018/2021 file into the 2017 dicts above
# (``if (not "annolist" in data): data = convert_videos(data)[0]``): Video.from_new, Person.from_new,
# Image.from_new, then Video.to_old, Person.to_old, Image.to_old. The landmark-name table,
# bounding boxes, scores of people and frame ids, which AP does not read, are left out.
POSETRACK18_LM_NAMES = [
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "right_wrist", "right_elbow",
    "right_shoulder", "left_shoulder", "left_elbow", "left_wrist", "head_bottom", "nose", "head_top",
]  # fmt: skip


def person_from_new(person_info, conversion_table):
    person = {"track_id": person_info["track_id"], "rect_head": None}
    if "bbox_head" in person_info:
        b = person_info["bbox_head"]
        person["rect_head"] = {"x1": b[0], "x2": b[0] + b[2], "y1": b[1], "y2": b[1] + b[3]}
    landmark_scores = person_info.get("scores")
    person["landmarks"] = []
    for landmark_idx, landmark_info in enumerate(np.array(person_info["keypoints"]).reshape(len(conversion_table), 3)):
        landmark_idx_can = conversion_table[landmark_idx]
        if landmark_idx_can is not None:
            lm_info = {"y": landmark_info[1], "x": landmark_info[0], "id": landmark_idx_can,
                       "is_visible": landmark_info[2]}  # fmt: skip
            if landmark_scores:
                lm_info["score"] = landmark_scores[landmark_idx]
            person["landmarks"].append(lm_info)
    return person


def person_to_old(person):
    keypoints = []
    for landmark_info in person["landmarks"]:
        if (
            landmark_info["x"] == 0
            and landmark_info["y"] == 0
            and "is_visible" in landmark_info
            and landmark_info["is_visible"] == 0
        ):
            # "The points in new format are stored like this if they're unannotated."
            continue
        point = {"id": [landmark_info["id"]], "x": [landmark_info["x"]], "y": [landmark_info["y"]]}
        if "score" in landmark_info:
            point["score"] = [landmark_info["score"]]
        if "is_visible" in landmark_info:
            point["is_visible"] = [landmark_info["is_visible"]]
        keypoints.append(point)
    ret = {"track_id": [person["track_id"]], "annopoints": [{"point": keypoints}]}
    if person["rect_head"]:
        for k in ("x1", "x2", "y1", "y2"):
            ret[k] = [person["rect_head"][k]]
    return ret


def convert_first_video(track_data):
    """``convert_videos(data)[0]["annolist"]`` for a PoseTrack 2018/2021 dict."""
    import os.path as path

    conversion_table = [
        POSETRACK18_LM_NAMES.index(n) if n in POSETRACK18_LM_NAMES else None
        for n in track_data["categories"][0]["keypoints"]
    ]
    videos, video_of = [], {}
    for image_id in [image["id"] for image in track_data["images"]]:
        image_info = [im for im in track_data["images"] if im["id"] == image_id][0]  # noqa: RUF015 (as convert.py)
        video_id = path.basename(path.dirname(image_info["file_name"])).split("_")[0]
        if video_id not in video_of:
            video_of[video_id] = []
            videos.append(video_of[video_id])
        image = {"people": [], "ignore_regions": None}
        if "ignore_regions_x" in image_info and "ignore_regions_y" in image_info:
            image["ignore_regions"] = (image_info["ignore_regions_x"], image_info["ignore_regions_y"])
        video_of[video_id].append(image)
        for person_info in track_data["annotations"]:
            if person_info["image_id"] != image_id:
                continue
            image["people"].append(person_from_new(person_info, conversion_table))
    annolist = []
    for image in videos[0]:
        elem = {}
        if image["ignore_regions"]:
            ir_list = []
            for plist_x, plist_y in zip(image["ignore_regions"][0], image["ignore_regions"][1]):
                ir_list.append({"point": [{"x": [x], "y": [y]} for x, y in zip(plist_x, plist_y)]})
            if ir_list:
                elem["ignore_regions"] = ir_list
        elem["annorect"] = [person_to_old(p) for p in image["people"]]
        annolist.append(elem)
    return annolist


def load_video_files(gt_datas, pr_datas):
    """load_data_dir on the loaded JSON of each video file (in the given order): the frames of all
    files, 2017 files as they are, 2018/2021 ones converted; a missing score is MIN_SCORE."""
    gt_all, pr_all = [], []
    for gt, pr in zip(gt_datas, pr_datas):
        gt = copy.deepcopy(gt)["annolist"] if "annolist" in gt else convert_first_video(gt)
        pr = copy.deepcopy(pr)["annolist"] if "annolist" in pr else convert_first_video(pr)
        assert len(pr) == len(gt)
        gt_all += gt
        pr_all += pr
    for frame in pr_all:
        for rect in frame["annorect"]:
            for point in rect.get("annopoints", [{}])[0].get("point", []):
                point.setdefault("score", [-9999])  # assignGTmulti: MIN_SCORE
    return gt_all, pr_all
