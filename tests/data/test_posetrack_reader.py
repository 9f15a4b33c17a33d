"""PoseTrack 2017 / 2018 / 2021 files written as JSON in each release's layout, one test per quirk."""

import json

import numpy as np
import pytest

from posemods.data import read_posetrack, read_posetrack_frames
from posemods.data.posetrack import POSEVAL_JOINT_NAMES, posetrack_format
from posemods.metrics import posetrack_map
from posemods.skeletons import POSETRACK_17

J = 17


def keypoints(rng, zero=()):
    kp = np.concatenate((rng.integers(5, 60, (J, 2)).astype(float), np.ones((J, 1))), 1)
    kp[[3, 4]] = 0  # the ears are never labelled
    kp[list(zero)] = 0
    return kp


def new_layout(videos, year=2018):
    """videos: {vid_id: [(frame index, [(track_id, keypoints (17, 3))])]}, in the 2018 (or 2021) layout."""
    images, annotations = [], []
    for vid, frames in videos.items():
        for i, people in frames:
            image_id = int(f"1{vid}{i:04d}")
            image = {
                "id": image_id,
                "file_name": f"images/val/{vid}_mpii_test/{i:06d}.jpg",
                "frame_id": image_id,
                "vid_id": vid,
                "is_labeled": bool(people),
                "ignore_regions_x": [],
                "ignore_regions_y": [],
            }
            if year == 2021:
                image["has_labeled_person"] = bool(people)
            images.append(image)
            for track, kp in people:
                ann = {
                    "id": len(annotations),
                    "image_id": image_id,
                    "track_id": track,
                    "category_id": 1,
                    "keypoints": kp.reshape(-1).tolist(),
                    "bbox": [1, 1, 60, 60],
                    "bbox_head": [0, 0, 30, 40],
                }
                if year == 2021:
                    ann["person_id"] = 1000 + track
                annotations.append(ann)
    return {"images": images, "annotations": annotations,
            "categories": [{"name": "person", "keypoints": list(POSETRACK_17.joint_names)}]}  # fmt: skip


def write(tmp_path, data, name="000001_mpii_test.json"):
    folder = tmp_path / "annotations"
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(json.dumps(data) if not isinstance(data, str) else data)
    return folder / name


def test_the_three_layouts_are_told_apart_by_content(tmp_path):
    rng = np.random.default_rng(0)
    assert posetrack_format(new_layout({"000001": [(0, [(1, keypoints(rng))])]})) == "2018"
    assert posetrack_format(new_layout({"000001": [(0, [(1, keypoints(rng))])]}, 2021)) == "2021"
    assert posetrack_format({"annolist": []}) == "2017"
    with pytest.raises(ValueError, match=r"x\.json: expected a JSON object with 'annolist'.*got the keys \['foo'\]"):
        posetrack_format({"foo": 1}, "x.json")


def test_a_posetrack_2017_annolist_file_reads_like_its_2018_conversion(tmp_path):
    rng = np.random.default_rng(1)
    kp = keypoints(rng)
    points = [
        {"id": [i], "x": [kp[POSETRACK_17.index(n), 0]], "y": [kp[POSETRACK_17.index(n), 1]], "is_visible": [1]}
        for i, n in enumerate(POSEVAL_JOINT_NAMES)
    ]
    annolist = {"annolist": [
        {"image": [{"name": "images/bonn/000001_bonn/00000001.jpg"}], "imgnum": [1], "is_labeled": [1],
         "annorect": [{"track_id": [4], "x1": [0], "y1": [0], "x2": [30], "y2": [40],
                       "annopoints": [{"point": points}]}],
         "ignore_regions": [{"point": [{"x": [0], "y": [0]}, {"x": [9], "y": [0]}, {"x": [9], "y": [9]}]}]},
        {"image": [{"name": "images/bonn/000001_bonn/00000002.jpg"}], "imgnum": [2], "is_labeled": [0], "annorect": []},
    ]}  # fmt: skip
    path = write(tmp_path, annolist)
    (frame,) = read_posetrack_frames(path)
    assert frame["image"].endswith("00000001.jpg")
    scored = list(POSETRACK_17.scored_index)
    np.testing.assert_array_equal(frame["keypoints"][0, scored], kp[scored, :2])
    assert frame["annotated"][0].sum() == 15 and frame["head_box"].tolist() == [[0, 0, 30, 40]]
    assert frame["ignore_regions"][0].tolist() == [[0, 0], [9, 0], [9, 9]]
    (record,) = read_posetrack(tmp_path, tmp_path / "annotations")
    assert record.name == "000001_mpii_test/4" and record.key_frames == [0] and len(record.frame_paths) == 2


