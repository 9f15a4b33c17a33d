"""PoseTrack mAP of a top-down model: per-track clip predictions, regrouped by frame, scored as poseval does.

The PoseTrack evaluation set (:class:`posemods.data.PoseTrack`, ``train=False``) has one clip per
person track and labelled frame, scoring only that key frame. Each clip's key-frame joints (decoded
and mapped back to the image) and heatmap peak values (the joint scores) are collected, grouped by
image, and matched against every person of that frame by :func:`posemods.metrics.posetrack_map`.

The crops come from the ground-truth boxes of the labelled people, as in top-down evaluations that
use given boxes: the number measures pose estimation, not person detection. Published PoseTrack
results crop from a detector's boxes, so they are not directly comparable.
Shapes use the vocabulary of :mod:`posemods._shapes`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Subset

from posemods.data import read_posetrack_frames
from posemods.metrics import decode_to_image, posetrack_map
from posemods.training.distributed import Context
from posemods.training.loop import autocast, evaluating, predict, to_device

if TYPE_CHECKING:
    from posemods.models import ModelSpec


@torch.no_grad()
def predict_key_frames(
    model, spec: ModelSpec, dataset, context: Context | None = None, batch_size: int = 8
) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    """``{image path: [(joints (J, 2), scores (J,)), one per track]}`` over ``dataset``'s items.

    Every process predicts the items ``rank, rank + N, ...``; the results are gathered on all.
    """
    context = Context() if context is None else context
    shard = list(range(context.rank, len(dataset), context.world_size))
    loader = DataLoader(Subset(dataset, shard), batch_size=batch_size, shuffle=False)
    found: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    position = 0
    with evaluating(model):
        for clips in loader:
            clips = to_device(clips, context.device)
            with autocast(context.device):
                heatmaps, kept = predict(model, spec, clips)
            input_size = tuple(kept["frames"].shape[-2:])  # (H, W)
            joints, scores = decode_to_image(heatmaps.float(), kept["affine"], input_size)
            scored = kept["frame_mask"].argmax(1)  # the key frame, the one frame each item scores
            for b in range(joints.shape[0]):
                record, key, _ = dataset.items[shard[position]]
                position += 1
                image = str(dataset.records[record].frame_paths[key])
                t = int(scored[b])
                found.setdefault(image, []).append((joints[b, t].cpu().numpy(), scores[b, t].cpu().numpy()))
    if context.distributed:
        parts: list = [None] * context.world_size
        dist.all_gather_object(parts, found)
        found = {}
        for part in parts:
            for image, people in part.items():
                found.setdefault(image, []).extend(people)
    return found


def posetrack_map_of(
    predictions: dict[str, list[tuple[np.ndarray, np.ndarray]]], root: str | Path, annotation_dir: str | Path
) -> dict[str, float]:
    """poseval's mAP of ``predictions`` (from :func:`predict_key_frames`) against every video's JSON
    in ``annotation_dir``; frames without predictions count their ground truth as missed.

    Files are read in name order. poseval reads them in ``glob.glob`` order, which the file system
    decides; the two can rank equal scores of different videos differently, nothing else.
    """
    files = sorted(Path(annotation_dir).glob("*.json"))
    if not files:
        raise FileNotFoundError(f"annotation_dir: no *.json in {annotation_dir}")
    gt_frames = [frame for path in files for frame in read_posetrack_frames(path, root)]
    pred_frames = []
    for frame in gt_frames:
        people = predictions.get(frame["image"], [])
        joints = frame["keypoints"].shape[1]
        pred_frames.append({
            "keypoints": np.stack([p[0] for p in people]) if people else np.zeros((0, joints, 2)),
            "scores": np.stack([p[1] for p in people]) if people else np.zeros((0, joints)),
        })  # fmt: skip
    try:
        return posetrack_map(gt_frames, pred_frames)
    except ValueError as error:
        # The metric names gt_frames[i]; the user needs the image it came from.
        found = re.match(r"gt_frames\[(\d+)\]", str(error))
        if found is None:
            raise
        raise ValueError(f"{gt_frames[int(found.group(1))]['image']}: {error}") from None
