"""Scoring recursive models over whole videos: ``python -m posemods.evaluate --eval-mode video``.

"KIMNet recursively estimates human poses from each frame", and LSTM Pose Machines' evaluation runs
each test sequence from its first frame to its last. Cutting a video into clips restarts the
recursion from the pose initializer at every clip (a 12-frame video cut into 5-frame clips scores
frames 1, 6 and 11 straight from the initializer). Here each test video is one item, fed frame by
frame to the model's ``stream``: the initializer runs on frame 1 only and every frame is scored once.

Batches are clips following :mod:`posemods.data.clip`; shapes use the vocabulary of
:mod:`posemods._shapes`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from posemods.metrics import PCK, decode_to_image
from posemods.training.distributed import Context
from posemods.training.loop import DEFAULT_SCORES, autocast, evaluating, reduce_scores, to_device, update_scores

if TYPE_CHECKING:
    from posemods.models import ModelSpec

EVAL_MODES = ("video", "clips")


def default_eval_mode(model: nn.Module) -> str:
    """``"video"`` for the recursive models (they have ``stream``), ``"clips"`` for the others."""
    return "video" if callable(getattr(model, "stream", None)) else "clips"


class WholeVideos(Dataset):
    """One item per video of a reader's evaluation set (a :class:`~posemods.data.VideoPoseDataset`).

    An item is the list of the video's frames, each a one-frame clip cropped around its own box, as
    LSTM Pose Machines' test code does (``testing/src/run_benchmark_GPU_PENN.m``: every frame ``n``
    goes through ``transform_test(test.sequence{j},n,...)``, which crops around
    ``bbox = sequence.frame{seqID}.bbox``, and the previous frame's heatmaps are fed on as they are).
    Each frame is scored once, with its own crop's affine. A synthetic set's clips already are whole
    videos with one (identity) affine and pass through unchanged.
    """

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self.records = getattr(dataset, "records", None)

    def __len__(self) -> int:
        return len(self.dataset) if self.records is None else len(self.records)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor] | list[dict[str, torch.Tensor]]:
        if self.records is None:
            return self.dataset[index]
        from posemods.data.video_dataset import load_frames

        record = self.records[index]
        one = lambda array, t: torch.from_numpy(np.asarray(array[t : t + 1]))
        return [
            self.dataset.transform(
                load_frames([record.frame_paths[t]]),
                one(record.joints, t).double(),
                one(record.visibility, t).float(),
                one(record.annotated, t).float(),
                one(record.bbox, t).double(),
                key_frame=0,
            )
            for t in range(len(record.frame_paths))
        ]


@torch.no_grad()
def evaluate_videos(
    model: nn.Module,
    spec: ModelSpec,
    loader,
    layout,
    context: Context | None = None,
    alpha: float = 0.2,
    normalize: str = "person",
    scores: dict[str, dict] | None = None,
) -> dict[str, PCK]:
    """Score ``model`` on every video of ``loader`` (batches of whole videos) through ``model.stream``.

    The same scores as :func:`posemods.training.loop.evaluate`; each frame's heatmaps are decoded
    to original-image joints as soon as they come, so memory does not grow with the video beyond
    its frames and joints.
    """
    if not callable(getattr(model, "stream", None)):
        raise ValueError(f"eval_mode: 'video' needs a recursive model with stream(); {type(model).__name__} has none")
    scores = DEFAULT_SCORES if scores is None else scores
    context = Context() if context is None else context
    metrics = {name: PCK(layout, opt.get("alpha", alpha)) for name, opt in scores.items()}
    with evaluating(model):
        for video in loader:
            # A whole clip (one crop for every frame), or a list of one-frame clips, each its own crop.
            per_frame = [video] if isinstance(video, dict) else video
            per_frame = [to_device(clip, context.device) for clip in per_frame]
            frames = [f for clip in per_frame for f in clip["frames"].unbind(1)]
            owner = [i for i, clip in enumerate(per_frame) for _ in range(clip["frames"].shape[1])]
            decoded: list[list[torch.Tensor]] = [[] for _ in per_frame]
            with autocast(context.device):
                for i, heatmap in zip(owner, model.stream(frames)):
                    if spec.extra_maps:
                        heatmap = heatmap[:, : heatmap.shape[1] - spec.extra_maps]
                    clip = per_frame[i]
                    input_size = tuple(clip["frames"].shape[-2:])  # (H, W)
                    # Decoded at once into original-image pixels with this frame's own crop.
                    decoded[i].append(decode_to_image(heatmap[:, None].float(), clip["affine"], input_size)[0])
            for clip, joints in zip(per_frame, decoded):
                update_scores(metrics, scores, torch.cat(joints, dim=1), clip, normalize)
    return reduce_scores(metrics, context)