def test_a_2021_file_reads_with_its_extra_fields(tmp_path):
    rng = np.random.default_rng(2)
    path = write(tmp_path, new_layout({"000002": [(0, [(1, keypoints(rng))]), (1, [])]}, 2021))
    frames = read_posetrack_frames(path)
    assert len(frames) == 1 and frames[0]["annotated"].sum() == 15


def test_videos_in_one_file_keep_their_own_people(tmp_path):
    rng = np.random.default_rng(3)
    # Two videos in one file, both with a person of track_id 0.
    data = new_layout({"000010": [(0, [(0, keypoints(rng))]), (1, [(0, keypoints(rng))])],
                       "000020": [(0, [(0, keypoints(rng))]), (1, [])]})  # fmt: skip
    write(tmp_path, data)
    records = read_posetrack(tmp_path, tmp_path / "annotations")
    assert [r.name for r in records] == ["000001_mpii_test/000010/0", "000001_mpii_test/000020/0"]
    assert all(str(p).count("000010_mpii") for p in records[0].frame_paths)
    assert all(str(p).count("000020_mpii") for p in records[1].frame_paths)
    assert records[0].key_frames == [0, 1] and records[1].key_frames == [0]


def test_visibility_zero_at_real_coordinates_is_annotated(tmp_path):
    # convert.py to_old skips a point only if x == 0 and y == 0 and is_visible == 0.
    kp = keypoints(np.random.default_rng(4))
    kp[POSETRACK_17.index("left_wrist"), 2] = 0  # occluded, real coordinates: annotated
    kp[POSETRACK_17.index("right_wrist")] = 0  # (0, 0, 0): unannotated
    path = write(tmp_path, new_layout({"000001": [(0, [(1, kp)])]}))
    (frame,) = read_posetrack_frames(path)
    assert frame["annotated"][0, POSETRACK_17.index("left_wrist")]
    assert not frame["annotated"][0, POSETRACK_17.index("right_wrist")]
    assert frame["annotated"].sum() == 14


def test_a_person_without_annotated_joints_keeps_the_frame_and_its_false_positives(tmp_path):
    rng = np.random.default_rng(5)
    a = keypoints(rng)
    nobody = keypoints(rng, zero=range(J))
    path = write(tmp_path, new_layout({"000001": [(0, [(1, a)]), (1, [(2, nobody)])]}))
    frames = read_posetrack_frames(path)
    assert [len(f["keypoints"]) for f in frames] == [1, 1] and not frames[1]["annotated"].any()
    pred = [
        {"keypoints": a[None, :, :2], "scores": np.full((1, J), 0.5)},
        {"keypoints": a[None, :, :2], "scores": np.full((1, J), 0.9)},  # a false positive, ranked first
    ]
    assert posetrack_map(frames, pred)["Mean"] == pytest.approx(50.0)


def test_bad_files_are_named_with_what_is_wrong(tmp_path):
    rng = np.random.default_rng(6)
    good = new_layout({"000001": [(0, [(1, keypoints(rng))])]})
    path = write(tmp_path, json.dumps(good)[:-40])
    with pytest.raises(ValueError, match=r"000001_mpii_test\.json: not valid JSON"):
        read_posetrack_frames(path)
    write(tmp_path, [good])
    with pytest.raises(ValueError, match=r"000001_mpii_test\.json: expected a JSON object.*got a JSON list"):
        read_posetrack_frames(path)
    no_id = json.loads(json.dumps(good))
    del no_id["images"][0]["id"]
    write(tmp_path, no_id)
    with pytest.raises(ValueError, match=r"000001_mpii_test\.json: images\[0\] has no \['id'\]"):
        read_posetrack(tmp_path, tmp_path / "annotations")
    short = json.loads(json.dumps(good))
    short["annotations"][0]["keypoints"] = short["annotations"][0]["keypoints"][:45]
    write(tmp_path, short)
    with pytest.raises(
        ValueError, match=r"000001_mpii_test\.json: annotations\[0\]: expected 51 keypoint values.*got 45"
    ):
        read_posetrack_frames(path)


def _set(doc, where, value):
    node = doc
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = value
    return doc


