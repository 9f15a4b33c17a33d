"""BMD's deformable branch: DCA vs DA (plain deformable attention) vs DC (torchvision's deform_conv2d),
each as the whole BMD module at equal width, so the table reads as VREMD's Table 6 in time and memory."""

from __future__ import annotations

import functools

import torch

import posemods
from benchmarks.harness import Case, make_step, module_case

BASELINE = "DC (deform_conv2d)"
OPERATORS = {"DCA": "dca", "DA": "da", BASELINE: "dc"}


def _build(operator, batch, frames, channels, hw, device, dtype, backward):
    torch.manual_seed(0)
    bmd = posemods.BMD(channels, operator=operator, num_frames=frames).to(device, dtype)
    gen = torch.Generator().manual_seed(0)
    length = hw[0] * hw[1]
    feats = torch.randn(batch, frames, length, channels, generator=gen).to(device, dtype).requires_grad_()
    enhanced = torch.randn(batch, length, channels, generator=gen).to(device, dtype).requires_grad_()
    return make_step(lambda: bmd(feats, enhanced, hw), [*bmd.parameters(), feats, enhanced], backward)


def cases(device: str, dtype: torch.dtype, quick: bool) -> list[Case]:
    if quick:
        shapes = [(1, 3, 32, (4, 3))]
    elif device == "cuda":
        shapes = [(b, t, c, (16, 12)) for b in (1, 8, 32) for t in (3, 5) for c in (384, 768, 1024)]
    else:
        shapes = [(8, 3, 384, (16, 12)), (1, 5, 768, (16, 12))]
    out = []
    for batch, frames, channels, hw in shapes:
        for backward in (True,) if quick else (False, True):  # quick: the machinery, not the numbers
            for provider, operator in OPERATORS.items():
                shape = f"B={batch} T={frames} C={channels} {hw[0]}x{hw[1]}"
                build = functools.partial(_build, operator, batch, frames, channels, hw, device, dtype, backward)
                out.append(
                    module_case(
                        "BMD operator", provider, shape, backward, device, dtype, baseline=BASELINE, build=build
                    )
                )
    return out
