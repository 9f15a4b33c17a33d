"""KIMNet's section 4.5 occlusion protocol: square masks over k annotated joints of a clip.

"We randomly generate several masks with a size of 40x40 from time and space to occlude joints for
evaluating KIMNet's performance against the temporal and spatial occlusion" (KIMNet 4.5.1):

- temporal: "We randomly select a frame from the input sequence and generate two masks to occlude
  joints": k joints masked on one random frame;
- spatial: "we randomly generate two masks from the 2nd to the T-th frame": the same k joints
  masked on frames 2..T, frame 1 left clean (the recursion starts from it);
- Figure 8: "the number of occluded joints is increased from 1 to 9".

Shapes use the vocabulary of :mod:`posemods._shapes`; clips follow :mod:`posemods.data.clip`.
"""

from __future__ import annotations

import math
import zlib

import torch
from torch.utils.data import Dataset

from posemods._shapes import expect_choice, expect_positive
from posemods.data.clip import check_clip

OCCLUSION_MODES = ("temporal", "spatial")


class OcclusionMasks:
    """A clip transform: ``clip dict -> clip dict`` with ``joints`` k annotated joints masked.

    Each mask is a ``size`` x ``size`` square in original-image pixels (40 in the paper), scaled into
    the crop by the clip's ``affine`` and centred on the joint; its pixels are set to ``fill``. A
    masked joint keeps its label and target (the model must still find it) but its ``visibility``
    drops to 0, so the evaluation's ``"occluded"`` score counts it and ``"visible"`` does not.

    The k joints are drawn among those annotated on the masked frame(s) (fewer if fewer are); in
    ``"spatial"`` mode each mask follows its joint over frames 2..T. The draw depends only on
    ``seed`` and the clip's own labels (``joints_image``, ``key_frame``), not on the order or the
    process that loads it: every checkpoint scored with the same seed sees the same masks, which
    is what a paired comparison needs.

    Args:
        size: mask side in original-image pixels.
        joints: k, the number of joints to mask.
        mode: ``"temporal"`` or ``"spatial"``.
        seed: the draw's seed.
        fill: the value of masked pixels (frames are RGB in [0, 1]).
    """

    def __init__(
        self, size: float = 40, joints: int = 2, mode: str = "temporal", seed: int = 0, fill: float = 0.0
    ) -> None:
        if isinstance(size, bool) or not isinstance(size, (int, float)) or not math.isfinite(size) or size <= 0:
            raise ValueError(f"size: expected a positive number of pixels, got {size!r}")
        joints = expect_positive("joints", joints)
        expect_choice("mode", mode, OCCLUSION_MODES)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed: expected an int, got {seed!r}")
        if not isinstance(fill, (int, float)) or isinstance(fill, bool) or not math.isfinite(fill):
            raise ValueError(f"fill: expected a finite number, got {fill!r}")
        self.size, self.joints, self.mode, self.seed, self.fill = float(size), joints, mode, seed, float(fill)

    def __repr__(self) -> str:
        return f"OcclusionMasks(size={self.size:g}, joints={self.joints}, mode={self.mode!r}, seed={self.seed})"

    def _generator(self, clip: dict[str, torch.Tensor]) -> torch.Generator:
        # Hashed as float32, the contract's dtype before joints_image became float64: the same seed
        # keeps drawing the same occluders as in earlier releases.
        joints = clip["joints_image"].float().contiguous().numpy().tobytes()
        labels = joints + clip["key_frame"].numpy().tobytes()
        return torch.Generator().manual_seed(zlib.crc32(labels, self.seed & 0xFFFFFFFF))

    def masked(self, clip: dict[str, torch.Tensor]) -> torch.Tensor:
        """The (T, J) mask of the joints this transform occludes in ``clip`` (1: masked)."""
        check_clip(clip)
        frames, num_joints = clip["annotated"].shape
        gen = self._generator(clip)
        out = torch.zeros(frames, num_joints)
        if self.mode == "temporal":
            chosen_frames = torch.randint(frames, (1,), generator=gen)
        else:
            chosen_frames = torch.arange(1, frames)
        if len(chosen_frames) == 0:  # a one-frame clip has no frames 2..T
            return out
        candidates = torch.nonzero(clip["annotated"][chosen_frames].amax(0) > 0).flatten()
        pick = candidates[torch.randperm(len(candidates), generator=gen)[: self.joints]]
        out[chosen_frames[:, None], pick[None, :]] = 1.0
        return out * clip["annotated"]

    def __call__(self, clip: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        masked = self.masked(clip)
        affine = clip["affine"]
        # Original-image pixels -> crop pixels: the crop's scale is sqrt(|det|) of the affine's 2 x 2 part.
        scale = float(torch.linalg.det(affine[:, :2]).abs().sqrt())
        half = self.size * scale / 2
        frames = clip["frames"].clone()
        height, width = frames.shape[-2:]
        for t, j in torch.nonzero(masked).tolist():
            x, y = clip["joints"][t, j].tolist()
            if not (math.isfinite(x) and math.isfinite(y)):  # a label without a position: nothing to cover
                continue
            # Pixel centres at integers: the square [x - half, x + half) covers centres ceil(x - half)...
            x0, x1 = max(math.ceil(x - half), 0), min(math.ceil(x + half), width)
            y0, y1 = max(math.ceil(y - half), 0), min(math.ceil(y + half), height)
            if x0 < x1 and y0 < y1:
                frames[t, :, y0:y1, x0:x1] = self.fill
        return {**clip, "frames": frames, "visibility": clip["visibility"] * (1 - masked)}

    def apply(self, dataset: Dataset) -> Dataset:
        """``dataset`` with this transform applied to every clip it returns."""
        return TransformedDataset(dataset, self)


class TransformedDataset(Dataset):
    """``dataset[i]`` passed through ``transform``; ``len`` and any other attribute are the dataset's."""

    def __init__(self, dataset: Dataset, transform) -> None:
        self.dataset = dataset
        self.transform = transform

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return self.transform(self.dataset[index])

    def __getattr__(self, name: str):
        if name in ("dataset", "transform"):  # not set yet (e.g. while unpickling in a worker)
            raise AttributeError(name)
        return getattr(self.dataset, name)
