"""Module suite: each posemods module against what a user would otherwise write, at pose-realistic shapes.

Every module lists its providers, with one baseline that the speedup columns divide by, and a ``work``
function giving the fused op's compulsory bytes and FLOPs for the GPU roofline.
"""

from __future__ import annotations

import functools

import torch

import posemods
from benchmarks.gpu_model import Work
from benchmarks.harness import Case


def _step(module_call, params_and_inputs, backward: bool):
    """Zero-argument step: forward, plus backward of the sum of outputs when ``backward``."""

    def step():
        out = module_call()
        if backward:
            out = out[0] if isinstance(out, tuple) else out
            out.sum().backward()
            for t in params_and_inputs:
                t.grad = None
        return out

    return step


# --- KMM -----------------------------------------------------------------------------------------


def _kmm_inputs(batch, channels, joints, hw, device, dtype):
    gen = torch.Generator().manual_seed(0)
    feats = [torch.randn(batch, channels, *hw, generator=gen).to(device, dtype).requires_grad_() for _ in range(2)]
    heatmap = torch.rand(batch, joints, *hw, generator=gen).to(device, dtype).requires_grad_()
    return feats[0], feats[1], heatmap


def _build_kmm(provider, batch, channels, joints, hw, device, dtype, backward):
    torch.manual_seed(0)
    feat_prev, feat_cur, heatmap = _kmm_inputs(batch, channels, joints, hw, device, dtype)
    if provider == "two 1x1 convs alone":
        convs = torch.nn.ModuleList(torch.nn.Conv2d(channels, joints, 1) for _ in range(2)).to(device, dtype)
        call = lambda: convs[0](feat_prev) + convs[1](feat_cur)
        params = list(convs.parameters())
    else:
        backend = "triton" if provider == "posemods triton" else "reference"
        kmm = posemods.KMM(channels, joints, backend=backend).to(device, dtype)
        fn = torch.compile(kmm) if provider == "posemods reference + torch.compile" else kmm
        call = lambda: fn(feat_prev, feat_cur, heatmap)
        params = list(kmm.parameters())
    return _step(call, [*params, feat_prev, feat_cur, heatmap], backward)


def kmm_work(batch, joints, hw, value_hw, dtype) -> Work:
    """The fused attention alone: read query, key, value; write pred and attn."""
    size = torch.tensor([], dtype=dtype).element_size()
    positions, value_positions = hw[0] * hw[1], value_hw[0] * value_hw[1]
    nbytes = size * batch * joints * (2 * positions + 2 * value_positions + joints)
    flops = 2 * batch * joints * joints * (positions + value_positions)
    return Work(nbytes, flops, "tensor")


KMM_GPU_SHAPES = [(b, j, hw) for b in (1, 8, 32) for j, hw in ((13, (64, 48)), (17, (64, 48)), (17, (64, 64)))]


def kmm_cases(device: str, dtype: torch.dtype, quick: bool) -> list[Case]:
    if quick:
        shapes = [(1, 32, 13, (16, 12))]
    elif device == "cuda":
        shapes = [(b, 256, j, hw) for b, j, hw in KMM_GPU_SHAPES]
    else:
        shapes = [(1, 256, 13, (64, 48)), (8, 256, 17, (64, 48)), (8, 256, 13, (64, 64))]
    providers = ["two 1x1 convs alone", "posemods reference", "posemods reference + torch.compile"]
    if device == "cuda":
        providers.append("posemods triton")
    cases = []
    for batch, channels, joints, hw in shapes:
        for backward in (False, True):
            for provider in providers:
                cases.append(
                    Case(
                        suite="modules",
                        module="KMM",
                        provider=provider,
                        shape=f"B={batch} C={channels} J={joints} {hw[0]}x{hw[1]}",
                        mode="forward+backward" if backward else "forward",
                        device=device,
                        dtype=str(dtype).removeprefix("torch."),
                        baseline=provider == "two 1x1 convs alone",
                        build=functools.partial(
                            _build_kmm, provider, batch, channels, joints, hw, device, dtype, backward
                        ),
                    )
                )
    return cases


def kmm_roofline(dtype: torch.dtype, quick: bool):
    """Roofline rows (label, Work) for the fused KMM attention at the benchmark shapes."""
    shapes = [(1, 13, (16, 12))] if quick else KMM_GPU_SHAPES
    return [(f"KMM attention B={b} J={j} {hw[0]}x{hw[1]}", kmm_work(b, j, hw, hw, dtype)) for b, j, hw in shapes]


def cases(device: str, dtype: torch.dtype, quick: bool) -> list[Case]:
    return kmm_cases(device, dtype, quick)


def roofline(dtype: torch.dtype, quick: bool):
    return kmm_roofline(dtype, quick)
