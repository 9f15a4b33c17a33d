"""HKM: the whole module on each path, and its keypoint-mask step (VREMD eq. 2) alone.

The keypoint mask's reference materialises the (B, T*J, T*L) softmax map for its backward; the fused path
keeps a logsumexp per token. Shapes are VREMD's: a 16 x 12 token grid, T frames, J joints."""

from __future__ import annotations

import functools

import torch

import posemods
from benchmarks.gpu_model import Work
from benchmarks.harness import Case, make_step, module_case

BASELINE = "posemods reference"


def _build_module(provider, batch, frames, joints, channels, hw, device, dtype, backward):
    torch.manual_seed(0)
    backend = "triton" if provider == "posemods triton" else "reference"
    hkm = posemods.HKM(channels, joints, num_frames=frames, backend=backend).to(device, dtype)
    gen = torch.Generator().manual_seed(0)
    feats = torch.randn(batch, frames, hw[0] * hw[1], channels, generator=gen).to(device, dtype).requires_grad_()
    fn = torch.compile(hkm) if provider.endswith("torch.compile") else hkm
    return make_step(lambda: fn(feats, hw).features, [*hkm.parameters(), feats], backward)


def _build_mask(provider, batch, tokens, positions, channels, device, dtype, backward):
    gen = torch.Generator().manual_seed(0)
    t = (0.5 * torch.randn(batch, tokens, channels, generator=gen)).to(device, dtype).requires_grad_()
    f = (0.5 * torch.randn(batch, positions, channels, generator=gen)).to(device, dtype).requires_grad_()
    backend = "triton" if provider == "posemods triton" else "reference"
    mask = functools.partial(posemods.functional.keypoint_mask, backend=backend)
    fn = torch.compile(mask) if provider.endswith("torch.compile") else mask
    return make_step(lambda: fn(t, f), [t, f], backward)


def _shapes(device, quick):
    if quick:
        return [(1, 3, 5, 32, (4, 3))]
    if device == "cuda":
        return [(b, t, j, c, (16, 12)) for b in (1, 8, 32) for t in (3, 5) for j in (13, 17) for c in (384, 1024)]
    return [(8, 3, 17, 384, (16, 12)), (1, 5, 13, 768, (16, 12))]


def cases(device: str, dtype: torch.dtype, quick: bool) -> list[Case]:
    providers = [BASELINE] + ([] if quick else ["posemods reference + torch.compile"])
    providers += ["posemods triton"] if device == "cuda" else []
    out = []
    for batch, frames, joints, channels, hw in _shapes(device, quick):
        for backward in (True,) if quick else (False, True):  # quick: the machinery, not the numbers
            for provider in providers:
                row = functools.partial(module_case, provider=provider, backward=backward, device=device, dtype=dtype,
                                        baseline=BASELINE)  # fmt: skip
                out.append(row(
                    module="HKM", shape=f"B={batch} T={frames} J={joints} C={channels} {hw[0]}x{hw[1]}",
                    build=functools.partial(_build_module, provider, batch, frames, joints, channels, hw, device,
                                            dtype, backward),
                ))  # fmt: skip
                tokens, positions = frames * joints, frames * hw[0] * hw[1]
                out.append(row(
                    module="HKM keypoint-mask step", shape=f"B={batch} T*J={tokens} T*L={positions} C={channels}",
                    build=functools.partial(_build_mask, provider, batch, tokens, positions, channels, device, dtype,
                                            backward),
                ))  # fmt: skip
    return out


def work(batch, tokens, positions, channels, dtype) -> Work:
    """Read tokens and features once, write the mask; the map's 2 B J L C multiply-adds, once."""
    size = torch.tensor([], dtype=dtype).element_size()
    nbytes = size * batch * (tokens * channels + positions * channels + positions)
    return Work(nbytes, 2 * batch * tokens * positions * channels, "tensor")


def roofline(dtype: torch.dtype, quick: bool):
    rows = []
    for batch, frames, joints, channels, hw in _shapes("cuda", quick):
        tokens, positions = frames * joints, frames * hw[0] * hw[1]
        label = f"keypoint_mask B={batch} T*J={tokens} T*L={positions} C={channels}"
        rows.append((label, work(batch, tokens, positions, channels, dtype)))
    return rows
