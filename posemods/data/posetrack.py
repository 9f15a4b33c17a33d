"""PoseTrack 2017 / 2018 / 2021 readers, told apart by content.

Three official layouts, each read as poseval reads it (github:leonid-pishchulin/poseval, commit
4258a1575b9f2ddd0bdb85f74557235ab5df0f52, ``poseval/convert.py``):

- **PoseTrack 2017**: ``{"annolist": [{"image": [{"name"}], "annorect": [{"track_id": [t], "x1",
  "y1", "x2", "y2" (the head box), "annopoints": [{"point": [{"id": [j], "x": [x], "y": [y],
  "is_visible": [v]}]}]}], "is_labeled": [1], "ignore_regions": [{"point": [{"x": [x], "y":
  [y]}]}]}]}``, joint ids in poseval's order (``POSETRACK18_LM_NAMES``: 0 right_ankle ... 12
  head_bottom, 13 nose, 14 head_top). A listed point is annotated. The person box, which 2017 does
  not store, is poseval's ``from_old`` box: the joints' extent scaled by 1.3 about its centre.
- **PoseTrack 2018**: ``{"images": [{"id", "file_name", "frame_id", "vid_id", "is_labeled",
  "ignore_regions_x", "ignore_regions_y"}], "annotations": [{"image_id", "track_id", "keypoints"
  (17 x (x, y, v)), "bbox" and "bbox_head" (x, y, w, h)}], "categories": [{"keypoints": 17 names}]}``
  in :data:`posemods.skeletons.POSETRACK_17` order.
- **PoseTrack 2021**: the 2018 layout plus ``person_id`` per annotation and ``has_labeled_person``
  per image (bounding boxes without joints in unlabelled frames).

A joint of the 2018/2021 layouts is annotated unless it is stored as ``x == 0 and y == 0 and v ==
0``, which is what poseval's ``to_old`` skips ("The points in new format are stored like this if
they're unannotated"): a joint with visibility 0 at real coordinates is annotated and scored.
PoseTrack does not separate occluded from visible joints, so ``visibility`` equals ``annotated``.

Person identity is per video: a file holding several videos (``vid_id``, or the folder of
``file_name``) gives each video's tracks their own records, so two videos sharing a ``track_id``
never merge (poseval offsets track ids by ``i*MAX_TRACK_ID`` per sequence for the same reason).
Anything else is refused with an error that names the file and what was expected. Only the
standard library and numpy are needed.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import numpy as np

from posemods.data._files import load_json
from posemods.data.registry import DatasetOptions, DatasetSpec, register_dataset
from posemods.data.video_dataset import VideoPoseDataset, VideoRecord, box_from_joints, fill_missing_boxes
from posemods.skeletons import POSETRACK_17

logger = logging.getLogger(__name__)
_J = POSETRACK_17.num_joints
# poseval convert.py POSETRACK18_LM_NAMES: the joint ids of the 2017 layout.
POSEVAL_JOINT_NAMES = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "right_wrist",
    "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist", "head_bottom", "nose", "head_top",
)  # fmt: skip
_FROM_POSEVAL = np.array([POSETRACK_17.index(n) for n in POSEVAL_JOINT_NAMES])


@dataclasses.dataclass
class _Person:
    track_id: int
    joints: np.ndarray  # (17, 2)
    annotated: np.ndarray  # (17,) bool
    bbox: np.ndarray  # (4,) x1 y1 x2 y2, NaN if none
    head: np.ndarray  # (4,) x1 y1 x2 y2, NaN if none


@dataclasses.dataclass
class _Frame:
    file_name: str
    is_labeled: bool
    people: list[_Person]
    ignore_regions: list[np.ndarray]
    position: int = 0  # where the file lists it: poseval's frame order, which decides ties in AP


@dataclasses.dataclass
class _Video:
    name: str
    frames: list[_Frame]


def posetrack_format(data, path: str | Path = "<json>") -> str:
    """``"2017"``, ``"2018"`` or ``"2021"`` from a loaded PoseTrack JSON's content, or a ValueError."""
    expected = "a JSON object with 'annolist' (PoseTrack 2017) or 'images' and 'annotations' (PoseTrack 2018/2021)"
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected {expected}, got a JSON {type(data).__name__}")
    if "annolist" in data:
        return "2017"
    if "images" in data and "annotations" in data:
        annotations, images = data["annotations"], data["images"]
        # The layouts are told apart before their values are checked: skip what is not a list here.
        annotations = annotations if isinstance(annotations, list) else []
        images = images if isinstance(images, list) else []
        if any(isinstance(a, dict) and "person_id" in a for a in annotations) or any(
            isinstance(im, dict) and "has_labeled_person" in im for im in images
        ):
            return "2021"
        return "2018"
    raise ValueError(f"{path}: expected {expected}, got the keys {sorted(data)}")


