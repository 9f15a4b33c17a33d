"""Peak memory and time of deformable cross attention, forward + backward, one provider per process.

    PYTHONPATH=. python benchmarks/dca_memory.py [--batch 8 --hw 64 48 --channels 256 --heads 8 --points 4]

Each provider (benchmarks/providers/deformable_attention.py) runs in a fresh subprocess on CPU. The
peak is the process's resident-set high-water mark (VmHWM, reset through /proc/self/clear_refs just
before the call) minus the resident set at that moment, so it counts what forward and backward
allocate beyond the inputs. glibc is told to serve every block over 128 KiB with mmap
(MALLOC_MMAP_THRESHOLD_), so freed tensors leave the resident set at once and it tracks live memory
rather than heap fragmentation. Linux only. Also checks every provider against posemods' reference.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "131072", "MALLOC_TRIM_THRESHOLD_": "131072"}


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def run_one(provider_name: str, args) -> dict:
    import torch

    from benchmarks.providers.deformable_attention import PROVIDERS, make_inputs, posemods_reference

    torch.set_num_threads(args.threads)
    hw = tuple(args.hw)
    inputs = make_inputs(args.batch, hw, args.channels, args.heads, args.points)
    scale = (args.channels // args.heads) ** -0.5
    provider = PROVIDERS[provider_name]

    leaves = {k: v.clone().requires_grad_() for k, v in inputs.items()}
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    before = _status_kib("VmRSS")
    start = time.perf_counter()
    out = provider(**leaves, hw=hw, scale=scale)
    out.square().sum().backward()
    seconds = time.perf_counter() - start
    peak = _status_kib("VmHWM") - before

    # Same numbers as the reference? (Compared in float64 on a slice, so the check stays cheap.)
    check = {k: v[:1, :64].double() if k in ("x", "query", "locations") else v.double() for k, v in inputs.items()}
    check["x"] = inputs["x"][:1].double()
    expected = posemods_reference(**check, hw=hw, scale=scale)
    got = provider(**check, hw=hw, scale=scale)
    return {
        "provider": provider_name,
        "peak_mib": peak / 1024,
        "seconds": seconds,
        "max_abs_diff_vs_reference": float((got - expected).abs().max()),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--hw", type=int, nargs=2, default=[64, 48])
    parser.add_argument("--channels", type=int, default=256)
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--points", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--providers", nargs="+", default=["naive_grid_sample", "deformable_detr_style", "posemods_reference"]
    )
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(args.one, args)))
        return

    forwarded = list(argv if argv is not None else sys.argv[1:])
    print(f"B={args.batch}, HxW={args.hw[0]}x{args.hw[1]} (Lq = H*W), C={args.channels}, G={args.heads}, "
          f"N={args.points}, float32, CPU, forward + backward")  # fmt: skip
    print("| provider | peak extra memory (MiB) | time (s) | max abs diff vs reference |")
    print("|---|---|---|---|")
    for name in args.providers:
        proc = subprocess.run(
            [sys.executable, __file__, *forwarded, "--one", name],
            cwd=ROOT, capture_output=True, text=True, env={**os.environ, **MALLOC_ENV, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        if proc.returncode:
            print(f"| {name} | failed: {proc.stderr.strip().splitlines()[-1]} | | |")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"| {name} | {r['peak_mib']:.0f} | {r['seconds']:.2f} | {r['max_abs_diff_vs_reference']:.1e} |")


if __name__ == "__main__":
    main()
