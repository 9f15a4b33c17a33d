"""Parameter counts and per-frame CPU latency of the reference models."""

from __future__ import annotations

import statistics
import time

import torch
from torch import nn


def count_parameters(model: nn.Module) -> dict[str, int]:
    """Parameters by top-level child, plus ``"total"``. Tied parameters count once."""
    counts: dict[str, int] = {}
    seen: set[int] = set()
    for name, child in model.named_children():
        n = 0
        for p in child.parameters():
            if id(p) not in seen:
                seen.add(id(p))
                n += p.numel()
        counts[name] = n
    counts["total"] = sum(p.numel() for p in model.parameters())  # parameters() already dedups
    return counts


def summary(model: nn.Module) -> str:
    """A small table of parameter counts (in millions) by component, ending with the total."""
    counts = count_parameters(model)
    width = max(len(k) for k in counts)
    lines = [f"{type(model).__name__}"]
    lines += [f"  {name:<{width}}  {n / 1e6:10.3f} M" for name, n in counts.items()]
    return "\n".join(lines)


@torch.inference_mode()
def per_frame_latency(model: nn.Module, video: torch.Tensor, repeats: int = 5, warmup: int = 1) -> dict[str, float]:
    """Median and min wall time of ``model(video)`` per predicted frame, in milliseconds.

    ``video`` is (B, T, 3, H, W). A model that returns every frame's heatmaps, (B, T, J, h, w), is timed
    per frame (divided by T); one that returns a key frame's, (B, J, h, w) like VREMD, per clip. Runs in
    eval mode under ``torch.inference_mode()``, and restores the model's mode after.
    """
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            for _ in range(warmup):
                out = model(video)
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                out = model(video)
                times.append((time.perf_counter() - start) * 1e3)
    finally:
        model.train(was_training)
    frames = out.shape[1] if out.dim() == 5 else 1
    times = [t / frames for t in times]
    return {"median_ms": statistics.median(times), "min_ms": min(times), "repeats": repeats, "frames": frames}
