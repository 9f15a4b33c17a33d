"""Scoring by the RPSTN authors' protocol: ``python -m posemods.evaluate CKPT --protocol rpstn``.

Their test (github:YHDang/RPSTN f7dcd3e, ``pose_estimation/1_test_penn.py``): one clip of T frames per
test video (:class:`posemods.data.rpstn.RPSTNTestClips`), each frame cropped by its own box, the model
run on the clip from its pose initializer, and :class:`posemods.metrics.RPSTNPCK` on the predicted
heatmaps against their target heatmaps (:func:`posemods.data.rpstn.rpstn_heatmaps`, rendered here from
each frame's crop joints, whatever the training pipeline rendered). Synthetic evaluation clips are
scored as they are, one clip standing for one video.
"""

from __future__ import annotations

import torch
from torch import nn

from posemods.data.rpstn import rpstn_heatmaps
from posemods.metrics import RPSTNPCK
from posemods.models import ModelSpec
from posemods.training.distributed import Context, all_reduce_sum
from posemods.training.loop import autocast, evaluating, predict, to_device

#: The datasets this protocol can score: theirs is Penn Action; synthetic clips stand in for videos.
RPSTN_DATASETS = ("penn_action", "synthetic")


def _stack_frames(item) -> dict[str, torch.Tensor]:
    """A batch of one-frame clips (a list of T dicts, B = 1 each) as one (1, T, ...) clip of frames and joints."""
    if isinstance(item, dict):
        return item
    return {key: torch.cat([frame[key] for frame in item], dim=1) for key in ("frames", "joints", "annotated")}


@torch.no_grad()
def evaluate_rpstn(
    model: nn.Module, spec: ModelSpec, loader, layout, context: Context | None = None, alpha: float = 0.2
) -> RPSTNPCK:
    """Score ``model`` on every clip of ``loader`` (over :class:`~posemods.data.rpstn.RPSTNTestClips`); counts
    summed over processes."""
    if spec.output != "clip":
        raise ValueError(f"protocol: 'rpstn' scores every frame of a clip; {type(model).__name__} predicts one frame")
    context = Context() if context is None else context
    metric = RPSTNPCK(layout, alpha)
    with evaluating(model):
        for item in loader:
            clips = to_device(_stack_frames(item), context.device)
            with autocast(context.device):
                pred, clips = predict(model, spec, clips)
            input_size = tuple(clips["frames"].shape[-2:])  # (H, W)
            target, _ = rpstn_heatmaps(
                clips["joints"].cpu(), clips["annotated"].cpu(), tuple(pred.shape[-2:]), input_size
            )
            metric.update(pred.float().cpu(), target)
    all_reduce_sum(metric.total, context)
    all_reduce_sum(metric.clips, context)
    return metric
