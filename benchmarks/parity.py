"""Fused-vs-reference max errors for every op: in Triton's interpreter on CPU, or compiled on CUDA.

    python -m benchmarks.parity [--op kinematics_attention] [--device cpu|cuda] [--out FILE.md]

On CUDA the papers' shapes are added to the awkward ones (both from posemods.testing.OP_CASES).

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

import torch

from posemods._backend import interpreting
from posemods.testing import OP_CASES, OP_OUTPUTS, op_function, outputs_and_grads, parity_errors, tolerance

DTYPES = (torch.float32, torch.float16, torch.bfloat16)


def cases(op: str, device: str) -> list[tuple[str, dict[str, torch.Tensor]]]:
    """The op's shapes from :data:`posemods.testing.OP_CASES`; the papers' (large) shapes on CUDA only."""
    return [
        (case.label, {k: v.to(device) for k, v in case.make().items()})
        for case in OP_CASES[op]
        if device == "cuda" or not case.paper
    ]


def table(op: str, device: str = "cpu") -> str:
    fn, outputs = op_function(op), OP_OUTPUTS[op]
    rows = []
    for label, inputs in cases(op, device):
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
    parser.add_argument("--op", choices=tuple(OP_CASES), nargs="*", default=list(OP_CASES))
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if args.device == "cpu":
        # Triton decides when a kernel module is imported; functional imports them on first use, below.
        os.environ.setdefault("TRITON_INTERPRET", "1")
        if not interpreting():
            sys.exit("--device cpu runs the kernels in Triton's interpreter: unset TRITON_INTERPRET or set it to 1")
    else:
        if not torch.cuda.is_available():
            sys.exit("--device cuda: no CUDA device here")
        if interpreting():
            sys.exit("--device cuda checks the compiled kernels: unset TRITON_INTERPRET")
    text = "\n".join(table(op, args.device) for op in args.op)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
