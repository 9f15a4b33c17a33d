"""Sub-JHMDB reader: joint positions, puppet-mask boxes and the three splits.

Files under ``root`` (the JHMDB release layout):

- ``joint_positions/<class>/<video>/joint_positions.mat``: ``pos_img`` (2, 15, N), joints in
  :data:`posemods.skeletons.JHMDB_15` order, in image pixels as stored.
- ``puppet_mask/<class>/<video>/puppet_mask.mat``: ``part_mask`` (H, W, N); the person box of a
  frame is the extent of its non-zero pixels.
- ``sub_splits/<class>_test_split_<k>.txt`` (Sub-JHMDB; ``splits/<class>_test_split<k>.txt`` for
  full JHMDB): lines ``<video>.avi 1`` (train) or ``<video>.avi 2`` (test), k in 1..3.
- ``Rename_Images/<class>/<video>/*.png`` (or ``.jpg``): the frames.

JHMDB has no visibility flags; a joint counts as visible when it lies inside the image. Needs scipy
(``pip install posemods[data]``).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from posemods._optional import optional_import
from posemods._shapes import expect_choice
from posemods.data.video_dataset import VideoPoseDataset, VideoRecord, box_from_joints
from posemods.skeletons import JHMDB_15


def read_jhmdb_split(
    root: str | Path, split: int = 1, subset: str = "train", sub: bool = True
) -> list[tuple[str, str]]:
    """The (class, video) pairs of one split's ``subset`` (``"train"`` or ``"test"``)."""
    expect_choice("subset", subset, ("train", "test"))
    if split not in (1, 2, 3):
        raise ValueError(f"split: expected 1, 2 or 3, got {split!r}")
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


def read_jhmdb(root: str | Path, split: int = 1, subset: str = "train", sub: bool = True) -> list[VideoRecord]:
    """Read the videos of one split's ``subset``."""
    loadmat = optional_import("scipy.io", "data", "read_jhmdb").loadmat

    root = Path(root)
    records = []
    for cls, video in read_jhmdb_split(root, split, subset, sub):
        pos = np.asarray(
            loadmat(str(root / "joint_positions" / cls / video / "joint_positions.mat"))["pos_img"], dtype=np.float64
        )
        if pos.ndim != 3 or pos.shape[:2] != (2, JHMDB_15.num_joints):
            raise ValueError(f"{cls}/{video}: expected pos_img of shape (2, 15, N), got {pos.shape}")
        joints = pos.transpose(2, 1, 0)  # (N, 15, 2)
        mask = np.asarray(loadmat(str(root / "puppet_mask" / cls / video / "puppet_mask.mat"))["part_mask"])
        if mask.ndim == 2:
            mask = mask[:, :, None]
        frames_dir = root / "Rename_Images" / cls / video
        frames = sorted(frames_dir.glob("*.png")) or sorted(frames_dir.glob("*.jpg"))
        n = min(len(frames), joints.shape[0], mask.shape[2])
        if n == 0:
            raise FileNotFoundError(f"{cls}/{video}: no frames, joints or masks")
        h, w = mask.shape[:2]
        joints = joints[:n]
        annotated = np.ones(joints.shape[:2])
        visibility = (
            (joints[..., 0] >= 0) & (joints[..., 0] <= w - 1) & (joints[..., 1] >= 0) & (joints[..., 1] <= h - 1)
        ).astype(np.float64)
        bbox = np.empty((n, 4))
        for i in range(n):
            ys, xs = np.nonzero(mask[:, :, i])
            bbox[i] = (xs.min(), ys.min(), xs.max(), ys.max()) if len(xs) else box_from_joints(joints[i], annotated[i])
        records.append(VideoRecord(f"{cls}/{video}", frames[:n], joints, visibility, annotated, bbox))
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
