"""The RPSTN authors' Penn Action pipeline, as far as KIMNet says it follows it and posemods can carry it.

The reference is github:YHDang/RPSTN at commit f7dcd3e: ``lib/utils/penn_action_data.py``
(``Penn_Action.__getitem__``), ``lib/utils/Mytransforms_penn.py`` and the ``Compose`` lists of
``lib/utils/utils.py:getDataloader``. KIMNet section 4.1: "keeping consistency with works [11, 12],
we also: randomly select 5 contiguous frames from each training video clip; adopt the same data
augmentation settings as [11, 12] including random scaling, rotation, and flipping".

What their code does, and what posemods takes (``--pipeline rpstn``, the ``kimnet-penn`` recipe):

==================  ===========================================  =====================================
choice              their code                                   here
==================  ===========================================  =====================================
training clips      one per video and epoch, T = 5, first frame  the same (:func:`rpstn_train_start`)
                    ``np.random.randint(1, nframes - T)``: the
                    video's first and last frames never used
test clips          one per test video, first frame              the same (:func:`rpstn_test_start`),
                    ``RandomState(10480 + index).randint(1,      index = the video's place in the
                    nframes - T)``, index = place in             sorted reader; theirs is
                    ``os.listdir`` of their preprocessed files   ``os.listdir``'s order, so the same
                                                                 seed may land on another video
crop                each frame's own box stretched to 256 x 256  the key frame's box stretched, no
                    (``SinglePersonCrop``), no margin, the       margin (:func:`rpstn_crop_affine`),
                    joints clipped into the box                  one crop per clip (the clip
                                                                 contract); the evaluation of
                                                                 ``posemods.evaluate --protocol
                                                                 rpstn`` crops every frame by its
                                                                 own box, as theirs
rotation            uniform in [-40, 40] degrees, always         the same, all frames alike
                    (``p_rotate = 1``), on a canvas enlarged
                    to hold the rotated crop, resized back to
                    256 x 256 (``rotate`` + ``TestResized``)
flip                probability 0.5, all frames alike            the same
scaling             none: ``RandomResized`` is not in the Penn   none (KIMNet's text says "random
                    ``Compose``; the scale factor drawn in       scaling": the paper and the code
                    [0.8, 1.4] is never used                     disagree; ``--pipeline posemods``
                                                                 scales)
targets             a Gaussian (sigma 2, at ``int(x / 4)``,      the same rendering, for every joint
                    values under 0.0099 zeroed) for every        with a coordinate (``annotated``)
                    joint whose window touches the heatmap,
                    whatever its visibility
==================  ===========================================  =====================================

Their loss (``lib/core/loss.py:MSESequenceLoss``) is ``mean((pred - target) ** 2)`` over every frame,
joint and pixel, the all-zero maps of joints without a target included; posemods' loss is
``0.5 * mean((weight * (pred - target)) ** 2)`` with ``weight`` 0 for those joints: a factor 2 that
Adam does not see, and no pull towards zero maps for joints without a target.

Their quirks left out, because they misplace targets: ``rotate`` skips joints with visibility 0 and
``hflip`` mirrors only joints with visibility 1 (both still swap labels), so an invisible joint keeps
its unrotated, unmirrored position; and Penn Action's unlabelled joints, stored near pixel (1, 1),
are clipped into the box and get a Gaussian at its corner. Here every joint moves with the image, and
a joint without a coordinate gets no target. Their input images are BGR in [0, 255], never
normalised; posemods' are RGB in [0, 1] (each backbone normalises them).

Which joints have a coordinate is the reader's business (:mod:`posemods.data.penn_action`'s
``annotated``): targets "whatever the visibility" need ``annotated`` to mean "has a real
coordinate", not "visible".
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from posemods._shapes import expect_positive
from posemods.data.geometry import compose_affine, crop_affine
from posemods.data.penn_action import PENN_PIPELINES, PennAction
from posemods.data.registry import DatasetOptions
from posemods.data.transforms import Augmentation, TopDownTransform
from posemods.data.video_dataset import VideoPoseDataset, load_frames

#: The commit of github:YHDang/RPSTN this pipeline follows.
RPSTN_COMMIT = "f7dcd3e"
#: ``penn_action_data.py``: ``SEED = 10480 + index`` for the test clip of video ``index``.
TEST_CLIP_SEED = 10480
#: Their Penn Action augmentation (``Compose([SinglePersonCrop(256), RandomRotate(40), TestResized(256),
#: RandomHorizontalFlip()])`` with ``p_rotate = p_flip = 1`` and a flip above 0.5): always a rotation in
#: [-40, 40] degrees, a flip half the time, no scaling, no half-body crops.
RPSTN_PENN_AUGMENTATION = Augmentation(
    max_rotation=40.0, rotation_prob=1.0, scale=(1.0, 1.0), flip_prob=0.5, half_body_prob=0.0
)
#: ``heat_map[heat_map < 0.0099] = 0`` in ``Penn_Action.__getitem__``.
GAUSSIAN_CUTOFF = 0.0099


def _start_range(num_frames: int, clip_length: int) -> int:
    expect_positive("num_frames", num_frames)
    expect_positive("clip_length", clip_length)
    return num_frames - clip_length  # randint's exclusive upper end; starts lie in [1, num_frames - T - 1]


def rpstn_train_start(num_frames: int, clip_length: int, rng: np.random.Generator) -> int:
    """A training clip's first frame (0-based), uniform in [1, num_frames - clip_length - 1] as
    ``np.random.randint(1, nframes - 1 - self.seqTrain + 1)``; 0 for a video too short for that range
    (theirs raises there)."""
    high = _start_range(num_frames, clip_length)
    return int(rng.integers(1, high)) if high > 1 else 0


def rpstn_test_start(video_index: int, num_frames: int, clip_length: int) -> int:
    """The first frame (0-based) of the test clip of video ``video_index``:
    ``np.random.RandomState(10480 + index).randint(1, nframes - T)``; 0 for a video too short."""
    if isinstance(video_index, bool) or not isinstance(video_index, (int, np.integer)) or video_index < 0:
        raise ValueError(f"video_index: expected a non-negative integer, got {video_index!r}")
    high = _start_range(num_frames, clip_length)
    return int(np.random.RandomState(TEST_CLIP_SEED + int(video_index)).randint(1, high)) if high > 1 else 0


def rpstn_heatmaps(
    joints: torch.Tensor,
    present: torch.Tensor,
    heatmap_size: tuple[int, int],
    input_size: tuple[int, int],
    sigma: float = 2.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Their targets: ``(heatmaps (..., J, h, w), target_weight (..., J))`` from crop joints (..., J, 2).

    As ``Penn_Action.__getitem__``: the joint clipped into the crop (``crop``'s ``np.clip`` to the
    box, which is their whole crop), ``xk = int(x / stride)``, ``exp(-d^2 / 2 / sigma / sigma)`` around
    (xk, yk) over the whole grid, values under 0.0099 set to 0, nothing where the 6-sigma window does
    not touch the heatmap. Every joint with ``present > 0`` gets one, whatever its visibility;
    ``target_weight`` is 1 where a Gaussian was drawn.
    """
    h, w = heatmap_size
    height, width = input_size
    stride = torch.tensor([width / w, height / h], dtype=torch.float64)
    inside = torch.stack((joints[..., 0].double().clamp(0, width), joints[..., 1].double().clamp(0, height)), dim=-1)
    centre = torch.trunc(inside / stride)  # int(kpts[k][0] / self.stride)
    reach = 3 * sigma  # tmp_size: the window [xk - 3 sigma, xk + 3 sigma + 1)
    touches = (centre - reach < torch.tensor([w, h])).all(-1) & (centre + reach + 1 >= 0).all(-1)
    drawn = (present > 0) & joints.isfinite().all(-1) & touches
    xs = torch.arange(w, dtype=torch.float64)
    ys = torch.arange(h, dtype=torch.float64)
    centre = centre.nan_to_num(0.0)
    d2 = (xs - centre[..., 0:1])[..., None, :] ** 2 + (ys - centre[..., 1:2])[..., :, None] ** 2
    maps = torch.exp(-d2 / 2.0 / sigma / sigma)
    maps = torch.where(maps < GAUSSIAN_CUTOFF, torch.zeros_like(maps), maps) * drawn[..., None, None]
    return maps.float(), drawn.float()


