"""Penn Action reader: ``labels/NNNN.mat`` and ``frames/NNNN/NNNNNN.jpg``, as LSTMPM reads them.

Each ``labels/NNNN.mat`` holds ``x``, ``y`` and ``visibility`` (nframes, 13) in
:data:`posemods.skeletons.PENN_ACTION_13` order, ``bbox`` (nframes, 4) as (x1, y1, x2, y2),
``train`` (1: train, -1: test), ``nframes`` and ``dimensions`` (H, W, nframes). Needs scipy
(``pip install posemods[data]``). The reference is LSTMPM (github:lawy623/LSTM_Pose_Machines, commit
68a9212): ``dataset/PENN/PENN_PreData.m`` and ``testing/src/run_benchmark_GPU_PENN.m``.

Rules, and where each applies:

- **Which joints count.** The file's visibility decides, never a coordinate: LSTMPM counts a joint
  ``if(label(3,joints,frame)==1)``. Unlabelled joints are stored with visibility 0 at MATLAB's pixel
  (1, 1) after the dataset's rescaling (0.75, 0.6667, 1.0, ...), not at (0, 0), so ``visibility`` and
  ``annotated`` are both ``visibility == 1``: nothing else gets a heatmap target or a torso.
- **Evaluation boxes** (the clip's ``bbox`` and ``person_size``) are the file's, as LSTMPM's
  ``bodysize = max(bbox(frame,3)-bbox(frame,1),bbox(frame,4)-bbox(frame,2))``, kept also where w or
  h is zero or negative (PCK then counts those frames' joints as misses).
- **Short bbox arrays.** A video whose ``bbox`` has fewer rows than frames repeats its last row, as
  PENN_PreData.m does: "Bboxes of the last frame of sequence of 1865 and 1154 are missing. Manually
  add the bbox using the previous frame." A file without any box row takes the joints' extent.
- **Crop boxes** (training and evaluation crops only): a degenerate or non-finite box is replaced by
  the extent of the frame's visible joints (:attr:`VideoRecord.crop_bbox`), then by the nearest
  frame's, then by the whole image.

Coordinates are used as stored (prediction and label share them, so distances do not depend on
where pixel (0, 0) is).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np

from posemods._shapes import expect_choice
from posemods.data._files import load_mat, mat_array, require_scipy
from posemods.data.registry import DatasetOptions, DatasetSpec, register_dataset
from posemods.data.video_dataset import VideoPoseDataset, VideoRecord, box_from_joints, fill_missing_boxes
from posemods.skeletons import PENN_ACTION_13

logger = logging.getLogger(__name__)

_KEYS = ("x", "y", "visibility", "train")


def _scalar(path: Path, key: str, value) -> int:
    array = mat_array(path, key, value).reshape(-1)
    if len(array) == 0:
        raise ValueError(f"{path}: expected {key!r} to hold a number, got an empty array")
    return int(array[0])


def penn_boxes(bbox: np.ndarray, n: int) -> np.ndarray:
    """The evaluation boxes (n, 4) from a file's ``bbox`` rows: as stored, a short array repeating
    its last row (PENN_PreData.m's fix of videos 1154 and 1865), NaN where there is no row at all."""
    out = np.full((n, 4), np.nan)
    stored = bbox.reshape(-1, 4)[:n]
    out[: len(stored)] = stored
    if 0 < len(stored) < n:
        out[len(stored) :] = stored[-1]
    return out


def penn_crop_boxes(bbox: np.ndarray, joints: np.ndarray, visible: np.ndarray, image_hw) -> np.ndarray:
    """Boxes to crop around: ``bbox`` where it has a positive size, else the visible joints' extent,
    else the nearest frame's box, else the whole image (H, W)."""
    crop = bbox.copy()
    bad = ~np.isfinite(crop).all(1) | (crop[:, 2] <= crop[:, 0]) | (crop[:, 3] <= crop[:, 1])
    for i in np.flatnonzero(bad):
        box = box_from_joints(joints[i], visible[i])
        crop[i] = box if np.isfinite(box).all() and box[2] > box[0] and box[3] > box[1] else np.nan
    crop = fill_missing_boxes(crop)
    if not np.isfinite(crop).all():
        h, w = image_hw
        crop[~np.isfinite(crop).all(1)] = (0.0, 0.0, w - 1.0, h - 1.0)
    return crop


def read_penn_action(root: str | Path, split: str = "train") -> list[VideoRecord]:
    """Read the videos of ``split`` (``"train"``, ``"test"`` or ``"all"``) under ``root``."""
    expect_choice("split", split, ("train", "test", "all"))
    require_scipy()
    root = Path(root)
    labels = sorted((root / "labels").glob("*.mat"))
    if not labels:
        raise FileNotFoundError(f"root: no labels/*.mat under {root}")
    records = []
    for path in labels:
        mat = load_mat(path, _KEYS)
        flag = _scalar(path, "train", mat["train"])
        if split != "all" and (flag == 1) != (split == "train"):
            continue
        x, y = mat_array(path, "x", mat["x"], 2), mat_array(path, "y", mat["y"], 2)
        if x.shape[1] != PENN_ACTION_13.num_joints or x.shape != y.shape:
            raise ValueError(f"{path}: expected x and y of shape (nframes, 13), got {x.shape} and {y.shape}")
        stored_vis = mat_array(path, "visibility", mat["visibility"])
        if stored_vis.shape != x.shape:
            raise ValueError(f"{path}: expected visibility of shape {x.shape} like x, got {stored_vis.shape}")
        frames = sorted((root / "frames" / path.stem).glob("*.jpg"))
        n = min(len(frames), x.shape[0])
        if n != x.shape[0] or n != len(frames):
            logger.warning("%s: %d label rows but %d frames; using %d", path.stem, x.shape[0], len(frames), n)
        if n == 0:
            continue
        joints = np.stack((x, y), axis=-1)[:n]
        # LSTMPM: `if(label(3,joints,frame)==1)`; visibility 0 marks the unlabelled joints too.
        visible = (stored_vis[:n] == 1).astype(np.float64)
        bbox = penn_boxes(mat_array(path, "bbox", mat.get("bbox", np.zeros((0, 4)))), n)
        if not np.isfinite(bbox).all():
            logger.warning("%s: no bbox rows; evaluating on the visible joints' extent", path)
            for i in np.flatnonzero(~np.isfinite(bbox).all(1)):
                bbox[i] = box_from_joints(joints[i], visible[i])
        dims = mat_array(path, "dimensions", mat.get("dimensions", np.zeros(0))).reshape(-1)
        image_hw = (dims[0], dims[1]) if len(dims) >= 2 else (joints[..., 1].max() + 1, joints[..., 0].max() + 1)
        crop = penn_crop_boxes(bbox, joints, visible, image_hw)
        records.append(
            VideoRecord(
                path.stem,
                frames[:n],
                joints,
                visible,
                visible.copy(),
                bbox,
                crop_bbox=None if np.array_equal(crop, bbox, equal_nan=True) else crop,
            )
        )
    return records


class PennAction(VideoPoseDataset):
    """Penn Action clips following the clip contract; see :class:`VideoPoseDataset` for the options.

    The split is the files' own ``train`` flag (1258 training and 1068 test videos in the release).
    """

    def __init__(self, root: str | Path, split: str = "train", train: bool | None = None, **kwargs) -> None:
        super().__init__(
            read_penn_action(root, split), PENN_ACTION_13, train=split == "train" if train is None else train, **kwargs
        )


#: The Penn Action pipelines by name: ``pipeline -> build(options, train)``. This reader's is
#: ``"posemods"``; :mod:`posemods.data.rpstn` adds ``"rpstn"`` (the RPSTN authors' clips, crop,
#: augmentation and targets) beside its own code, so this module never imports it.
PENN_PIPELINES: dict[str, Callable[[DatasetOptions, bool], PennAction]] = {}


def _build_posemods(options: DatasetOptions, train: bool) -> PennAction:
    return PennAction(options.data_root, split="train" if train else "test", train=train, **options.video_kwargs())


PENN_PIPELINES["posemods"] = _build_posemods


def _build(options: DatasetOptions, train: bool) -> PennAction:
    pipeline = options.extra["pipeline"]
    if pipeline not in PENN_PIPELINES:
        raise ValueError(f"pipeline: expected one of {sorted(PENN_PIPELINES)}, got {pipeline!r}")
    return PENN_PIPELINES[pipeline](options, train)


register_dataset(
    DatasetSpec(
        "penn_action",
        _build,
        layout="penn_action",
        protocol="lstmpm_penn",
        description="Penn Action, 13 joints, read from --data-root",
        split_rule="the label files' train flag, 1 for training and -1 for test",
        requires={"data_root": "the Penn Action folder with labels/ and frames/"},
        # "posemods" (this reader) or "rpstn" (posemods.data.rpstn: the RPSTN authors' pipeline,
        # which the kimnet-penn recipe takes); TrainConfig's field of the same name fills it.
        options={"pipeline": "posemods"},
    )
)
