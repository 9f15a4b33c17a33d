"""Fused-vs-reference max errors for every op, under Triton's interpreter on CPU.

    python -m benchmarks.parity [--op kinematics_attention] [--out FILE.md]

Prints, per op, shape and dtype, the largest absolute error of each output and each input gradient of the
triton backend against the reference (the reference runs in float32 for half-precision rows; see
posemods.testing), and in brackets that error over max(1, max |reference|): the scale the tolerance table's
atol multiplies, which makes large gradients (e.g. of sampling locations) comparable. The test-suite asserts
these stay within the tolerance table; this reports the values.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from pathlib import Path

os.environ.setdefault("TRITON_INTERPRET", "1")  # before any kernel module is imported

import torch

from posemods import functional, reference
from posemods.testing import outputs_and_grads, parity_errors, tolerance

DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def _kmm_inputs(batch, joints, hw, value_hw):
    gen = torch.Generator().manual_seed(0)
    return {
        "query": torch.randn(batch, joints, *hw, generator=gen).relu(),
        "key": torch.randn(batch, joints, *hw, generator=gen).relu(),
        "value": torch.rand(batch, joints, *value_hw, generator=gen),
    }


def _mask_inputs(batch, tokens, positions, channels, spread=0.5):
    gen = torch.Generator().manual_seed(0)
    return {
        "tokens": spread * torch.randn(batch, tokens, channels, generator=gen),
        "feats": spread * torch.randn(batch, positions, channels, generator=gen),
    }


def _deformable_inputs(batch, queries, heads, points, dim, dim_v, hw, seed=0):
    """Locations in [-0.25, 1.25] (some corners off the map), every fifth on a pixel centre (a kink of
    the bilinear weights), every seventh far outside."""
    height, width = hw
    gen = torch.Generator().manual_seed(seed)
    locations = torch.rand(batch, queries, heads, points, 2, generator=gen) * 1.5 - 0.25
    flat = locations.view(-1, 2)
    flat[0::5, 0] = (torch.randint(0, width, flat[0::5, 0].shape, generator=gen) + 0.5) / width
    flat[0::5, 1] = (torch.randint(0, height, flat[0::5, 1].shape, generator=gen) + 0.5) / height
    flat[3::7] = torch.tensor([-3.0, 4.5])
    return {
        "query": torch.randn(batch, queries, heads, dim, generator=gen),
        "key": torch.randn(batch, height, width, heads, dim, generator=gen),
        "value": torch.randn(batch, height, width, heads, dim_v, generator=gen),
        "locations": locations,
    }


def _da_inputs(*sizes):
    inputs = _deformable_inputs(*sizes)
    gen = torch.Generator().manual_seed(1)
    weights = torch.randn(inputs["locations"].shape[:-1], generator=gen).softmax(-1)
    return {"value": inputs["value"], "locations": inputs["locations"], "attention": weights}


DEFORMABLE_SHAPES = [  # (B, Lq, G, N, D, Dv, (H, W)): the awkward sizes
    (2, 5, 2, 4, 8, 8, (16, 12)),
    (1, 9, 3, 9, 48, 24, (7, 5)),
    (2, 3, 1, 1, 32, 32, (1, 1)),
    (1, 6, 2, 4, 64, 64, (64, 48)),
    (1, 20, 16, 16, 32, 32, (16, 12)),
]


def _label(b, lq, g, n, d, dv, hw):
    return f"B={b} Lq={lq} G={g} N={n} D={d} Dv={dv} {hw[0]}x{hw[1]}"


def _gather_reference(op):
    """The deformable ops' reference with the gather sampler, whose px = x * W - 0.5 arithmetic the kernels
    share: at points planted on pixel centres grid_sample may round to the other side of the kink (see
    tests/test_deformable_cross_attention.py)."""

    def fn(backend, **inputs):
        if backend != "reference":
            return getattr(functional, op)(**inputs, backend=backend)
        if op == "deformable_attention":
            return reference.deformable_attention(**inputs, sampler="gather")
        return reference.deformable_cross_attention(**inputs, scale=inputs["query"].shape[-1] ** -0.5, sampler="gather")

    return fn


# op name -> (function taking backend=, output names, [(label, inputs)])
OPS = {
    "kinematics_attention": (
        functional.kinematics_attention,
        ("pred", "attn"),
        [
            ("B=2 J=13 7x5", _kmm_inputs(2, 13, (7, 5), (7, 5))),
            ("B=1 J=17 64x48, value 32x24", _kmm_inputs(1, 17, (64, 48), (32, 24))),
            ("B=2 J=15 46x46", _kmm_inputs(2, 15, (46, 46), (46, 46))),
            ("B=1 J=133 7x5, value 9x3", _kmm_inputs(1, 133, (7, 5), (9, 3))),
        ],
    ),
    "keypoint_mask": (
        functional.keypoint_mask,
        ("mask",),
        [
            ("B=2 T*J=51 T*L=192 C=64", _mask_inputs(2, 51, 192, 64)),
            ("B=1 T*J=51 T*L=576 C=96 (VREMD 16x12, T=3)", _mask_inputs(1, 51, 576, 96)),
            ("B=2 J=17 L=100 C=40, peaked softmax", _mask_inputs(2, 17, 100, 40, spread=2.0)),
        ],
    ),
    "deformable_cross_attention": (
        _gather_reference("deformable_cross_attention"),
        ("out",),
        [(_label(*shape), _deformable_inputs(*shape)) for shape in DEFORMABLE_SHAPES],
    ),
    "deformable_attention": (
        _gather_reference("deformable_attention"),
        ("out",),
        [(_label(*shape), _da_inputs(*shape)) for shape in DEFORMABLE_SHAPES],
    ),
}


def table(op: str) -> str:
    fn, outputs, cases = OPS[op]
    rows = []
    for label, inputs in cases:
        for dtype in DTYPES:
            errors = parity_errors(
                functools.partial(fn, backend="reference"), functools.partial(fn, backend="triton"), inputs,
                dtype=dtype, check=False, op=op,
            )  # fmt: skip
            ref_out, ref_grads, _ = outputs_and_grads(functools.partial(fn, backend="reference"), inputs)
            scales = {f"out{i}": o for i, o in enumerate(ref_out)} | {f"grad_{k}": g for k, g in ref_grads.items()}
            cells = {
                (
                    outputs[int(k[3:])] if k.startswith("out") else k
                ): f"{v:.1e} ({v / max(1.0, float(scales[k].abs().max())):.1e})"
                for k, v in errors.items()
            }
            rows.append((label, str(dtype).removeprefix("torch."), cells))
    names = list(rows[0][2])
    lines = [f"### {op}", "", "| shape | dtype | " + " | ".join(names) + " | atol (x scale) |"]
    lines.append("|---|---|" + "---|" * (len(names) + 1))
    for label, dtype, errors in rows:
        tol = tolerance(getattr(torch, dtype), op)
        lines.append(f"| {label} | {dtype} | " + " | ".join(errors[n] for n in names) + f" | {tol.atol:g} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--op", choices=tuple(OPS), nargs="*", default=list(OPS))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if os.environ.get("TRITON_INTERPRET") != "1":
        sys.exit("set TRITON_INTERPRET=1 (or leave it unset): parity runs in the interpreter")
    text = "\n".join(table(op) for op in args.op)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