def _kind(value) -> str:
    """How a JSON value reads in an error message: its type and, if short, the value itself."""
    text = repr(value)
    return f"{type(value).__name__} {text}" if len(text) <= 40 else type(value).__name__


def _number(path, where: str, value, unwrap: bool = True) -> float:
    """A JSON number; ``unwrap`` takes the 2017 layout's ``[n]`` for ``n``."""
    value = value[0] if unwrap and isinstance(value, list) and len(value) == 1 else value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{path}: {where}: expected a number, got {_kind(value)}")
    return float(value)


def _integer(path, where: str, value, unwrap: bool = True) -> int:
    """A JSON integer (poseval's ids), ``n.0`` too; ``unwrap`` as for :func:`_number`."""
    number = _number(path, where, value, unwrap)
    if not number.is_integer():
        raise ValueError(f"{path}: {where}: expected an integer, got {_kind(value)}")
    return int(number)


def _numbers(path, where: str, value, count: int | None = None) -> np.ndarray:
    """A JSON list of numbers (``count`` of them if given) as float64, or a ValueError naming the field."""
    if not isinstance(value, list):
        raise ValueError(f"{path}: {where}: expected a list of numbers, got {_kind(value)}")
    if count is not None and len(value) != count:
        raise ValueError(f"{path}: {where}: expected {count} numbers, got {len(value)}")
    return np.array([_number(path, f"{where}[{i}]", v) for i, v in enumerate(value)], dtype=np.float64)


def _objects(path, where: str, value) -> list[dict]:
    """A JSON list of objects (``None`` reads as empty), or a ValueError naming the field."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError(f"{path}: {where}: expected a list of objects, got {_kind(value)}")
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            raise ValueError(f"{path}: {where}[{i}]: expected an object, got {_kind(item)}")
    return value


def _flag(path, where: str, value) -> bool:
    """``is_labeled``: JSON true/false, 0/1 or the 2017 layout's ``[1]``."""
    value = value[0] if isinstance(value, list) and len(value) == 1 else value
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ValueError(f"{path}: {where}: expected true/false (or 0/1), got {_kind(value)}")


def _text(path, where: str, value) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{path}: {where}: expected a string, got {_kind(value)}")
    return value


def _xywh_to_xyxy(path, where: str, box) -> np.ndarray:
    x, y, w, h = _numbers(path, where, box, 4)
    return np.array([x, y, x + w, y + h])


def _poseval_box(joints: np.ndarray, annotated: np.ndarray) -> np.ndarray:
    """convert.py from_old: ``x1_final = x_center - x_extent * 0.65`` ... around the annotated joints."""
    box = box_from_joints(joints, annotated)
    if not np.isfinite(box).all():
        return box
    center, extent = (box[:2] + box[2:]) / 2, box[2:] - box[:2]
    return np.concatenate((center - 0.65 * extent, center + 0.65 * extent))


