"""Sub-JHMDB reader: joint positions, puppet-mask boxes and the three splits.

Files under ``root`` (the JHMDB release layout):

- ``joint_positions/<class>/<video>/joint_positions.mat``: ``pos_img`` (2, 15, N), joints in
  :data:`posemods.skeletons.JHMDB_15` order, in MATLAB's 1-based pixels.
- ``puppet_mask/<class>/<video>/puppet_mask.mat``: ``part_mask`` (H, W, N); the person box of a
  frame comes from its non-zero pixels.
- ``sub_splits/<class>_test_split_<k>.txt`` (Sub-JHMDB; ``splits/<class>_test_split<k>.txt`` for
  full JHMDB): lines ``<video>.avi 1`` (train) or ``<video>.avi 2`` (test), k in 1..3.
- ``Rename_Images/<class>/<video>/*.png`` (or ``.jpg``): the frames.

Needs scipy (``pip install posemods[data]``). The protocol is LSTMPM's (github:lawy623/LSTM_Pose_Machines,
commit 68a9212: ``dataset/JHMDB/JHMDB_PreData.m``, ``dataset/JHMDB/utils/getBox.m``,
``testing/src/run_benchmark_GPU_JHMDB.m``):

- **One pixel convention.** ``pos_img`` and getBox's boxes are 1-based MATLAB pixels; the reader
  subtracts 1 from both, so joints and boxes are in the 0-based convention of
  :mod:`posemods.data.geometry` (pixel centres at integers, the first pixel's centre at 0) that the
  crop transforms use. Distances, so PCK, do not change.
- **Boxes** are getBox.m's, literally, as the person size ``max(bbox(frame,3)-bbox(frame,1),
  bbox(frame,4)-bbox(frame,2))`` uses them: ``bbox(1) = floor(pos1/dim1)+1`` with ``pos1`` the
  first non-zero mask pixel in column-major order (so a first pixel in the last image row lands one
  column further right), and likewise for the other three sides. A frame with an empty mask (where
  getBox.m fails) takes the extent of its joints.
- **Which joints count.** JHMDB has no visibility flags and LSTMPM's JHMDB loop counts every joint
  of every frame (``obj(joints) = obj(joints) + 1`` without a test), joints outside the image
  included: ``visibility`` and ``annotated`` are 1 everywhere.
- **Torso** (PCK's ``normalize="torso"``): left shoulder to right hip,
  :attr:`posemods.skeletons.JHMDB_15.torso`.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from posemods._shapes import expect_choice
from posemods.data._files import load_mat, mat_array, require_scipy
from posemods.data.registry import DatasetOptions, DatasetSpec, register_dataset
from posemods.data.video_dataset import VideoPoseDataset, VideoRecord, box_from_joints
from posemods.skeletons import JHMDB_15

#: The release's three train/test splits (``<class>_test_split_<k>.txt``); the paper averages all three.
JHMDB_SPLITS = (1, 2, 3)


def read_jhmdb_split(
    root: str | Path, split: int = 1, subset: str = "train", sub: bool = True
) -> list[tuple[str, str]]:
    """The (class, video) pairs of one split's ``subset`` (``"train"`` or ``"test"``).

    JHMDB_PreData.m: ``trainTest = str2double( tline(end-1) )``, 1 train and 2 test."""
    expect_choice("subset", subset, ("train", "test"))
    if split not in JHMDB_SPLITS:
        raise ValueError(f"split: expected one of {JHMDB_SPLITS}, got {split!r}")
    folder = Path(root) / ("sub_splits" if sub else "splits")
    pattern = re.compile(rf"^(.+)_test_split_?{split}\.txt$")
    wanted = "1" if subset == "train" else "2"
    pairs = []
    for path in sorted(folder.glob("*.txt")):
        match = pattern.match(path.name)
        if not match:
            continue
        for line in path.read_text().split("\n"):
            parts = line.split()
            if len(parts) == 2 and parts[1] == wanted:
                pairs.append((match.group(1), parts[0].rsplit(".", 1)[0]))
    if not pairs:
        raise FileNotFoundError(f"no {subset} videos for split {split} in {folder}")
    return pairs


def get_box(mask: np.ndarray) -> np.ndarray:
    """getBox.m of LSTMPM on one (H, W) mask: (x1, y1, x2, y2) in its 1-based pixels; NaN if empty.

    ``pos1 = find(mask_col,1,'first')`` ... ``bbox(1) = floor(pos1/dim1)+1``: column-major linear
    indices (1-based) of the first and last non-zero pixel give the columns, those of the transposed
    mask the rows, with getBox's own rounding.
    """
    dim1, dim2 = mask.shape
    by_column = np.flatnonzero(mask.flatten(order="F"))  # mask(:)
    by_row = np.flatnonzero(mask.flatten(order="C"))  # mask'(:)
    if len(by_column) == 0:
        return np.full(4, np.nan)
    pos1, pos2 = by_column[0] + 1, by_column[-1] + 1
    pos3, pos4 = by_row[0] + 1, by_row[-1] + 1
    return np.array([pos1 // dim1 + 1, pos3 // dim2 + 1, pos2 // dim1 + 1, pos4 // dim2 + 1], dtype=np.float64)


def read_jhmdb(root: str | Path, split: int = 1, subset: str = "train", sub: bool = True) -> list[VideoRecord]:
    """Read the videos of one split's ``subset``, in 0-based pixels (see the module docstring)."""
    require_scipy()
    root = Path(root)
    records = []
    for cls, video in read_jhmdb_split(root, split, subset, sub):
        path = root / "joint_positions" / cls / video / "joint_positions.mat"
        pos = mat_array(path, "pos_img", load_mat(path, ("pos_img",))["pos_img"])
        if pos.ndim == 2:
            pos = pos[:, :, None]  # MATLAB drops a trailing singleton: a one-frame video
        if pos.ndim != 3 or pos.shape[:2] != (2, JHMDB_15.num_joints):
            raise ValueError(f"{path}: expected pos_img of shape (2, 15, N), got {pos.shape}")
        joints = pos.transpose(2, 1, 0) - 1.0  # (N, 15, 2), 1-based MATLAB pixels -> 0-based
        mask_path = root / "puppet_mask" / cls / video / "puppet_mask.mat"
        mask = np.asarray(load_mat(mask_path, ("part_mask",))["part_mask"])
        if mask.ndim == 2:
            mask = mask[:, :, None]
        if mask.ndim != 3:
            raise ValueError(f"{mask_path}: expected part_mask of shape (H, W, N), got {mask.shape}")
        frames_dir = root / "Rename_Images" / cls / video
        frames = sorted(frames_dir.glob("*.png")) or sorted(frames_dir.glob("*.jpg"))
        n = min(len(frames), joints.shape[0], mask.shape[2])
        if n == 0:
            raise FileNotFoundError(f"{cls}/{video}: no frames, joints or masks")
        joints = joints[:n]
        annotated = np.ones(joints.shape[:2])
        bbox = np.empty((n, 4))
        for i in range(n):
            box = get_box(mask[:, :, i] != 0) - 1.0  # 1-based -> 0-based, like the joints
            bbox[i] = box if np.isfinite(box).all() else box_from_joints(joints[i], annotated[i])
        records.append(VideoRecord(f"{cls}/{video}", frames[:n], joints, annotated.copy(), annotated, bbox))
    return records