def rpstn_crop_affine(
    bbox: torch.Tensor, input_size: tuple[int, int], rotation: float = 0.0, flip: bool = False, scale: float = 1.0
) -> torch.Tensor:
    """Their crop as one (2, 3) affine from image pixels to an ``input_size = (H, W)`` crop.

    ``SinglePersonCrop``: the box (x1, y1, x2, y2) stretched onto the whole crop, without margin and
    without keeping its aspect ratio (``scale`` widens the box about its centre; 1 in their Penn
    pipeline). ``RandomRotate`` then ``TestResized``: the crop rotated by ``rotation`` degrees
    (counter-clockwise in the picture, as ``cv2.getRotationMatrix2D``) about its centre onto a canvas
    of ``int(H |sin| + W |cos|)`` x ``int(H |cos| + W |sin|)`` that holds all of it, resized back to
    W x H. ``RandomHorizontalFlip``: mirrored left-right.
    """
    out_h, out_w = input_size
    bbox = bbox.double()
    center = torch.stack(((bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2))
    size = torch.stack(((bbox[2] - bbox[0]).clamp(min=1e-3), (bbox[3] - bbox[1]).clamp(min=1e-3))) * scale
    affine = crop_affine(center, size, input_size)
    if rotation:
        theta = math.radians(rotation)
        cos, sin = math.cos(theta), math.sin(theta)
        canvas_w = int(out_h * abs(sin) + out_w * abs(cos))
        canvas_h = int(out_h * abs(cos) + out_w * abs(sin))
        shrink = torch.diag(torch.tensor([out_w / canvas_w, out_h / canvas_h], dtype=torch.float64))
        linear = shrink @ torch.tensor([[cos, sin], [-sin, cos]], dtype=torch.float64)
        middle = torch.tensor([(out_w - 1) / 2, (out_h - 1) / 2], dtype=torch.float64)
        turn = torch.cat((linear, (middle - linear @ middle)[:, None]), dim=1)
        affine = compose_affine(turn, affine)
    if flip:
        mirror = torch.tensor([[-1.0, 0.0, out_w - 1.0], [0.0, 1.0, 0.0]], dtype=torch.float64)
        affine = compose_affine(mirror, affine)
    return affine


class RPSTNTransform(TopDownTransform):
    """:class:`~posemods.data.TopDownTransform` with their crop (:func:`rpstn_crop_affine`) and targets
    (:func:`rpstn_heatmaps`). The augmentation's ``max_rotation``, ``rotation_prob``, ``flip_prob`` and
    ``scale`` are read (:data:`RPSTN_PENN_AUGMENTATION` by default for training); half-body crops are not
    part of their pipeline. The same draw applies to every frame of the clip, as theirs.
    """

    def crop_params(self, joints, visibility, bbox, rng):
        aug = self.augmentation if rng is not None else None
        rotation, flip, scale = 0.0, False, 1.0
        if aug is not None:
            scale = float(rng.uniform(*aug.scale))
            if rng.random() < aug.rotation_prob:
                rotation = float(rng.uniform(-aug.max_rotation, aug.max_rotation))
            flip = bool(rng.random() < aug.flip_prob)
        return rpstn_crop_affine(bbox, self.input_size, rotation, flip, scale), flip

    def render_targets(self, joints_crop, annotated):
        return rpstn_heatmaps(joints_crop, annotated, self.heatmap_size, self.input_size, self.sigma)


def _rpstn_transform(dataset: VideoPoseDataset, augmentation: Augmentation | None) -> RPSTNTransform:
    old = dataset.transform
    return RPSTNTransform(old.skeleton, old.input_size, old.heatmap_size, old.sigma, 1.0, augmentation)


class RPSTNPennAction(PennAction):
    """Penn Action clips sampled, cropped and targeted as the RPSTN authors' pipeline (see the module).

    Training (``train=True``): one clip per video and epoch, starting at :func:`rpstn_train_start`,
    augmented by ``augmentation`` (default :data:`RPSTN_PENN_AUGMENTATION`); call :meth:`set_epoch`.
    Evaluation: one clip per test video, starting at :func:`rpstn_test_start`, every frame scored. The
    crop follows each clip's first frame's box.

    Args: as :class:`~posemods.data.PennAction` (``every_frame_as_key`` is not offered: their test
    scores whole clips).
    """

    def __init__(self, root: str | Path, split: str = "train", train: bool | None = None, **kwargs) -> None:
        if kwargs.get("every_frame_as_key"):
            raise ValueError("every_frame_as_key: RPSTN's pipeline scores one whole clip per test video")
        kwargs.setdefault("augmentation", RPSTN_PENN_AUGMENTATION)
        super().__init__(root, split, train, **kwargs)
        self.transform = _rpstn_transform(self, self.transform.augmentation)
        self.key_offset = 0  # the crop comes from the clip's first frame, whose torso also normalises it
        self.items = self._items()

    def _items(self) -> list[tuple[int, int | None, np.ndarray | None]]:
        items = []
        t = self.clip_length
        for r_idx, record in enumerate(self.records):
            n = len(record.frame_paths)
            if self.train:
                rng = np.random.default_rng([self.seed, self.epoch, r_idx, TEST_CLIP_SEED])
                items.append((r_idx, rpstn_train_start(n, t, rng) + self.key_offset, None))
            else:
                start = rpstn_test_start(r_idx, n, t)
                items.append((r_idx, start + self.key_offset, np.arange(start, start + t)))
        return items

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        self.items = self._items()


class RPSTNTestClips(torch.utils.data.Dataset):
    """Their test clips of a reader's evaluation set: one per video, each frame cropped by its own box.

    Item ``i`` is a list of T one-frame clips of video ``i``, frames :func:`rpstn_test_start` onwards,
    each through :class:`RPSTNTransform` without augmentation (``SinglePersonCrop`` on every frame, as
    their ``Penn_Action.__getitem__``). A set without records (synthetic clips) passes its clips
    through unchanged.
    """

    def __init__(self, dataset: VideoPoseDataset) -> None:
        self.dataset = dataset
        self.records = getattr(dataset, "records", None)
        if self.records is not None:
            self.clip_length = dataset.clip_length
            self.transform = _rpstn_transform(dataset, None)

    def __len__(self) -> int:
        return len(self.dataset) if self.records is None else len(self.records)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor] | list[dict[str, torch.Tensor]]:
        if self.records is None:
            return self.dataset[index]
        record = self.records[index]
        n = len(record.frame_paths)
        start = rpstn_test_start(index, n, self.clip_length)
        frames = np.clip(np.arange(start, start + self.clip_length), 0, n - 1)
        one = lambda array, t: torch.from_numpy(np.asarray(array[t : t + 1]))
        boxes = record.bbox if record.crop_bbox is None else record.crop_bbox
        return [
            self.transform(
                load_frames([record.frame_paths[t]]),
                one(record.joints, t).double(),
                one(record.visibility, t).float(),
                one(record.annotated, t).float(),
                one(boxes, t).double(),
                key_frame=0,
            )
            for t in frames
        ]


def _build_penn(options: DatasetOptions, train: bool) -> RPSTNPennAction:
    kwargs = {**options.video_kwargs(), "augmentation": RPSTN_PENN_AUGMENTATION}
    return RPSTNPennAction(options.data_root, split="train" if train else "test", train=train, **kwargs)


# `--data penn_action --pipeline rpstn` (the kimnet-penn recipe's): Penn Action's registration reads it here.
PENN_PIPELINES["rpstn"] = _build_penn
