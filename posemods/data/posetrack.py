"""PoseTrack 2017/18/21 reader: one COCO-style JSON per video.

A video's JSON (``annotations/{train,val}/<video>.json``) holds

- ``images``: every frame, ``{"id", "file_name" (relative to root), "frame_id", "is_labeled",
  "ignore_regions_x", "ignore_regions_y"}``;
- ``annotations``: one per person and labelled frame, ``{"image_id", "track_id", "keypoints"
  (17 x (x, y, v)), "bbox" (x, y, w, h), "bbox_head" (x, y, w, h)}``; ``v > 0`` marks an
  annotated joint (PoseTrack does not separate occluded from visible joints, so both count);
- ``categories[0]["keypoints"]``: the 17 names of :data:`posemods.skeletons.POSETRACK_17`.

The PoseTrack 2017 annotations converted to this format read the same way. Only the standard
library is needed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from posemods.data.video_dataset import VideoPoseDataset, VideoRecord, box_from_joints, fill_missing_boxes
from posemods.skeletons import POSETRACK_17

_J = POSETRACK_17.num_joints


def _load(path: Path) -> tuple[dict, list[dict]]:
    data = json.loads(Path(path).read_text())
    names = (data.get("categories") or [{}])[0].get("keypoints")
    if names is not None and tuple(names) != POSETRACK_17.joint_names:
        raise ValueError(f"{path}: keypoint names {names} are not PoseTrack's {POSETRACK_17.joint_names}")
    images = sorted(data["images"], key=lambda im: (im.get("frame_id", im["id"]), im["id"]))
    return data, images


def _keypoints(ann: dict) -> tuple[np.ndarray, np.ndarray]:
    kp = np.asarray(ann.get("keypoints") or [0.0] * (3 * _J), dtype=np.float64).reshape(_J, 3)
    return kp[:, :2], (kp[:, 2] > 0).astype(np.float64)


def _xywh_to_xyxy(box) -> np.ndarray:
    x, y, w, h = (float(v) for v in box)
    return np.array([x, y, x + w, y + h])


def read_posetrack(root: str | Path, annotation_dir: str | Path) -> list[VideoRecord]:
    """One record per person track; ``key_frames`` are the track's labelled frames."""
    root = Path(root)
    files = sorted(Path(annotation_dir).glob("*.json"))
    if not files:
        raise FileNotFoundError(f"annotation_dir: no *.json in {annotation_dir}")
    records = []
    for path in files:
        data, images = _load(path)
        index = {im["id"]: i for i, im in enumerate(images)}
        labeled = {im["id"] for im in images if im.get("is_labeled", True)}
        frame_paths = [root / im["file_name"] for im in images]
        n = len(images)
        tracks: dict[int, list[dict]] = {}
        for ann in data.get("annotations", []):
            if ann["image_id"] in labeled and ann.get("keypoints"):
                tracks.setdefault(int(ann.get("track_id", -1 - len(tracks))), []).append(ann)
        for track_id, anns in sorted(tracks.items()):
            joints = np.zeros((n, _J, 2))
            annotated = np.zeros((n, _J))
            bbox = np.full((n, 4), np.nan)
            keys = []
            for ann in anns:
                i = index[ann["image_id"]]
                joints[i], annotated[i] = _keypoints(ann)
                box = _xywh_to_xyxy(ann["bbox"]) if ann.get("bbox") else box_from_joints(joints[i], annotated[i])
                if annotated[i].any() and np.isfinite(box).all():
                    bbox[i] = box
                    keys.append(i)
            if keys:
                records.append(
                    VideoRecord(
                        f"{path.stem}/{track_id}",
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
    """Ground truth of one video's labelled frames for :func:`posemods.metrics.posetrack_map`.

    Returns one dict per labelled frame: ``{"image": file name, "keypoints": (P, 17, 2),
    "annotated": (P, 17) bool, "head_box": (P, 4) (x1, y1, x2, y2), "ignore_regions": [(K, 2)
    polygons]}``, people without annotated joints or head box left out.
    """
    data, images = _load(Path(path))
    by_image: dict[int, list[dict]] = {}
    for ann in data.get("annotations", []):
        by_image.setdefault(ann["image_id"], []).append(ann)
    frames = []
    for im in images:
        if not im.get("is_labeled", True):
            continue
        kps, ann_masks, heads = [], [], []
        for ann in by_image.get(im["id"], []):
            joints, annotated = _keypoints(ann)
            if annotated.any() and ann.get("bbox_head"):
                kps.append(joints)
                ann_masks.append(annotated > 0)
                heads.append(_xywh_to_xyxy(ann["bbox_head"]))
        regions = [
            np.stack((np.asarray(xs, dtype=np.float64), np.asarray(ys, dtype=np.float64)), axis=-1)
            for xs, ys in zip(im.get("ignore_regions_x", []), im.get("ignore_regions_y", []))
            if len(xs) >= 3
        ]
        frames.append(
            {
                "image": str(Path(root) / im["file_name"]) if root is not None else im["file_name"],
                "keypoints": np.asarray(kps, dtype=np.float64).reshape(-1, _J, 2),
                "annotated": np.asarray(ann_masks, dtype=bool).reshape(-1, _J),
                "head_box": np.asarray(heads, dtype=np.float64).reshape(-1, 4),
                "ignore_regions": regions,
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