def _read_2017(path: Path, data: dict) -> list[_Video]:
    annolist = data["annolist"]
    if not isinstance(annolist, list):
        raise ValueError(f"{path}: expected 'annolist' to be a list of frames, got {type(annolist).__name__}")
    frames = []
    for i, entry in enumerate(_objects(path, "annolist", annolist)):
        where = f"annolist[{i}]"
        try:
            name = entry["image"][0]["name"]
        except (KeyError, IndexError, TypeError):
            raise ValueError(f"{path}: {where}: expected 'image': [{{'name': ...}}]") from None
        name = _text(path, f"{where}.image[0].name", name)
        people = []
        for r, rect in enumerate(_objects(path, f"{where}.annorect", entry.get("annorect"))):
            at = f"{where}.annorect[{r}]"
            joints, annotated = np.zeros((_J, 2)), np.zeros(_J, dtype=bool)
            annopoints = _objects(path, f"{at}.annopoints", rect.get("annopoints")) or [{}]
            for p, point in enumerate(_objects(path, f"{at}.annopoints[0].point", annopoints[0].get("point"))):
                there = f"{at}.annopoints[0].point[{p}]"
                j = _integer(path, f"{there}.id", point.get("id"))
                if not 0 <= j < len(POSEVAL_JOINT_NAMES):
                    raise ValueError(f"{path}: {there}.id: joint id {j} outside poseval's 0..14")
                k = _FROM_POSEVAL[j]
                if annotated[k]:
                    continue  # eval_helpers.getPointGTbyID takes the first point of an id (``break``)
                joints[k] = (_number(path, f"{there}.x", point.get("x")), _number(path, f"{there}.y", point.get("y")))
                annotated[k] = True
            head = np.full(4, np.nan)
            if all(key in rect for key in ("x1", "y1", "x2", "y2")):
                head = np.array([_number(path, f"{at}.{k}", rect[k]) for k in ("x1", "y1", "x2", "y2")])
            # Without a track id each person is its own track (never merged across frames).
            track = rect.get("track_id", [-1 - sum(len(fr.people) for fr in frames) - r])
            people.append(
                _Person(
                    _integer(path, f"{at}.track_id", track), joints, annotated, _poseval_box(joints, annotated), head
                )
            )
        regions = []
        for g, region in enumerate(_objects(path, f"{where}.ignore_regions", entry.get("ignore_regions"))):
            points = _objects(path, f"{where}.ignore_regions[{g}].point", region.get("point"))
            there = f"{where}.ignore_regions[{g}].point"
            regions.append(
                np.array(
                    [(_number(path, f"{there}[{p}].x", q.get("x")), _number(path, f"{there}[{p}].y", q.get("y")))
                     for p, q in enumerate(points)],
                    dtype=np.float64,
                ).reshape(-1, 2)
            )  # fmt: skip
        labeled = _flag(path, f"{where}.is_labeled", entry.get("is_labeled", [1 if people else 0]))
        frames.append(_Frame(name, labeled, people, regions, i))
    if not frames:
        return []
    return [_Video(Path(frames[0].file_name).parent.name, frames)]


