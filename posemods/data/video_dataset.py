"""The part every dataset reader shares: video records, clip sampling, frame loading, the crop.

A reader only turns its files into :class:`VideoRecord` s; :class:`VideoPoseDataset` does the rest.
Shapes use the vocabulary of :mod:`posemods._shapes` (N: frames in a whole video).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import torch

from posemods._optional import optional_import
from posemods._shapes import expect_choice, expect_positive
from posemods.data.transforms import Augmentation, TopDownTransform
from posemods.skeletons import Skeleton, get_skeleton


@dataclasses.dataclass
class VideoRecord:
    """One person through one video, in original-image pixels.

    Attributes:
        name: an identifier, e.g. ``"0001"`` or ``"brush_hair/April_09_brush_hair_u_nm_np1_ba_goo_0"``.
        frame_paths: the N frame images in order.
        joints: (N, J, 2) float64 joint (x, y).
        visibility: (N, J) 1 where the dataset marks the joint visible.
        annotated: (N, J) 1 where the joint's position is annotated.
        bbox: (N, 4) the person box (x1, y1, x2, y2) in every frame, as the dataset's evaluation
            uses it: the clip's ``bbox`` and ``person_size`` come from it, even where it is degenerate.
        key_frames: frames a clip may be centred on (``None``: any frame).
        crop_bbox: (N, 4) the box the crop is cut around, where it must differ from ``bbox`` (a
            degenerate file box replaced by the joints' extent); ``None``: ``bbox``.
    """

    name: str
    frame_paths: list[Path]
    joints: np.ndarray
    visibility: np.ndarray
    annotated: np.ndarray
    bbox: np.ndarray
    key_frames: list[int] | None = None
    crop_bbox: np.ndarray | None = None

    def __post_init__(self) -> None:
        n = len(self.frame_paths)
        for field in ("joints", "visibility", "annotated", "bbox", "crop_bbox"):
            value = getattr(self, field)
            if value is not None and value.shape[0] != n:
                raise ValueError(f"{self.name}: {field} has {value.shape[0]} frames but there are {n} frame images")


def box_from_joints(joints: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(x1, y1, x2, y2) around the masked joints (J, 2); NaNs when none are."""
    pts = joints[mask > 0]
    if len(pts) == 0:
        return np.full(4, np.nan)
    return np.concatenate((pts.min(0), pts.max(0)))


def fill_missing_boxes(bbox: np.ndarray) -> np.ndarray:
    """Replace NaN rows of (N, 4) boxes with the nearest frame's box (a track's box between labels)."""
    bbox = bbox.copy()
    good = np.flatnonzero(np.isfinite(bbox).all(1))
    if len(good) == 0:
        return bbox
    for i in np.flatnonzero(~np.isfinite(bbox).all(1)):
        bbox[i] = bbox[good[np.abs(good - i).argmin()]]
    return bbox


def load_frames(paths: list[Path]) -> torch.Tensor:
    """Decode images into uint8 (T, 3, H, W) RGB."""
    Image = optional_import("PIL.Image", "data", "load_frames")

    def load(path: Path) -> torch.Tensor:
        with Image.open(path) as image:
            return torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1)

    return torch.stack([load(p) for p in paths])