# Each a 2018 file with one value of the wrong type, as the fuzz harness (tests/fuzz, --area readers) found them
# raising AttributeError / int('') / "not subscriptable" / "not iterable" (issue 15: "each error names the
# file and what is wrong"): the error names the file, the field and what it expected and got.
WRONG_TYPES = [
    (("categories", 0), [], r"categories\[0\]: expected an object, got list"),
    (("categories", 0), "a", r"categories\[0\]: expected an object, got str 'a'"),
    (("categories",), 0.5, r"categories: expected a list of objects, got float 0.5"),
    (("categories", 0, "keypoints"), 3, r"categories\[0\]\.keypoints: keypoint names 3 are not PoseTrack's"),
    (("images", 0, "frame_id"), "", r"images\[0\]\.frame_id: expected a number, got str ''"),
    (("images", 0, "frame_id"), 1.5, r"images\[0\]\.frame_id: expected an integer, got float 1.5"),
    (("images", 0, "id"), [1], r"images\[0\]\.id: expected a number, got list"),
    (("images", 0, "file_name"), 7, r"images\[0\]\.file_name: expected a string, got int 7"),
    (("images", 0, "vid_id"), [], r"images\[0\]\.vid_id: expected a string or an integer, got list"),
    (("images", 0, "is_labeled"), "yes", r"images\[0\]\.is_labeled: expected true/false \(or 0/1\), got str"),
    (("images", 0, "ignore_regions_x"), 3, r"images\[0\]\.ignore_regions_x: expected a list of lists"),
    (
        ("images", 0, "ignore_regions_x", 0, 1),
        "a",
        r"images\[0\]\.ignore_regions_x\[0\]\[1\]: expected a number, got str",
    ),
    (("images",), 3, r"images: expected a list of objects, got int 3"),
    (("images", 0), None, r"images\[0\]: expected an object, got NoneType"),
    (("annotations", 0, "track_id"), "", r"annotations\[0\]\.track_id: expected a number, got str ''"),
    (("annotations", 0, "image_id"), [1], r"annotations\[0\] refers to image_id \[1\], not in 'images'"),
    (("annotations", 0, "keypoints"), 5.0, r"annotations\[0\]\.keypoints: expected a list of numbers, got float"),
    (("annotations", 0, "keypoints", 4), "a", r"annotations\[0\]\.keypoints\[4\]: expected a number, got str"),
    (("annotations", 0, "bbox"), "abcd", r"annotations\[0\]\.bbox: expected a list of numbers, got str"),
    (("annotations", 0, "bbox_head", 2), None, r"annotations\[0\]\.bbox_head\[2\]: expected a number, got None"),
    (("annotations",), 3, r"annotations: expected a list of objects, got int 3"),
]


@pytest.mark.parametrize("where, value, message", WRONG_TYPES, ids=[f"{w}={v!r}" for w, v, _ in WRONG_TYPES])
def test_a_2018_value_of_the_wrong_type_names_the_file_and_the_field(tmp_path, where, value, message):
    rng = np.random.default_rng(8)
    doc = new_layout({"000001": [(0, [(1, keypoints(rng))])]})
    doc["images"][0].update(ignore_regions_x=[[0, 9, 9]], ignore_regions_y=[[0, 0, 9]])
    assert len(read_posetrack_frames(write(tmp_path, doc))) == 1  # the unchanged file reads
    path = write(tmp_path, _set(doc, where, value))
    with pytest.raises(ValueError, match=r"000001_mpii_test\.json: " + message):
        read_posetrack_frames(path)


WRONG_TYPES_2017 = [
    (("annolist", 0), 3, r"annolist\[0\]: expected an object, got int 3"),
    (("annolist", 0, "image", 0, "name"), 5, r"annolist\[0\]\.image\[0\]\.name: expected a string, got int 5"),
    (("annolist", 0, "annorect"), 4, r"annolist\[0\]\.annorect: expected a list of objects, got int 4"),
    (("annolist", 0, "annorect", 0, "annopoints"), "a", r"annorect\[0\]\.annopoints: expected a list of objects"),
    (("annolist", 0, "annorect", 0, "annopoints", 0, "point", 0), 1, r"point\[0\]: expected an object, got int"),
    (("annolist", 0, "annorect", 0, "annopoints", 0, "point", 0, "id"), [0.5], r"point\[0\]\.id: expected an integer"),
    (("annolist", 0, "annorect", 0, "track_id"), [""], r"annorect\[0\]\.track_id: expected a number, got str ''"),
    (("annolist", 0, "ignore_regions", 0), [], r"ignore_regions\[0\]: expected an object, got list"),
    (("annolist", 0, "ignore_regions", 0, "point"), 2, r"ignore_regions\[0\]\.point: expected a list of objects"),
    (("annolist", 0, "is_labeled"), ["x"], r"annolist\[0\]\.is_labeled: expected true/false"),
]


