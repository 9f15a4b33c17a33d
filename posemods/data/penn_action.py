"""Penn Action reader: ``labels/NNNN.mat`` and ``frames/NNNN/NNNNNN.jpg``.

Each ``labels/NNNN.mat`` holds ``x``, ``y`` and ``visibility`` (nframes, 13) in
:data:`posemods.skeletons.PENN_ACTION_13` order, ``bbox`` (nframes, 4) as (x1, y1, x2, y2),
``train`` (1: train, -1: test), ``nframes`` and ``dimensions`` (H, W, nframes). Coordinates are
used as stored. Needs scipy (``pip install posemods[data]``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from posemods._optional import optional_import
from posemods._shapes import expect_choice
from posemods.data.video_dataset import VideoPoseDataset, VideoRecord, box_from_joints
from posemods.skeletons import PENN_ACTION_13

logger = logging.getLogger(__name__)


def _scalar(value) -> int:
    return int(np.asarray(value).reshape(-1)[0])


def read_penn_action(root: str | Path, split: str = "train") -> list[VideoRecord]:
    """Read the videos of ``split`` (``"train"``, ``"test"`` or ``"all"``) under ``root``.

    A few of the real label files carry fewer ``bbox`` rows than frames; the missing frames take
    the box around their annotated joints.
    """
    loadmat = optional_import("scipy.io", "data", "read_penn_action").loadmat

    expect_choice("split", split, ("train", "test", "all"))
    root = Path(root)
    labels = sorted((root / "labels").glob("*.mat"))
    if not labels:
        raise FileNotFoundError(f"root: no labels/*.mat under {root}")
    records = []
    for path in labels:
        mat = loadmat(str(path))
        flag = _scalar(mat["train"])
        if split != "all" and (flag == 1) != (split == "train"):
            continue
        x, y = np.asarray(mat["x"], dtype=np.float64), np.asarray(mat["y"], dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != PENN_ACTION_13.num_joints or x.shape != y.shape:
            raise ValueError(f"{path}: expected x and y of shape (nframes, 13), got {x.shape} and {y.shape}")
        frames = sorted((root / "frames" / path.stem).glob("*.jpg"))
        n = min(len(frames), x.shape[0])
        if n != x.shape[0] or n != len(frames):
            logger.warning("%s: %d label rows but %d frames; using %d", path.stem, x.shape[0], len(frames), n)
        if n == 0:
            continue
        joints = np.stack((x, y), axis=-1)[:n]
        visibility = np.asarray(mat["visibility"], dtype=np.float64).reshape(x.shape)[:n]
        # Unlabelled joints are stored at (0, 0).
        annotated = (np.abs(joints).sum(-1) > 0).astype(np.float64)
        bbox = np.full((n, 4), np.nan)
        stored = np.asarray(mat.get("bbox", np.zeros((0, 4))), dtype=np.float64).reshape(-1, 4)[:n]
        bbox[: len(stored)] = stored
        for i in np.flatnonzero(~np.isfinite(bbox).all(1) | (bbox[:, 2] <= bbox[:, 0]) | (bbox[:, 3] <= bbox[:, 1])):
            bbox[i] = box_from_joints(joints[i], annotated[i])
        records.append(VideoRecord(path.stem, frames[:n], joints, visibility * annotated, annotated, bbox))
    return records


class PennAction(VideoPoseDataset):
    """Penn Action clips following the clip contract; see :class:`VideoPoseDataset` for the options.

    The split is the files' own ``train`` flag (1258 training and 1068 test videos in the release).
    """

    def __init__(self, root: str | Path, split: str = "train", train: bool | None = None, **kwargs) -> None:
        super().__init__(
            read_penn_action(root, split), PENN_ACTION_13, train=split == "train" if train is None else train, **kwargs
        )