def _read_2018(path: Path, data: dict) -> list[_Video]:
    categories = _objects(path, "categories", data.get("categories"))
    names = categories[0].get("keypoints") if categories else None
    if names is not None and (not isinstance(names, list) or tuple(names) != POSETRACK_17.joint_names):
        raise ValueError(
            f"{path}: categories[0].keypoints: keypoint names {names} are not PoseTrack's {POSETRACK_17.joint_names}"
        )
    for key in ("images", "annotations"):
        if data[key] is None:
            raise ValueError(f"{path}: {key}: expected a list of objects, got None")
    images = _objects(path, "images", data["images"])
    annotations = _objects(path, "annotations", data["annotations"])
    for i, im in enumerate(images):
        missing = [k for k in ("id", "file_name") if k not in im]
        if missing:
            raise ValueError(f"{path}: images[{i}] has no {missing}; every image needs 'id' and 'file_name'")
        # Ids and frame ids are integers in every official file; checked here because they are
        # dictionary keys and sort keys below, where a list or a string would fail cryptically.
        _integer(path, f"images[{i}].id", im["id"], unwrap=False)
        _text(path, f"images[{i}].file_name", im["file_name"])
        if im.get("frame_id") is not None:
            _integer(path, f"images[{i}].frame_id", im["frame_id"], unwrap=False)
        if im.get("vid_id") is not None and (
            isinstance(im["vid_id"], bool) or not isinstance(im["vid_id"], (int, str))
        ):
            raise ValueError(f"{path}: images[{i}].vid_id: expected a string or an integer, got {_kind(im['vid_id'])}")
    by_id = {im["id"]: im for im in images}
    people: dict = {im["id"]: [] for im in images}
    for a, ann in enumerate(annotations):
        image_id = ann.get("image_id")
        if isinstance(image_id, (list, dict)) or image_id not in by_id:
            raise ValueError(f"{path}: annotations[{a}] refers to image_id {image_id!r}, not in 'images'")
        kp = ann.get("keypoints") or [0.0] * (3 * _J)
        if isinstance(kp, list) and len(kp) != 3 * _J:
            raise ValueError(
                f"{path}: annotations[{a}]: expected {3 * _J} keypoint values (17 x (x, y, v)), got {len(kp)}"
            )
        kp = _numbers(path, f"annotations[{a}].keypoints", kp, 3 * _J).reshape(_J, 3)
        # convert.py to_old: skip `x == 0 and y == 0 and is_visible == 0`, keep every other point.
        annotated = ~((kp[:, 0] == 0) & (kp[:, 1] == 0) & (kp[:, 2] == 0))
        for box_key in ("bbox", "bbox_head"):
            if isinstance(ann.get(box_key), list) and ann[box_key] and len(ann[box_key]) != 4:
                raise ValueError(f"{path}: annotations[{a}]: expected {box_key!r} as (x, y, w, h), got {ann[box_key]}")
        bbox = (
            _xywh_to_xyxy(path, f"annotations[{a}].bbox", ann["bbox"])
            if ann.get("bbox")
            else box_from_joints(kp[:, :2], annotated)
        )
        head = (
            _xywh_to_xyxy(path, f"annotations[{a}].bbox_head", ann["bbox_head"])
            if ann.get("bbox_head")
            else np.full(4, np.nan)
        )
        track = (
            _integer(path, f"annotations[{a}].track_id", ann["track_id"], unwrap=False)
            if ann.get("track_id") is not None
            else -1 - a
        )
        people[image_id].append(_Person(track, kp[:, :2].copy(), annotated, bbox, head))
    videos: dict[str, list[dict]] = {}
    position = {id(im): i for i, im in enumerate(images)}
    for im in images:
        key = str(im["vid_id"]) if im.get("vid_id") is not None else Path(im["file_name"]).parent.name
        videos.setdefault(key, []).append(im)
    out = []
    for name, ims in videos.items():
        ims = sorted(ims, key=lambda im: (im["frame_id"] if im.get("frame_id") is not None else im["id"], im["id"]))
        frames = []
        for im in ims:
            i = position[id(im)]
            xs = im.get("ignore_regions_x") or []
            ys = im.get("ignore_regions_y") or []
            for key, value in (("ignore_regions_x", xs), ("ignore_regions_y", ys)):
                if not isinstance(value, list):
                    raise ValueError(
                        f"{path}: images[{i}].{key}: expected a list of lists of numbers, got {_kind(value)}"
                    )
            if len(xs) != len(ys):
                raise ValueError(f"{path}: image {im['id']}: {len(xs)} ignore_regions_x but {len(ys)} ignore_regions_y")
            regions = []
            for g, (x, y) in enumerate(zip(xs, ys)):
                x = _numbers(path, f"images[{i}].ignore_regions_x[{g}]", x)
                y = _numbers(path, f"images[{i}].ignore_regions_y[{g}]", y)
                if len(x) != len(y):
                    raise ValueError(f"{path}: image {im['id']}: an ignore region with {len(x)} x but {len(y)} y")
                regions.append(np.stack((x, y), -1).reshape(-1, 2))
            labeled = _flag(path, f"images[{i}].is_labeled", im.get("is_labeled", True))
            frames.append(_Frame(im["file_name"], labeled, people[im["id"]], regions, i))
        out.append(_Video(name, frames))
    return out


def read_posetrack_videos(path: str | Path) -> tuple[str, list[_Video]]:
    """The format and the videos of one PoseTrack JSON (see the module docstring)."""
    path = Path(path)
    data = load_json(path)
    fmt = posetrack_format(data, path)
    return fmt, (_read_2017(path, data) if fmt == "2017" else _read_2018(path, data))


def read_posetrack(root: str | Path, annotation_dir: str | Path) -> list[VideoRecord]:
    """One record per person track and video; ``key_frames`` are the track's labelled frames."""
    root = Path(root)
    files = sorted(Path(annotation_dir).glob("*.json"))
    if not files:
        raise FileNotFoundError(f"annotation_dir: no *.json in {annotation_dir}")
    records = []
    for path in files:
        _, videos = read_posetrack_videos(path)
        for video in videos:
            prefix = path.stem if len(videos) == 1 else f"{path.stem}/{video.name}"
            frame_paths = [root / frame.file_name for frame in video.frames]
            n = len(video.frames)
            tracks: dict[int, list[tuple[int, _Person]]] = {}
            for i, frame in enumerate(video.frames):
                if frame.is_labeled:
                    for person in frame.people:
                        if person.annotated.any():
                            tracks.setdefault(person.track_id, []).append((i, person))
            for track_id, people in sorted(tracks.items()):
                joints, annotated = np.zeros((n, _J, 2)), np.zeros((n, _J))
                bbox = np.full((n, 4), np.nan)
                keys = []
                for i, person in people:
                    joints[i], annotated[i] = person.joints, person.annotated
                    if np.isfinite(person.bbox).all():
                        bbox[i] = person.bbox
                        keys.append(i)
                if keys:
                    records.append(
                        VideoRecord(
                            f"{prefix}/{track_id}",
                            frame_paths,
                            joints,
                            annotated.copy(),
                            annotated,
                            fill_missing_boxes(bbox),
                            sorted(keys),
                        )
                    )
    return records


