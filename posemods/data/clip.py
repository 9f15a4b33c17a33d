"""The clip contract: what every dataset in :mod:`posemods.data` returns.

A clip is a plain ``dict[str, torch.Tensor]`` (so ``torch.utils.data.default_collate`` batches it
by adding a leading B). :class:`~posemods.data.SyntheticPoseVideos` and every reader after its
:class:`~posemods.data.TopDownTransform` return exactly these keys, so one training loop and one
evaluation loop consume both. Shapes use the vocabulary of :mod:`posemods._shapes`, with h, w the
heatmap grid; coordinates follow :mod:`posemods.data.geometry` (pixel centres at integers).

================  ================  ===========================================================
key               shape / dtype     meaning
================  ================  ===========================================================
frames            (T, 3, H, W) f32  RGB crop, values in [0, 1]; each model in posemods.models
                                    normalises it in its first layer, ``normalize``
joints            (T, J, 2) f32     joint (x, y) in crop pixels
visibility        (T, J) f32        1 where the joint counts for PCK, as the dataset's reference
                                    evaluation decides: Penn's visibility == 1, every JHMDB joint
                                    (LSTMPM counts them all), synthetic joints not occluded
annotated         (T, J) f32        1 where the joint's position is known (synthetic clips and
                                    Penn Action know occluded joints too; PoseTrack leaves
                                    unlabelled frames at 0)
target_weight     (T, J) f32        1 where ``heatmaps`` carries a Gaussian (annotated and inside
                                    the heatmap): the loss weight
heatmaps          (T, J, h, w) f32  Gaussian targets, peak 1, sigma in heatmap pixels
frame_mask        (T,) f32          1 where the frame is scored; evaluation items cover every
                                    frame of a video exactly once (training items: all ones)
affine            (2, 3) f64        original-image pixels -> crop pixels; one for the whole clip,
                                    taken from the key frame's box (identity for synthetic clips)
joints_image      (T, J, 2) f64     ``joints`` mapped back to original-image pixels (same labels
                                    as ``joints``, so also swapped in a flipped clip)
bbox              (T, 4) f64        the person box (x1, y1, x2, y2) in original-image pixels
person_size       (T,) f64          max(bbox w, bbox h): PCK's default normaliser (zero or negative
                                    for a degenerate dataset box: its joints then count as misses)
torso_size        (T,) f64          |shoulder - opposite hip| in the original image (the layout's
                                    ``Skeleton.torso``) between the stored coordinates, annotated
                                    or not, as LSTMPM's ``norm(label(:,3) - label(:,8))``; PCK
                                    takes the predicted torso where it is under 1 px (or NaN)
key_frame         () i64            the frame whose box defined ``affine``
flipped           () bool           the crop was mirrored (``joints`` labels already swapped)
================  ================  ===========================================================

The evaluation geometry (``affine``, ``joints_image``, ``bbox``, ``person_size``, ``torso_size``) is
float64 because the reference evaluations compute in double: LSTMPM's MATLAB ``hit = error_dist <=
bodysize*0.2`` is a double comparison, and a float32 torso (e.g. ``sqrt(125)`` rounded down) turns
its exact ties into misses. Network inputs and targets stay float32.

To score predictions, decode heatmaps with :func:`posemods.metrics.decode_heatmaps`, map them
back with :func:`posemods.metrics.heatmap_to_image` and ``affine``, and compare with
``joints_image`` using :func:`posemods.metrics.pck` and ``visibility * frame_mask[..., None]``
as the mask.
"""

from __future__ import annotations

import torch

from posemods._shapes import expect_shape

CLIP_SPECS: dict[str, tuple[str, torch.dtype]] = {
    "frames": ("T 3 H W", torch.float32),
    "joints": ("T J 2", torch.float32),
    "visibility": ("T J", torch.float32),
    "annotated": ("T J", torch.float32),
    "target_weight": ("T J", torch.float32),
    "heatmaps": ("T J h w", torch.float32),
    "frame_mask": ("T", torch.float32),
    "affine": ("2 3", torch.float64),
    "joints_image": ("T J 2", torch.float64),
    "bbox": ("T 4", torch.float64),
    "person_size": ("T", torch.float64),
    "torso_size": ("T", torch.float64),
    "key_frame": ("", torch.int64),
    "flipped": ("", torch.bool),
}


def check_clip(clip: dict[str, torch.Tensor], batched: bool = False) -> dict[str, int]:
    """Raise unless ``clip`` follows the contract; return the sizes ``{"T": ..., "J": ..., ...}``.

    With ``batched`` every tensor carries a leading B.
    """
    missing = set(CLIP_SPECS) - set(clip)
    extra = set(clip) - set(CLIP_SPECS)
    if missing or extra:
        raise ValueError(f"clip: missing keys {sorted(missing)}, unexpected keys {sorted(extra)}")
    known: dict[str, int] = {}
    for key, (spec, dtype) in CLIP_SPECS.items():
        expect_shape(key, clip[key], ("B " if batched else "") + spec, known)
        if clip[key].dtype != dtype:
            raise TypeError(f"{key}: expected {dtype}, got {clip[key].dtype}")
    return known


def make_clip(
    frames: torch.Tensor,
    joints: torch.Tensor,
    visibility: torch.Tensor,
    annotated: torch.Tensor,
    heatmaps: torch.Tensor,
    target_weight: torch.Tensor,
    affine: torch.Tensor,
    joints_image: torch.Tensor,
    bbox: torch.Tensor,
    torso: tuple[int, int],
    frame_mask: torch.Tensor | None = None,
    key_frame: int = 0,
    flipped: bool = False,
) -> dict[str, torch.Tensor]:
    """Assemble a clip, deriving ``person_size`` and ``torso_size``, and check it."""
    t = frames.shape[0]
    joints_image = joints_image.double()
    bbox = bbox.double()
    person_size = torch.maximum(bbox[:, 2] - bbox[:, 0], bbox[:, 3] - bbox[:, 1])
    a, b = torso
    # Whatever the joints' visibility or annotation: LSTMPM's torso_norm branch measures the stored labels.
    torso_size = (joints_image[:, a] - joints_image[:, b]).norm(dim=-1)
    clip = {
        "frames": frames.float(),
        "joints": joints.float(),
        "visibility": (visibility.float() * annotated.float()),
        "annotated": annotated.float(),
        "target_weight": target_weight.float(),
        "heatmaps": heatmaps.float(),
        "frame_mask": torch.ones(t) if frame_mask is None else frame_mask.float(),
        "affine": affine.double(),
        "joints_image": joints_image,
        "bbox": bbox,
        "person_size": person_size,
        "torso_size": torso_size,
        "key_frame": torch.tensor(key_frame, dtype=torch.int64),
        "flipped": torch.tensor(bool(flipped)),
    }
    check_clip(clip)
    return clip
