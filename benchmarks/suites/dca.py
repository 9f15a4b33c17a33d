"""DeformableCrossAttention at module level: posemods' core against what research code writes.

Providers share one module and its weights and differ only in the sampling-attention core
(benchmarks/providers/dca_module.py): the naive grid_sample of unprojected features for every query at
once, the Deformable-DETR-style formulation (project first, one grid_sample per map over all queries), the
posemods reference (chunked), the same under torch.compile, and the fused kernels on CUDA.
"""

from __future__ import annotations

import functools

import torch

import posemods
from benchmarks.gpu_model import Work
from benchmarks.harness import Case, make_step, module_case
from benchmarks.providers.dca_module import dca_forward

BASELINE = "naive grid_sample"
HEADS, POINTS = 8, 4
CPU_SHAPES = [(8, 256, (64, 48)), (1, 256, (64, 48)), (8, 384, (16, 12))]
GPU_SHAPES = [
    (b, c, hw) for b in (1, 8, 32) for c, hw in ((256, (64, 48)), (256, (64, 64)), (384, (16, 12)), (1024, (16, 12)))
]


def _build(provider, batch, channels, hw, device, dtype, backward):
    torch.manual_seed(0)
    dca = posemods.DCA(channels, HEADS, POINTS, qkv_bias=False).to(device, dtype)
    gen = torch.Generator().manual_seed(0)
    length = hw[0] * hw[1]
    x = torch.randn(batch, length, channels, generator=gen).to(device, dtype).requires_grad_()
    constraint = torch.randn(batch, length, channels, generator=gen).to(device, dtype).requires_grad_()
    if provider == "posemods reference + torch.compile":
        dca.backend = "reference"
        fn = torch.compile(dca)
        call = lambda: fn(x, constraint, hw)
    else:
        call = lambda: dca_forward(dca, provider, x, constraint, hw)
    return make_step(call, [*dca.parameters(), x, constraint], backward)


def cases(device: str, dtype: torch.dtype, quick: bool) -> list[Case]:
    shapes = [(1, 64, (8, 6))] if quick else (GPU_SHAPES if device == "cuda" else CPU_SHAPES)
    providers = [BASELINE, "Deformable-DETR-style", "posemods reference"]
    if not quick:  # compiling costs tens of seconds; the quick smoke test compiles KMM only
        providers.append("posemods reference + torch.compile")
    if device == "cuda":
        providers.append("posemods triton")
    out = []
    for batch, channels, hw in shapes:
        for backward in (True,) if quick else (False, True):  # quick: the machinery, not the numbers
            for provider in providers:
                shape = f"B={batch} C={channels} G={HEADS} N={POINTS} {hw[0]}x{hw[1]}"
                build = functools.partial(_build, provider, batch, channels, hw, device, dtype, backward)
                out.append(module_case("DCA", provider, shape, backward, device, dtype, baseline=BASELINE, build=build))
    return out


def work(batch, queries, hw, heads, points, dim, dim_v, dtype, keys=True) -> Work:
    """One fused call: read query, locations and each map once, write the output (and the logsumexp).
    Arithmetic per point: 4 corners blended over D (+ Dv), the dot with the query and the weighted sum."""
    size = torch.tensor([], dtype=dtype).element_size()
    maps = batch * hw[0] * hw[1] * heads * ((dim if keys else 0) + dim_v)
    per_query = (dim if keys else points) + points * 2 + dim_v
    nbytes = size * (maps + batch * queries * heads * per_query) + 4 * batch * queries * heads
    flops = 2 * batch * queries * heads * points * (5 * (dim if keys else 0) + 5 * dim_v)
    return Work(nbytes, flops, "fma")


def roofline(dtype: torch.dtype, quick: bool):
    rows = []
    for batch, channels, hw in [(1, 64, (8, 6))] if quick else GPU_SHAPES:
        queries, dim = hw[0] * hw[1], channels // HEADS
        label = f"B={batch} C={channels} G={HEADS} N={POINTS} {hw[0]}x{hw[1]}"
        rows.append((f"deformable_cross_attention {label}", work(batch, queries, hw, HEADS, POINTS, dim, dim, dtype)))
        rows.append((f"deformable_attention {label}", work(batch, queries, hw, HEADS, POINTS, dim, dim, dtype, False)))
    return rows