class SubJHMDB(VideoPoseDataset):
    """Sub-JHMDB clips following the clip contract; see :class:`VideoPoseDataset` for the options.

    The paper's protocol trains and tests on each of the three splits and averages the three results.
    """

    def __init__(
        self,
        root: str | Path,
        split: int = 1,
        subset: str = "train",
        train: bool | None = None,
        sub: bool = True,
        **kwargs,
    ) -> None:
        records = read_jhmdb(root, split, subset, sub)
        super().__init__(records, JHMDB_15, train=subset == "train" if train is None else train, **kwargs)


def _build(options: DatasetOptions, train: bool) -> SubJHMDB:
    subset = "train" if train else "test"
    return SubJHMDB(options.data_root, split=int(options.split), subset=subset, **options.video_kwargs())


register_dataset(
    DatasetSpec(
        "jhmdb",
        _build,
        layout="jhmdb",
        protocol="lstmpm_jhmdb",
        description="Sub-JHMDB, 15 joints, read from --data-root",
        split_rule="sub_splits/<class>_test_split_<k>.txt of split k",
        splits=tuple(str(k) for k in JHMDB_SPLITS),
        requires={"data_root": "the JHMDB folder with joint_positions/, puppet_mask/, sub_splits/, Rename_Images/"},
    )
)
