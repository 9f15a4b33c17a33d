"""Module suite: each posemods module against what a user would otherwise write, at pose-realistic shapes.

Each module's cases live in their own file (kmm, dca, bmd, hkm) with one baseline provider that the
speedup columns divide by, and a ``roofline`` of the fused ops' compulsory bytes and FLOPs.
"""

from __future__ import annotations

import torch

from benchmarks.harness import Case
from benchmarks.suites import bmd, dca, hkm, kmm

MODULES = (kmm, dca, bmd, hkm)


def cases(device: str, dtype: torch.dtype, quick: bool) -> list[Case]:
    return [case for module in MODULES for case in module.cases(device, dtype, quick)]


def roofline(dtype: torch.dtype, quick: bool):
    return [row for module in MODULES if hasattr(module, "roofline") for row in module.roofline(dtype, quick)]
