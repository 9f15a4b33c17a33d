"""KMM against the temporal modules it replaces, and against its own unavoidable cost (two 1x1 convs).

Every provider maps the previous and current frames' features (and the previous heatmaps) to a prior at the
same feature shapes: RPSTN's JRPSP and DKD's pose-kernel distillator follow the same temporal contract;
LSTMPM's ConvLSTM step takes ``concat[features, previous heatmaps, centre map]`` with 48 hidden channels.
"""

from __future__ import annotations

import functools

import torch

import posemods
from benchmarks.gpu_model import Work
from benchmarks.harness import Case, make_step, module_case

BASELINE = "two 1x1 convs alone"
GPU_SHAPES = [(b, j, hw) for b in (1, 8, 32) for j, hw in ((13, (64, 48)), (17, (64, 48)), (17, (64, 64)))]
CPU_SHAPES = [(1, 13, (64, 48)), (8, 17, (64, 48)), (8, 13, (64, 64))]
CHANNELS = 256


def _build(provider, batch, channels, joints, hw, device, dtype, backward):
    from posemods.models import JRPSP, ConvLSTMCell, PoseKernelDistillator

    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(0)
    make = lambda *shape: torch.randn(*shape, generator=gen).to(device, dtype).requires_grad_()
    feat_prev, feat_cur = make(batch, channels, *hw), make(batch, channels, *hw)
    heatmap = make(batch, joints, *hw)
    inputs = [feat_prev, feat_cur, heatmap]
    if provider == BASELINE:
        module = torch.nn.ModuleList(torch.nn.Conv2d(channels, joints, 1) for _ in range(2))
        call = lambda: module[0](feat_prev) + module[1](feat_cur)
    elif provider == "LSTMPM ConvLSTM":
        module = ConvLSTMCell(channels + joints + 1, 48)  # a step at t > 1 carries (hidden, cell)
        centre, hidden, cell = make(batch, 1, *hw), make(batch, 48, *hw), make(batch, 48, *hw)
        inputs += [centre, hidden, cell]
        call = lambda: module(torch.cat([feat_cur, heatmap, centre], 1), (hidden, cell))
    else:
        if provider == "RPSTN JRPSP":
            module = JRPSP(channels, joints)
        elif provider == "DKD kernel distillation":
            module = PoseKernelDistillator(channels, joints)
        else:
            module = posemods.KMM(channels, joints, backend="triton" if provider == "posemods triton" else "reference")
        fn = torch.compile(module) if provider.endswith("torch.compile") else module
        call = lambda: fn(feat_prev, feat_cur, heatmap)
    module.to(device, dtype)
    return make_step(call, [*module.parameters(), *inputs], backward)


def cases(device: str, dtype: torch.dtype, quick: bool) -> list[Case]:
    if quick:
        shapes = [(1, 13, (16, 12))]
        channels = 32
    else:
        shapes = GPU_SHAPES if device == "cuda" else CPU_SHAPES
        channels = CHANNELS
    providers = [BASELINE, "posemods reference", "posemods reference + torch.compile"]
    if device == "cuda":
        providers.append("posemods triton")
    if not quick:
        providers += ["RPSTN JRPSP", "DKD kernel distillation", "LSTMPM ConvLSTM"]
    out = []
    for batch, joints, hw in shapes:
        for backward in (False, True):
            for provider in providers:
                shape = f"B={batch} C={channels} J={joints} {hw[0]}x{hw[1]}"
                build = functools.partial(_build, provider, batch, channels, joints, hw, device, dtype, backward)
                out.append(module_case("KMM", provider, shape, backward, device, dtype, baseline=BASELINE, build=build))
    return out


def work(batch, joints, hw, value_hw, dtype) -> Work:
    """The fused attention alone: read query, key and value once; write pred and attn."""
    size = torch.tensor([], dtype=dtype).element_size()
    positions, value_positions = hw[0] * hw[1], value_hw[0] * value_hw[1]
    nbytes = size * batch * joints * (2 * positions + 2 * value_positions + joints)
    flops = 2 * batch * joints * joints * (positions + value_positions)
    return Work(nbytes, flops, "tensor")


def roofline(dtype: torch.dtype, quick: bool):
    shapes = [(1, 13, (16, 12))] if quick else GPU_SHAPES
    return [(f"kinematics_attention B={b} J={j} {hw[0]}x{hw[1]}", work(b, j, hw, hw, dtype)) for b, j, hw in shapes]
