"""Time every fused op on a CUDA GPU: ``python -m benchmarks.gpu_check [--out DIR]``.

Needs only the package and a GPU; a few minutes on an H100/H200. At the papers' shapes
(posemods.testing.OP_CASES), fp32 and bf16: fused vs reference medians from CUDA events, forward and
forward+backward, the speedup beside its target (>= 3x forward+backward), and the forward's achieved
bandwidth (compulsory bytes / time) against a device-to-device copy measured here (target >= 50 % for
the memory-bound ops).

It checks nothing: the correctness checks on the GPU (parity with the reference in every dtype,
determinism, torch.compile of every op and module, opcheck, the launch limits) are ``pytest -m cuda``
(tests/test_triton_cuda.py). Run those first.

Writes gpu_check.csv, gpu_check.md and gpu_check.png to ``--out`` (default
benchmarks/results/<gpu name>/).
"""

from __future__ import annotations

import argparse
import csv
import functools
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import torch

from posemods._backend import interpreting
from posemods.testing import OP_CASES, OpCase, op_function

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
SPEEDUP_TARGET = 3.0  # fused forward+backward vs the reference, at the papers' shapes (issue 13)
BANDWIDTH_TARGET = 0.5  # of the measured copy bandwidth, for the memory-bound ops
MEMORY_BOUND = ("kinematics_attention", "deformable_cross_attention", "deformable_attention")
FIELDS = ("section", "op", "shape", "dtype", "metric", "value", "target", "ok", "note")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu_check", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="default: benchmarks/results/<gpu name>/")
    parser.add_argument("--reps", type=int, default=50, help="timed repetitions per case (median reported)")
    parser.add_argument("--op", choices=tuple(OP_CASES), nargs="*", default=list(OP_CASES))
    args = parser.parse_args(argv)
    if args.reps < 1:
        parser.error(f"--reps: expected a positive count, got {args.reps}")
    return args


def refusal() -> str:
    """Why this machine cannot run the check, or ""."""
    if not torch.cuda.is_available():
        return "benchmarks.gpu_check needs a CUDA GPU: torch.cuda.is_available() is False here"
    if interpreting():
        return "TRITON_INTERPRET is set: unset it, the check times the compiled kernels"
    return ""


