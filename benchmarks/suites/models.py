"""Model suite: per-frame latency and parameters of the reference models (filled in as they land)."""

from __future__ import annotations

import torch

from benchmarks.harness import Case


def cases(device: str, dtype: torch.dtype, quick: bool) -> list[Case]:
    return []
