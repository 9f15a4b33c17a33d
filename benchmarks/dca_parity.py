"""Max errors of the fused deformable cross attention against the reference, per dtype.

    TRITON_INTERPRET=1 PYTHONPATH=. python benchmarks/dca_parity.py      # CPU, through Triton's interpreter
    PYTHONPATH=. python benchmarks/dca_parity.py --device cuda           # on a GPU

Prints, for fp32, fp16 and bf16 inputs, the largest absolute error of the output and of each gradient
over the shapes below (the reference runs in float32 on the same rounded inputs) and, in brackets,
that error divided by max(1, largest reference magnitude of the same tensor): the scale the
tolerance table's atol multiplies.
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from test_deformable_cross_attention import make_inputs

from posemods import functional
from posemods.testing import outputs_and_grads, parity_errors, tolerance

SHAPES = [  # (B, Lq, G, N, D, Dv, (H, W))
    (2, 5, 2, 4, 8, 8, (16, 12)),
    (1, 9, 3, 9, 48, 24, (7, 5)),
    (2, 3, 1, 1, 32, 32, (1, 1)),
    (1, 6, 2, 4, 64, 64, (64, 48)),
    (1, 20, 16, 16, 32, 32, (16, 12)),
]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    ref = functools.partial(functional.deformable_cross_attention, backend="reference")
    fused = functools.partial(functional.deformable_cross_attention, backend="triton")
    names = ["out0", "grad_query", "grad_key", "grad_value", "grad_locations"]
    print("| dtype | " + " | ".join(names) + " | tolerance (atol, rtol) |")
    print("|---" * (len(names) + 2) + "|")
    for dtype in (torch.float32, torch.float16, torch.bfloat16):
        worst, relative = dict.fromkeys(names, 0.0), dict.fromkeys(names, 0.0)
        for *sizes, hw in SHAPES:
            inputs = {k: v.to(args.device).to(dtype) for k, v in make_inputs(*sizes, hw).items()}
            errors = parity_errors(ref, fused, inputs, dtype=dtype, check=False)
            out, grads, _ = outputs_and_grads(ref, inputs, dtype=torch.float32)
            magnitudes = {"out0": out[0], **{f"grad_{k}": v for k, v in grads.items()}}
            for k in names:
                worst[k] = max(worst[k], errors[k])
                relative[k] = max(relative[k], errors[k] / max(float(magnitudes[k].abs().max()), 1.0))
        tol = tolerance(dtype)
        cells = " | ".join(f"{worst[k]:.1e} ({relative[k]:.1e})" for k in names)
        print(f"| {str(dtype).split('.')[-1]} | {cells} | {tol.atol:g}, {tol.rtol:g} |")


if __name__ == "__main__":
    main()
