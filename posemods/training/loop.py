"""The pieces of a training and evaluation loop shared by every model: loss, schedule, steps, scoring.

Batches are clips following :mod:`posemods.data.clip` with a leading B. Shapes use the vocabulary of
:mod:`posemods._shapes` (h, w: the heatmap grid).
"""

from __future__ import annotations

import contextlib
import math
from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from posemods.data.clip import CLIP_SPECS
from posemods.metrics import PCK, decode_to_image
from posemods.training.distributed import Context, all_reduce_sum

if TYPE_CHECKING:
    from posemods.models import ModelSpec

#: The clip keys that have a frame axis (after B).
FRAME_KEYS = tuple(key for key, (spec, _) in CLIP_SPECS.items() if spec.split()[:1] == ["T"])


class WarmupCosine:
    """Learning-rate factor: linear warm-up over ``warmup`` steps, then cosine decay to 0 at ``total``.

    A class, not a lambda, so :class:`torch.optim.lr_scheduler.LambdaLR` saves it in its state_dict.
    """

    def __init__(self, warmup: int, total: int) -> None:
        self.warmup = max(int(warmup), 0)
        self.total = max(int(total), 1)

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        progress = min((step - self.warmup) / max(self.total - self.warmup, 1), 1.0)
        return 0.5 * (1.0 + math.cos(math.pi * progress))


def restore_schedule(
    optimizer: torch.optim.Optimizer,
    state: dict,
    lr: float,
    weight_decay: float,
    schedule: WarmupCosine,
) -> torch.optim.lr_scheduler.LambdaLR:
    """A scheduler at the saved step (``state``: a LambdaLR's ``state_dict()``) on *this* run's schedule.

    LambdaLR's state_dict carries the old run's WarmupCosine and base learning rates, and the optimizer's
    carries its lr and weight decay, so resuming with, say, more epochs would keep decaying to 0 at the old
    total and then train at lr 0. So only the saved step is taken, and the scheduler is built anew through
    the public constructor: with ``last_epoch=n - 1`` and each group's ``initial_lr``, LambdaLR's first
    (initial) step lands on step n and sets every group's lr to ``lr * schedule(n)`` ("When last_epoch=-1,
    sets initial lr as lr", torch.optim.lr_scheduler.LRScheduler; otherwise it resumes from
    ``initial_lr``). With unchanged settings this recomputes the same numbers.
    """
    for group in optimizer.param_groups:
        # lr too: at step 0 (last_epoch=-1) the constructor takes initial_lr from the group's lr.
        group["initial_lr"] = group["lr"] = lr
        group["weight_decay"] = weight_decay
    return torch.optim.lr_scheduler.LambdaLR(optimizer, schedule, last_epoch=int(state["last_epoch"]) - 1)


def heatmap_loss(pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """SimpleBaseline's joint MSE: ``0.5 * mean((weight * (pred - target))**2)``.

    pred, target (B, T, J, h, w); weight (B, T, J), 0 for joints without a target. In float32.
    """
    diff = (pred.float() - target.float()) * weight.float()[..., None, None]
    return 0.5 * diff.square().mean()


def select_frames(clips: dict[str, torch.Tensor], frames: slice) -> dict[str, torch.Tensor]:
    """The batched clips with only ``frames`` of their frame axis (axis 1) kept."""
    return {k: (v[:, frames] if k in FRAME_KEYS else v) for k, v in clips.items()}


def predict(model: nn.Module, spec: ModelSpec, clips: dict[str, torch.Tensor]):
    """Run ``model`` on ``clips["frames"]`` (B, T, 3, H, W).

    Returns ``(heatmaps (B, T', J, h, w), clips restricted to those T' frames)``: every frame for a
    ``"clip"`` model, the key frame alone (T' = 1) for a ``"key"`` model. Extra maps (LSTMPM's
    background) are dropped.
    """
    frames = clips["frames"]
    out = model(frames)
    if spec.output == "key":
        k = spec.key_frame(frames.shape[1])
        return out.unsqueeze(1), select_frames(clips, slice(k, k + 1))
    if spec.extra_maps:
        out = out[:, :, : out.shape[2] - spec.extra_maps]
    return out, clips


def eval_loader(dataset: Dataset, batch_size: int, context: Context, workers: int = 0) -> DataLoader:
    """Every process scores the items ``rank, rank + N, ...``: each item exactly once in total."""
    shard = Subset(dataset, range(context.rank, len(dataset), context.world_size))
    return DataLoader(shard, batch_size=batch_size, shuffle=False, num_workers=workers)


def to_device(clips: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device, non_blocking=True) for k, v in clips.items()}


