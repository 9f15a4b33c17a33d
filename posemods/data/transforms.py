"""Top-down cropping and augmentation of a clip, with one affine for every frame.

Shapes use the vocabulary of :mod:`posemods._shapes`.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from posemods._shapes import expect_shape, expect_size
from posemods.data.clip import make_clip
from posemods.data.geometry import apply_affine, box_to_center_size, crop_affine, warp_frames
from posemods.data.heatmaps import expect_sigma, gaussian_heatmaps
from posemods.skeletons import Skeleton, get_skeleton


@dataclasses.dataclass(frozen=True)
class Augmentation:
    """Random crop changes for training (SimpleBaseline/HRNet's recipe, the KIMNet paper's settings).

    Attributes:
        max_rotation: rotation uniform in [-max_rotation, max_rotation] degrees (45)...
        rotation_prob: ...applied with this probability (0.6, as HRNet), else no rotation.
        scale: the crop's size is multiplied by a factor uniform in this range (0.65-1.35).
        flip_prob: mirror left-right, swapping left/right joint labels (0.5).
        half_body_prob: with this probability (0.3) crop around the upper or the lower body only...
        half_body_min_joints: ...when that half has at least this many visible joints (3).
        half_body_enlarge: the half-body box is enlarged by this factor (1.5) instead of 1.25.
    """

    max_rotation: float = 45.0
    rotation_prob: float = 0.6
    scale: tuple[float, float] = (0.65, 1.35)
    flip_prob: float = 0.5
    half_body_prob: float = 0.3
    half_body_min_joints: int = 3
    half_body_enlarge: float = 1.5


class TopDownTransform:
    """Crop a clip around the person and render the targets, following the clip contract.

    The crop comes from the key frame's box, enlarged ``enlarge`` (1.25x) after fixing its aspect
    ratio to the input's, and the same affine warps every frame, so motion within the clip is kept.

    Args:
        layout: joint layout name or :class:`~posemods.skeletons.Skeleton` (flip pairs, torso, halves).
        input_size: (H, W) of the crop (torch's order, as every grid size in posemods).
        heatmap_size: (h, w) of the targets.
        sigma: Gaussian sigma in heatmap pixels.
        enlarge: box enlargement.
        augmentation: an :class:`Augmentation` for training, ``None`` for evaluation.
    """

    def __init__(
        self,
        layout: str | Skeleton,
        input_size: tuple[int, int] = (256, 256),
        heatmap_size: tuple[int, int] = (64, 64),
        sigma: float = 2.0,
        enlarge: float = 1.25,
        augmentation: Augmentation | None = None,
    ) -> None:
        self.skeleton = get_skeleton(layout)
        self.input_size = expect_size("input_size", input_size)
        self.heatmap_size = expect_size("heatmap_size", heatmap_size)
        self.sigma = expect_sigma(sigma)  # here, not at the first clip
        self.enlarge = enlarge
        self.augmentation = augmentation

    def crop_params(
        self,
        joints: torch.Tensor,
        visibility: torch.Tensor,
        bbox: torch.Tensor,
        rng: np.random.Generator | None,
    ) -> tuple[torch.Tensor, bool]:
        """The affine for one frame's joints (J, 2), visibility (J,) and box (4,), and whether it flips."""
        aug = self.augmentation if rng is not None else None
        aspect = self.input_size[1] / self.input_size[0]  # W / H
        center, size = box_to_center_size(bbox, aspect, self.enlarge)
        rotation, flip = 0.0, False
        if aug is not None:
            if rng.random() < aug.half_body_prob:
                half = self._half_body(joints, visibility, rng, aug.half_body_min_joints)
                if half is not None:
                    center, size = box_to_center_size(half, aspect, aug.half_body_enlarge)
            size = size * float(rng.uniform(*aug.scale))
            if rng.random() < aug.rotation_prob:
                rotation = float(rng.uniform(-aug.max_rotation, aug.max_rotation))
            flip = bool(rng.random() < aug.flip_prob)
        return crop_affine(center, size, self.input_size, rotation, flip), flip

    def render_targets(self, joints_crop: torch.Tensor, annotated: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(heatmaps (T, J, h, w), target_weight (T, J))`` for crop joints (T, J, 2): one Gaussian per
        annotated joint (:func:`~posemods.data.heatmaps.gaussian_heatmaps`). A pipeline that renders
        its targets otherwise overrides this (:class:`posemods.data.rpstn.RPSTNTransform`)."""
        return gaussian_heatmaps(joints_crop, annotated, self.heatmap_size, self.input_size, self.sigma)

    def _half_body(self, joints, visibility, rng, min_joints) -> torch.Tensor | None:
        halves = [self.skeleton.upper_body, self.skeleton.lower_body]
        if rng.random() < 0.5:
            halves.reverse()
        for half in halves:
            chosen = [j for j in half if visibility[j] > 0 and bool(joints[j].isfinite().all())]
            if len(chosen) >= min_joints:
                pts = joints[chosen].double()
                return torch.cat((pts.min(0).values, pts.max(0).values))
        return None

    def __call__(
        self,
        frames: torch.Tensor,
        joints: torch.Tensor,
        visibility: torch.Tensor,
        annotated: torch.Tensor,
        bbox: torch.Tensor,
        key_frame: int,
        rng: np.random.Generator | None = None,
        frame_mask: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Make a clip from original frames (T, 3, Hin, Win) (uint8 or float in [0, 1]), joints (T, J, 2)
        and visibility/annotated (T, J) in original-image pixels, and boxes (T, 4) (x1, y1, x2, y2).

        ``rng`` draws the augmentation (none when ``None`` or when no augmentation was configured).
        """
        known = {"J": self.skeleton.num_joints}
        expect_shape("frames", frames, "T 3 Hin Win", known)
        expect_shape("joints", joints, "T J 2", known)
        expect_shape("visibility", visibility, "T J", known)
        expect_shape("annotated", annotated, "T J", known)
        expect_shape("bbox", bbox, "T 4", known)
        if not 0 <= key_frame < known["T"]:
            raise ValueError(f"key_frame: expected an index in [0, {known['T']}), got {key_frame}")
        affine, flip = self.crop_params(
            joints[key_frame], visibility[key_frame] * annotated[key_frame], bbox[key_frame], rng
        )
        crop = warp_frames(frames.float(), affine, self.input_size)
        if not frames.is_floating_point():
            crop = crop / 255.0
        joints_crop = apply_affine(joints.double(), affine)
        joints_image = joints.double()
        if flip:
            perm = list(self.skeleton.flip_index)
            joints_crop, joints_image = joints_crop[:, perm], joints_image[:, perm]
            visibility, annotated = visibility[:, perm], annotated[:, perm]
        heatmaps, target_weight = self.render_targets(joints_crop, annotated)
        return make_clip(
            frames=crop.clamp(0, 1),
            joints=joints_crop,
            visibility=visibility,
            annotated=annotated,
            heatmaps=heatmaps,
            target_weight=target_weight,
            affine=affine,
            joints_image=joints_image,
            bbox=bbox,
            torso=(self.skeleton.index(self.skeleton.torso[0]), self.skeleton.index(self.skeleton.torso[1])),
            frame_mask=frame_mask,
            key_frame=key_frame,
            flipped=flip,
        )
