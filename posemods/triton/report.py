"""Ahead-of-time compile every posemods Triton kernel for real GPUs, with no GPU present.

``python -m posemods.triton.report [--arch 80 90] [--json]`` compiles each kernel configuration that
the ops register (:mod:`posemods.triton.aot`) to PTX and a cubin, runs Triton's own ``ptxas -v``
on the PTX, and prints registers per thread, spill bytes, shared memory and the theoretical occupancy
that follows on the target. The test-suite asserts zero spills from the same data.

Run it without ``TRITON_INTERPRET=1``: interpreted kernels cannot be compiled.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import subprocess
import tempfile

import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

from posemods.triton.aot import KernelSpec, all_specs

# Per-SM limits used for theoretical occupancy (CUDA occupancy calculator rules).
SM_LIMITS = {
    80: {"regs": 65536, "max_warps": 64, "max_blocks": 32, "smem": 164 * 1024},
    90: {"regs": 65536, "max_warps": 64, "max_blocks": 32, "smem": 228 * 1024},
}


@dataclasses.dataclass
class KernelReport:
    name: str
    module: str
    kernel: str
    arch: int
    registers: int
    spill_stores: int
    spill_loads: int
    shared_bytes: int
    num_warps: int
    occupancy: float

    @property
    def spill_bytes(self) -> int:
        return self.spill_stores + self.spill_loads


def ptxas_path() -> str:
    return os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "ptxas")


def occupancy(arch: int, registers: int, num_warps: int, shared_bytes: int) -> float:
    """Resident warps / max warps per SM, from registers (allocated per warp in units of 256)."""
    limits = SM_LIMITS[arch]
    regs_per_warp = -(-max(registers, 1) * 32 // 256) * 256
    blocks = min(limits["max_blocks"], limits["regs"] // (regs_per_warp * num_warps))
    if shared_bytes:
        blocks = min(blocks, limits["smem"] // shared_bytes)
    return min(blocks * num_warps, limits["max_warps"]) / limits["max_warps"]


def compile_spec(spec: KernelSpec, arch: int) -> KernelReport:
    # Every pointer gets a divisibility hint, as the runtime launcher gives aligned torch tensors;
    # without it gathers compile to scalar loads.
    names = list(spec.signature)
    attrs = {
        (i,): [["tt.divisibility", 16]]
        for i, n in enumerate(names)
        if spec.signature[n].startswith("*") or n in spec.divisible
    }
    signature = dict(spec.signature)
    for name in spec.constexprs:
        signature[name] = "constexpr"
    source = ASTSource(fn=spec.fn, signature=signature, constexprs=dict(spec.constexprs), attrs=attrs)
    compiled = triton.compile(
        source,
        target=GPUTarget("cuda", arch, 32),
        options={"num_warps": spec.num_warps, "num_stages": spec.num_stages},
    )
    ptx = compiled.asm["ptx"]
    gpu_name = re.search(r"^\.target\s+(\S+)", ptx, re.M).group(1)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "kernel.ptx")
        with open(path, "w") as f:
            f.write(ptx)
        out = subprocess.run(
            [ptxas_path(), "-v", f"--gpu-name={gpu_name}", path, "-o", os.path.join(tmp, "kernel.cubin")],
            capture_output=True, text=True, check=True,
        ).stderr  # fmt: skip
    registers = int(re.search(r"Used (\d+) registers", out).group(1))
    spills = re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", out)
    shared = int(compiled.metadata.shared)
    return KernelReport(
        name=spec.name,
        module=spec.fn.fn.__module__,
        kernel=spec.fn.fn.__name__,
        arch=arch,
        registers=registers,
        spill_stores=int(spills.group(1)),
        spill_loads=int(spills.group(2)),
        shared_bytes=shared,
        num_warps=spec.num_warps,
        occupancy=occupancy(arch, registers, spec.num_warps, shared),
    )


def compile_all(archs: tuple[int, ...] = (80, 90)) -> list[KernelReport]:
    from posemods._backend import interpreting

    if interpreting():
        raise RuntimeError("unset TRITON_INTERPRET: interpreted kernels cannot be compiled ahead of time")
    return [compile_spec(spec, arch) for spec in all_specs() for arch in archs]


def format_table(reports: list[KernelReport]) -> str:
    lines = [
        "| kernel | sm | warps | registers/thread | spill bytes | shared bytes | occupancy |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in reports:
        lines.append(
            f"| {r.name} | {r.arch} | {r.num_warps} | {r.registers} | {r.spill_bytes} | "
            f"{r.shared_bytes} | {r.occupancy:.0%} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", type=int, nargs="+", default=[80, 90], choices=sorted(SM_LIMITS))
    parser.add_argument("--json", action="store_true", help="print JSON instead of a markdown table")
    args = parser.parse_args(argv)
    reports = compile_all(tuple(args.arch))
    if args.json:
        print(json.dumps([dataclasses.asdict(r) for r in reports], indent=1))
    else:
        print(format_table(reports))


if __name__ == "__main__":
    main()