def gpu_slug(name: str) -> str:
    """A folder name for a GPU: "NVIDIA H200" -> "nvidia-h200"."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "gpu"


def row(section, op="", shape="", dtype="", metric="", value="", target="", ok=True, note="") -> dict:
    return dict(zip(FIELDS, (section, op, shape, dtype, metric, value, target, ok, note)))


# --- timing -------------------------------------------------------------------------------------------


def cuda_timer(fn: Callable[[], object], reps: int) -> float:
    """Median milliseconds of ``fn`` over ``reps`` calls, each bracketed by CUDA events, after warm-up."""
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def copy_bandwidth(
    timer: Callable[[Callable[[], object]], float], device: str = "cuda", nbytes: int = 1 << 30
) -> float:
    """Bytes per second of a device-to-device copy (each byte read once and written once)."""
    src = torch.empty(nbytes, dtype=torch.uint8, device=device)
    dst = torch.empty_like(src)
    ms = timer(lambda: dst.copy_(src))
    return 2 * nbytes / (ms * 1e-3)


def _leaves(inputs: dict[str, torch.Tensor], dtype: torch.dtype, device: str) -> dict[str, torch.Tensor]:
    # float32 locations with half features, as the modules pass them
    return {k: v.to(device, torch.float32 if k == "locations" else dtype).requires_grad_() for k, v in inputs.items()}


def _outputs(out) -> list[torch.Tensor]:
    return [out] if isinstance(out, torch.Tensor) else list(out)


def timing_rows(
    cases: Iterable[tuple[str, OpCase]],
    dtypes: Iterable[torch.dtype],
    timer: Callable[[Callable[[], object]], float],
    copy_bytes_per_s: float,
    device: str = "cuda",
) -> list[dict]:
    rows = []
    for op, case in cases:
        fn = op_function(op)
        for dtype in dtypes:
            dname = str(dtype).removeprefix("torch.")
            leaves = _leaves(case.make(), dtype, device)
            ref_out = _outputs(fn(**leaves, backend="reference"))
            cot = [torch.randn_like(o) for o in ref_out]
            moved = sum(t.numel() * t.element_size() for t in (*leaves.values(), *ref_out))
            medians = {}
            for backend in ("reference", "triton"):
                call = functools.partial(fn, backend=backend, **leaves)

                def step(call=call, leaves=leaves, cot=cot):
                    outs = _outputs(call())
                    torch.autograd.grad(outs, list(leaves.values()), cot, allow_unused=True)

                with torch.no_grad():
                    medians[(backend, "forward")] = timer(call)
                medians[(backend, "forward+backward")] = timer(step)
            for mode in ("forward", "forward+backward"):
                for backend in ("reference", "triton"):
                    rows.append(
                        row("timing", op, case.label, dname, f"{backend} {mode} ms", f"{medians[(backend, mode)]:.4f}")
                    )
                speedup = medians[("reference", mode)] / medians[("triton", mode)]
                target = SPEEDUP_TARGET if mode == "forward+backward" else ""
                ok = speedup >= SPEEDUP_TARGET if target else True
                rows.append(row("timing", op, case.label, dname, f"speedup {mode}", f"{speedup:.2f}", target, ok))
            fraction = moved / (medians[("triton", "forward")] * 1e-3) / copy_bytes_per_s
            target = BANDWIDTH_TARGET if op in MEMORY_BOUND else ""
            note = "" if target else "compute-bound (tl.dot over C): bandwidth is not its limit"
            rows.append(row("timing", op, case.label, dname, "forward bandwidth / copy", f"{fraction:.3f}", target,
                            fraction >= BANDWIDTH_TARGET if target else True, note))  # fmt: skip
    return rows


# --- results ----------------------------------------------------------------------------------------


def markdown(rows: list[dict], header: list[str]) -> str:
    lines = list(header)
    for section in dict.fromkeys(r["section"] for r in rows):
        chosen = [r for r in rows if r["section"] == section]
        failed = sum(not r["ok"] for r in chosen)
        lines += ["", f"## {section} ({len(chosen) - failed}/{len(chosen)} ok)", ""]
        lines += ["| op | shape | dtype | metric | value | target | ok | note |", "|---|---|---|---|---|---|---|---|"]
        for r in chosen:
            target = "" if r["target"] == "" else f">= {r['target']}"
            ok = "yes" if r["ok"] else "**no**"
            lines.append(
                f"| {r['op']} | {r['shape']} | {r['dtype']} | {r['metric']} | {r['value']} | {target} | {ok} | "
                f"{r['note']} |"
            )
    return "\n".join(lines) + "\n"


def plot(path: Path, rows: list[dict]) -> str:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install posemods[bench]): no plot"
    speed = [r for r in rows if r["section"] == "timing" and r["metric"].startswith("speedup")]
    if not speed:
        return "no timings: no plot"
    labels = [f"{r['op']}\n{r['dtype']} {r['metric'].removeprefix('speedup ')}" for r in speed]
    fig, ax = plt.subplots(figsize=(max(6, 0.6 * len(speed)), 4))
    ax.bar(range(len(speed)), [float(r["value"]) for r in speed], color=["C0" if r["ok"] else "C3" for r in speed])
    ax.axhline(SPEEDUP_TARGET, color="k", linestyle="--", linewidth=1, label=f"target {SPEEDUP_TARGET}x (fwd+bwd)")
    ax.set_xticks(range(len(speed)), labels, rotation=90, fontsize=6)
    ax.set_ylabel("reference / fused median")
    ax.set_title("fused vs reference at the papers' shapes")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"plot: {path}"


def write_results(out: Path, rows: list[dict], header: list[str]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "gpu_check.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    (out / "gpu_check.md").write_text(markdown(rows, header))
    print(plot(out / "gpu_check.png", rows))


def main(argv=None) -> int:
    args = parse_args(argv)
    reason = refusal()
    if reason:
        sys.exit(reason)
    name = torch.cuda.get_device_name()
    out = args.out or Path(__file__).parent / "results" / gpu_slug(name)
    started = time.perf_counter()
    timer = functools.partial(cuda_timer, reps=args.reps)
    copy_bw = copy_bandwidth(timer)
    papers = [(op, case) for op in args.op for case in OP_CASES[op] if case.paper]
    rows = timing_rows(papers, (torch.float32, torch.bfloat16), timer, copy_bw)
    from benchmarks.gpu_model import gpu_spec

    spec = gpu_spec(name)
    header = [
        f"# posemods GPU timings: {name}", "",
        f"`python -m benchmarks.gpu_check {' '.join(sys.argv[1:] if argv is None else argv)}`, "
        f"{time.perf_counter() - started:.0f} s; torch {torch.__version__}. Correctness on this GPU: "
        "`pytest -m cuda`.", "",
        "Timings: medians of CUDA-event-bracketed calls. Bandwidth: the forward's compulsory bytes (inputs and "
        f"outputs once) over its median, as a fraction of a 1 GiB device-to-device copy measured here: "
        f"{copy_bw / 1e12:.2f} TB/s"
        + (f" (datasheet {spec.bandwidth / 1e12:.2f} TB/s for the {spec.name})." if spec else "."),
    ]  # fmt: skip
    write_results(out, rows, header)
    missed = sum(not r["ok"] for r in rows)
    print(f"wrote {out / 'gpu_check.csv'} and {out / 'gpu_check.md'}: {missed} timings below their targets")
    return 0


if __name__ == "__main__":
    sys.exit(main())