def read_posetrack_frames(path: str | Path, root: str | Path | None = None) -> list[dict]:
    """Ground truth of one file's evaluated frames for :func:`posemods.metrics.posetrack_map`.

    Returns one dict per frame that is labelled or has people (poseval's ``cleanupData`` later
    drops the frames without people): ``{"image": file name, "keypoints": (P, 17, 2), "annotated":
    (P, 17) bool, "head_box": (P, 4) (x1, y1, x2, y2), NaN where the file has none, "ignore_regions":
    [(K, 2) polygons]}``. Every person of the frame is listed, also one without annotated joints:
    poseval keeps such a frame and counts its predictions as false positives. Frames come in
    poseval's order (convert.py ``from_new``: videos as they first appear, each video's frames as the
    file lists them), which decides how tied scores are ranked.

    A file holding several videos gives all of them, with a warning: poseval's ``load_data_dir``
    keeps only the first (``data = convert_videos(data)[0]``) and would score the others' frames as
    if they were not there. The official files hold one video each, where the two agree.
    """
    _, videos = read_posetrack_videos(path)
    if len(videos) > 1:
        logger.warning(
            "%s holds %d videos; all are evaluated, where poseval's load_data_dir would keep only the first (%s)",
            path, len(videos), videos[0].name,
        )  # fmt: skip
    frames = []
    for video in videos:
        for frame in sorted(video.frames, key=lambda fr: fr.position):
            if not (frame.is_labeled or frame.people):
                continue
            # poseval builds shapely polygons only for the frames cleanupData keeps (with people).
            for region in frame.ignore_regions if frame.people else ():
                if 0 < len(region) < 3:
                    raise ValueError(
                        f"{path}: frame {frame.file_name}: an ignore region of {len(region)} points; poseval's "
                        "shapely.Polygon needs at least 3 (or none)"
                    )
            people = frame.people
            frames.append(
                {
                    "image": str(Path(root) / frame.file_name) if root is not None else frame.file_name,
                    "keypoints": np.asarray([p.joints for p in people], dtype=np.float64).reshape(-1, _J, 2),
                    "annotated": np.asarray([p.annotated for p in people], dtype=bool).reshape(-1, _J),
                    "head_box": np.asarray([p.head for p in people], dtype=np.float64).reshape(-1, 4),
                    "ignore_regions": list(frame.ignore_regions),
                }
            )
    return frames


class PoseTrack(VideoPoseDataset):
    """PoseTrack person-track clips around each labelled frame, following the clip contract.

    Unlabelled neighbour frames come with ``annotated = 0``; evaluation items score only their key
    frame. See :class:`VideoPoseDataset` for the options.
    """

    def __init__(self, root: str | Path, annotation_dir: str | Path, train: bool = True, **kwargs) -> None:
        super().__init__(read_posetrack(root, annotation_dir), POSETRACK_17, train=train, **kwargs)


def _build(options: DatasetOptions, train: bool) -> PoseTrack:
    annotation_dir = Path(options.annotations) / ("train" if train else "val")
    return PoseTrack(options.data_root, annotation_dir, train=train, **options.video_kwargs())


register_dataset(
    DatasetSpec(
        "posetrack",
        _build,
        layout="posetrack",
        protocol="poseval",
        description="PoseTrack 2017/2018/2021, 17 joints, images under --data-root, labels under --annotations",
        split_rule="ANNOTATIONS/train for training and ANNOTATIONS/val for evaluation",
        requires={
            "data_root": "PoseTrack's image root, where the files' image paths start",
            "annotations": "the folder of per-video JSON files, with train/ and val/",
        },
        # The top-down crop of PoseTrack's models (VREMD, and the HRNet line it builds on): H x W = 4 x 3.
        defaults={"input_size": (256, 192)},
    )
)