@contextlib.contextmanager
def evaluating(model: nn.Module):
    """``model.eval()`` for the block, then back to the mode it was in, also when the block raises."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def autocast(device: torch.device):
    """bf16 autocast on CUDA; full float32 elsewhere (CPU autocast would only slow small convs)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def train_step(
    model: nn.Module,
    spec: ModelSpec,
    clips: dict[str, torch.Tensor],
    optimizer: torch.optim.Optimizer,
    accumulate: int = 1,
    grad_clip: float = 0.0,
    device: torch.device | None = None,
) -> float:
    """One optimizer step on a process's batch; returns its mean loss.

    The batch is split into ``accumulate`` interleaved micro-batches (micro-batch ``i`` takes clips
    ``i, i + accumulate, ...``), each scaled by ``1 / accumulate``. So one process with
    ``accumulate=N`` computes exactly what DDP on N processes computes: DistributedSampler gives
    process ``r`` the clips ``r, r + N, ...`` of the same global batch, and DDP averages the N
    gradients. BatchNorm sees each micro-batch alone in both cases. Under DDP, gradients are
    synchronised on the last micro-batch only.
    """
    device = torch.device("cpu") if device is None else device
    optimizer.zero_grad(set_to_none=True)
    batch = clips["frames"].shape[0]
    if batch % accumulate:
        raise ValueError(f"accumulate: a batch of {batch} clips does not split into {accumulate} micro-batches")
    total = 0.0
    for i in range(accumulate):
        micro = {k: v[i::accumulate] for k, v in clips.items()}
        last = i == accumulate - 1
        sync = contextlib.nullcontext() if last or not hasattr(model, "no_sync") else model.no_sync()
        with sync:
            with autocast(device):
                pred, micro = predict(model, spec, to_device(micro, device))
            loss = heatmap_loss(pred, micro["heatmaps"], micro["target_weight"])
            (loss / accumulate).backward()
        total += float(loss.detach()) / accumulate
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return total


#: What :func:`evaluate` scores by default: PCK on the visible joints, and on the occluded ones, i.e.
#: annotated but not visible: under an occluder, and also any that fell outside the frame.
DEFAULT_SCORES = {"visible": {"joints": "visible"}, "occluded": {"joints": "occluded"}}


@torch.no_grad()
def evaluate(
    model: nn.Module,
    spec: ModelSpec,
    loader,
    layout,
    context: Context | None = None,
    alpha: float = 0.2,
    normalize: str = "person",
    scores: dict[str, dict] | None = None,
    progress=None,
) -> dict[str, PCK]:
    """Score ``model`` on every batch of ``loader``; returns a :class:`PCK` per entry of ``scores``.

    ``scores`` maps a name to ``update_clips`` options (``joints``, ``normalize``) and an optional
    ``alpha``; the default is :data:`DEFAULT_SCORES` with the given ``alpha`` and ``normalize``.
    Predictions are decoded, mapped back to original-image pixels through each clip's ``affine``,
    and compared with ``joints_image``. Counts are summed over processes, so every process returns
    the totals.
    """
    scores = DEFAULT_SCORES if scores is None else scores
    context = Context() if context is None else context
    metrics = {name: PCK(layout, opt.get("alpha", alpha)) for name, opt in scores.items()}
    with evaluating(model):
        for clips in loader if progress is None else progress(loader):
            clips = to_device(clips, context.device)
            with autocast(context.device):
                pred, clips = predict(model, spec, clips)
            input_size = tuple(clips["frames"].shape[-2:])  # (H, W)
            joints, _ = decode_to_image(pred.float(), clips["affine"], input_size)
            update_scores(metrics, scores, joints, clips, normalize)
    return reduce_scores(metrics, context)


def update_scores(
    metrics: dict[str, PCK], scores: dict[str, dict], joints: torch.Tensor, clips: dict, normalize: str
) -> None:
    """Add one batch's decoded ``joints`` (B, T, J, 2), in original-image pixels, to every score."""
    clips = {k: v.cpu() for k, v in clips.items()}
    for name, opt in scores.items():
        metrics[name].update_clips(
            joints.cpu(), clips, normalize=opt.get("normalize", normalize), joints=opt.get("joints", "visible")
        )


def reduce_scores(metrics: dict[str, PCK], context: Context) -> dict[str, PCK]:
    """Sum every score's counts over processes, so that each process holds the totals."""
    for metric in metrics.values():
        all_reduce_sum(metric.correct, context)
        all_reduce_sum(metric.counted, context)
    return metrics