@pytest.mark.parametrize(
    "where, value, message", WRONG_TYPES_2017, ids=[f"{w[-1]}={v!r}" for w, v, _ in WRONG_TYPES_2017]
)
def test_a_2017_value_of_the_wrong_type_names_the_file_and_the_field(tmp_path, where, value, message):
    annolist = {"annolist": [
        {"image": [{"name": "images/bonn/000001_bonn/00000001.jpg"}], "is_labeled": [1],
         "annorect": [{"track_id": [4], "x1": [0], "y1": [0], "x2": [30], "y2": [40],
                       "annopoints": [{"point": [{"id": [0], "x": [5], "y": [6], "is_visible": [1]}]}]}],
         "ignore_regions": [{"point": [{"x": [0], "y": [0]}, {"x": [9], "y": [0]}, {"x": [9], "y": [9]}]}]},
    ]}  # fmt: skip
    read_posetrack_frames(write(tmp_path, annolist))  # the unchanged file reads
    path = write(tmp_path, _set(annolist, where, value))
    with pytest.raises(ValueError, match=r"000001_mpii_test\.json: .*" + message):
        read_posetrack_frames(path)


def test_ground_truth_frames_keep_the_files_order_and_tracks_the_time_order(tmp_path):
    # poseval's from_new walks track_data["images"] as listed; the order of frames decides tied scores.
    rng = np.random.default_rng(7)
    data = new_layout({"000001": [(0, [(1, keypoints(rng))]), (1, [(1, keypoints(rng))])]})
    data["images"] = data["images"][::-1]
    path = write(tmp_path, data)
    assert [f["image"][-10:] for f in read_posetrack_frames(path)] == ["000001.jpg", "000000.jpg"]
    (record,) = read_posetrack(tmp_path, tmp_path / "annotations")
    assert [p.name for p in record.frame_paths] == ["000000.jpg", "000001.jpg"]


def test_an_ignore_region_of_two_points_names_the_file_and_frame(tmp_path):
    data = new_layout({"000001": [(0, [(1, keypoints(np.random.default_rng(8)))])]})
    data["images"][0]["ignore_regions_x"] = [[1, 5]]
    data["images"][0]["ignore_regions_y"] = [[1, 5]]
    path = write(tmp_path, data)
    with pytest.raises(ValueError, match=r"000001_mpii_test\.json: frame .*000000\.jpg: an ignore region of 2 points"):
        read_posetrack_frames(path)


def test_an_ignore_region_of_two_points_in_a_frame_without_people_is_read(tmp_path):
    # poseval's cleanupData drops the labelled frame without people before any shapely.Polygon is built.
    data = new_layout({"000001": [(0, [(1, keypoints(np.random.default_rng(9)))]), (1, [])]})
    data["images"][1]["is_labeled"] = True
    data["images"][1]["ignore_regions_x"] = [[1, 5]]
    data["images"][1]["ignore_regions_y"] = [[1, 5]]
    frames = read_posetrack_frames(write(tmp_path, data))
    assert [len(f["keypoints"]) for f in frames] == [1, 0]


def test_a_2017_joint_listed_twice_keeps_its_first_point(tmp_path):
    # eval_helpers.getPointGTbyID: the first point whose id matches (``break``) is the joint.
    first = {"id": [13], "x": [10], "y": [11], "is_visible": [1]}
    second = {"id": [13], "x": [50], "y": [51], "is_visible": [1]}
    annolist = {"annolist": [
        {"image": [{"name": "images/bonn/000001_bonn/00000001.jpg"}], "is_labeled": [1],
         "annorect": [{"track_id": [0], "x1": [0], "y1": [0], "x2": [30], "y2": [40],
                       "annopoints": [{"point": [first, second]}]}]},
    ]}  # fmt: skip
    (frame,) = read_posetrack_frames(write(tmp_path, annolist))
    assert frame["keypoints"][0, POSETRACK_17.index("nose")].tolist() == [10, 11]


def test_a_file_of_several_videos_gives_all_of_them_and_says_poseval_would_not(tmp_path, caplog):
    rng = np.random.default_rng(10)
    data = new_layout({"000010": [(0, [(0, keypoints(rng))])], "000020": [(0, [(0, keypoints(rng))])]})
    with caplog.at_level("WARNING", logger="posemods.data.posetrack"):
        frames = read_posetrack_frames(write(tmp_path, data))
    assert [f["image"].split("/")[2] for f in frames] == ["000010_mpii_test", "000020_mpii_test"]
    assert "holds 2 videos" in caplog.text and "only the first (000010)" in caplog.text