class VideoPoseDataset(torch.utils.data.Dataset):
    """Clips of T frames from :class:`VideoRecord` s, cropped by :class:`TopDownTransform`.

    Training (``train=True``): one item per key candidate set: per video, a clip at a random
    position each epoch (so an epoch sees every video once, as LSTMPM/KIMNet sample "5 contiguous
    frames per video"), or per labelled key frame when the records list ``key_frames`` (PoseTrack).
    Evaluation: clips that cover every frame of every video exactly once (``frame_mask`` marks the
    frames a clip scores), or one clip per labelled key frame scoring only that frame. With
    ``every_frame_as_key``, one clip per frame with that frame as its key frame, scoring only it:
    for models that predict their key frame alone (VREMD), so every frame is still scored once.

    Frames before the start or past the end of a video repeat the first or last frame. Randomness
    comes from ``numpy.random.default_rng((seed, epoch, index))``: call :meth:`set_epoch` each epoch;
    results do not depend on the number of DataLoader workers.

    Args:
        records: the videos.
        layout: their joint layout.
        clip_length: T.
        train: training sampling and augmentation, or evaluation.
        input_size, heatmap_size, sigma, enlarge: see :class:`TopDownTransform`.
        augmentation: training augmentation (default :class:`Augmentation()`); ignored for evaluation.
        key_position: where the key frame (whose box fixes the crop) sits in the clip:
            ``"center"`` (default) or ``"last"`` (causal models).
        every_frame_as_key: evaluation only: one clip per frame, keyed on it (see above). The model
            must predict the frame at ``key_position`` (the registry's key-frame models predict the
            middle one, so they use the default ``"center"``).
        seed: the augmentation seed.
    """

    def __init__(
        self,
        records: list[VideoRecord],
        layout: str | Skeleton,
        clip_length: int = 5,
        train: bool = True,
        input_size: tuple[int, int] = (256, 256),
        heatmap_size: tuple[int, int] = (64, 64),
        sigma: float = 2.0,
        enlarge: float = 1.25,
        augmentation: Augmentation | None = None,
        key_position: str = "center",
        every_frame_as_key: bool = False,
        seed: int = 0,
    ) -> None:
        expect_positive("clip_length", clip_length)
        expect_choice("key_position", key_position, ("center", "last"))
        if not records:
            raise ValueError("records: expected at least one video, got none")
        self.skeleton = get_skeleton(layout)
        for r in records:
            if r.joints.shape[1] != self.skeleton.num_joints:
                raise ValueError(
                    f"{r.name}: {r.joints.shape[1]} joints but layout {self.skeleton.name} has "
                    f"{self.skeleton.num_joints}"
                )
        self.records = records
        self.clip_length = clip_length
        self.train = train
        self.every_frame_as_key = every_frame_as_key
        self.key_offset = clip_length // 2 if key_position == "center" else clip_length - 1
        self.transform = TopDownTransform(
            self.skeleton,
            input_size,
            heatmap_size,
            sigma,
            enlarge,
            (augmentation or Augmentation()) if train else None,
        )
        self.input_size = self.transform.input_size
        self.heatmap_size = self.transform.heatmap_size
        self.seed = seed
        self.epoch = 0
        self.items = self._items()

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _items(self) -> list[tuple[int, int | None, np.ndarray | None]]:
        """(record, key frame or None for random, frames scored or None for all)."""
        items = []
        t = self.clip_length
        for r_idx, r in enumerate(self.records):
            n = len(r.frame_paths)
            if r.key_frames is not None:
                items += [(r_idx, k, None if self.train else np.array([k])) for k in r.key_frames]
            elif self.train:
                items.append((r_idx, None, None))
            elif self.every_frame_as_key:
                items += [(r_idx, k, np.array([k])) for k in range(n)]
            else:
                covered = 0
                for start in range(0, n, t):
                    start = min(start, max(n - t, 0))
                    frames = np.arange(max(start, covered), min(start + t, n))
                    items.append((r_idx, start + self.key_offset, frames))
                    covered = start + t
        return items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        r_idx, key, scored = self.items[index]
        record = self.records[r_idx]
        n, t = len(record.frame_paths), self.clip_length
        rng = np.random.default_rng([self.seed, self.epoch, index]) if self.train else None
        if key is None:
            key = int(rng.integers(0, max(n - t, 0) + 1)) + self.key_offset
        frames_idx = np.clip(np.arange(key - self.key_offset, key - self.key_offset + t), 0, n - 1)
        frame_mask = None
        if scored is not None:
            positions = np.arange(key - self.key_offset, key - self.key_offset + t)
            frame_mask = torch.from_numpy(np.isin(positions, scored).astype(np.float32))
        frames = load_frames([record.frame_paths[i] for i in frames_idx])
        crop_bbox = record.bbox if record.crop_bbox is None else record.crop_bbox
        clip = self.transform(
            frames,
            torch.from_numpy(record.joints[frames_idx]).double(),
            torch.from_numpy(record.visibility[frames_idx]).float(),
            torch.from_numpy(record.annotated[frames_idx]).float(),
            torch.from_numpy(crop_bbox[frames_idx]).double(),
            key_frame=self.key_offset,
            rng=rng,
            frame_mask=frame_mask,
        )
        if record.crop_bbox is not None:
            # The evaluation box, degenerate or not: LSTMPM's person size is max(w, h) of the file's box.
            bbox = torch.from_numpy(record.bbox[frames_idx]).double()  # float64: the clip contract
            clip["bbox"] = bbox
            clip["person_size"] = torch.maximum(bbox[:, 2] - bbox[:, 0], bbox[:, 3] - bbox[:, 1])
        return clip


class WholeVideos(torch.utils.data.Dataset):
    """One item per video of a reader's evaluation set (a :class:`VideoPoseDataset`).

    An item is the list of the video's frames, each a one-frame clip cropped around its own box, as
    LSTM Pose Machines' test code does (``testing/src/run_benchmark_GPU_PENN.m``: every frame ``n``
    goes through ``transform_test(test.sequence{j},n,...)``, which crops around
    ``bbox = sequence.frame{seqID}.bbox``, and the previous frame's heatmaps are fed on as they are).
    Each frame is scored once, with its own crop's affine. A synthetic set's clips already are whole
    videos with one (identity) affine and pass through unchanged.

    A test protocol that scores other frames or crops otherwise changes :meth:`frames`,
    :meth:`crop_boxes` or ``transform`` (the set's own here), as RPSTN's test clips do
    (:class:`posemods.data.rpstn.RPSTNTestClips`).
    """

    def __init__(self, dataset: torch.utils.data.Dataset) -> None:
        self.dataset = dataset
        self.records = getattr(dataset, "records", None)
        self.transform = getattr(dataset, "transform", None)

    def __len__(self) -> int:
        return len(self.dataset) if self.records is None else len(self.records)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor] | list[dict[str, torch.Tensor]]:
        if self.records is None:
            return self.dataset[index]
        record = self.records[index]
        boxes = self.crop_boxes(record)
        one = lambda array, t: torch.from_numpy(np.asarray(array[t : t + 1]))
        return [
            self.transform(
                load_frames([record.frame_paths[t]]),
                one(record.joints, t).double(),
                one(record.visibility, t).float(),
                one(record.annotated, t).float(),
                one(boxes, t).double(),
                key_frame=0,
            )
            for t in self.frames(index, record)
        ]

    def frames(self, index: int, record: VideoRecord):
        """The frames of video ``index`` that its item holds, in order: all of them."""
        return range(len(record.frame_paths))

    def crop_boxes(self, record: VideoRecord) -> np.ndarray:
        """(N, 4) the box each frame is cropped around: the record's ``bbox``."""
        return record.bbox
