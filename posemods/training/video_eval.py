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

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset

from posemods.metrics import PCK, decode_to_image
from posemods.training.distributed import Context, all_reduce_sum
from posemods.training.loop import DEFAULT_SCORES, autocast, to_device
from posemods.training.registry import ModelSpec

EVAL_MODES = ("video", "clips")


def default_eval_mode(model: nn.Module) -> str:
    """``"video"`` for the recursive models (they have ``stream``), ``"clips"`` for the others."""
    return "video" if callable(getattr(model, "stream", None)) else "clips"


class WholeVideos(Dataset):
    """One clip per video of a reader's evaluation set (a :class:`~posemods.data.VideoPoseDataset`).

    Every frame of the video is in the clip and scored (``frame_mask`` all ones). The crop is one
    for the whole video, from its middle frame's box, as each evaluation clip's crop comes from its
    key frame; a synthetic set's clips already are whole videos and pass through unchanged.
    """

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self.records = getattr(dataset, "records", None)

    def __len__(self) -> int:
        return len(self.dataset) if self.records is None else len(self.records)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if self.records is None:
            return self.dataset[index]
        from posemods.data.video_dataset import load_frames

        record = self.records[index]
        n = len(record.frame_paths)
        return self.dataset.transform(
            load_frames(list(record.frame_paths)),
            torch.from_numpy(np.asarray(record.joints)).double(),
            torch.from_numpy(np.asarray(record.visibility)).float(),
            torch.from_numpy(np.asarray(record.annotated)).float(),
            torch.from_numpy(np.asarray(record.bbox)).double(),
            key_frame=n // 2,
        )


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
    was_training = model.training
    model.eval()
    try:
        for clips in loader:
            clips = to_device(clips, context.device)
            frames = clips["frames"]
            input_size = tuple(frames.shape[-2:])  # (H, W)
            joints = []
            with autocast(context.device):
                for heatmap in model.stream(frames.unbind(1)):
                    if spec.extra_maps:
                        heatmap = heatmap[:, : heatmap.shape[1] - spec.extra_maps]
                    joints.append(decode_to_image(heatmap[:, None].float(), clips["affine"], input_size)[0])
            joints = torch.cat(joints, dim=1)
            for name, opt in scores.items():
                metrics[name].update_clips(
                    joints.cpu(),
                    {k: v.cpu() for k, v in clips.items()},
                    normalize=opt.get("normalize", normalize),
                    joints=opt.get("joints", "visible"),
                )
    finally:
        model.train(was_training)
    for metric in metrics.values():
        all_reduce_sum(metric.correct, context)
        all_reduce_sum(metric.counted, context)
    return metrics
