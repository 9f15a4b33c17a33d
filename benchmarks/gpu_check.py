"""Verify and time every fused op on a CUDA GPU: ``python -m benchmarks.gpu_check [--out DIR]``.

Needs only the package and a GPU; about 3-8 minutes on an H100/H200. Sections:

1. parity: every op, fp32/fp16/bf16, awkward and papers' shapes (posemods.testing.OP_CASES): every output
   and input gradient of the compiled kernels against the reference, within posemods.testing's tolerances;
2. determinism: two backward runs give equal bits (the deformable ops under
   ``torch.use_deterministic_algorithms(True)``, as their atomics promise nothing otherwise);
3. compile: ``torch.compile(fullgraph=True)`` of every op and every module (KMM, DCA, DA, HKM, BMD on
   the fused path) against eager, outputs and an input gradient;
4. timings at the papers' shapes: fused vs reference medians from CUDA events, forward and
   forward+backward, the speedup beside its target (>= 3x forward+backward) and the forward's achieved
   bandwidth (compulsory bytes / time) against a device-to-device copy measured here (target >= 50 % for
   the memory-bound ops).

Writes gpu_check.csv, gpu_check.md and gpu_check.png to ``--out`` (default
benchmarks/results/<gpu name>/), and exits 1 when a parity, determinism or compile check failed.
"""

from __future__ import annotations

import argparse
import csv
import functools
import os
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import torch

from posemods._backend import interpreting
from posemods.testing import OP_CASES, OpCase, assert_close, op_function, outputs_and_grads, parity_errors

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
    parser.add_argument("--skip", choices=("parity", "determinism", "compile", "timing"), nargs="*", default=[])
    args = parser.parse_args(argv)
    if args.reps < 1:
        parser.error(f"--reps: expected a positive count, got {args.reps}")
    return args


def refusal() -> str:
    """Why this machine cannot run the check, or ""."""
    if not torch.cuda.is_available():
        return "benchmarks.gpu_check needs a CUDA GPU: torch.cuda.is_available() is False here"
    if interpreting():
        return "TRITON_INTERPRET is set: unset it, the check times and verifies the compiled kernels"
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


# --- checks -----------------------------------------------------------------------------------------


def _check(section, op, label, dtype, metric, fn) -> dict:
    try:
        note = fn() or ""
        return row(section, op, label, dtype, metric, "pass", ok=True, note=note)
    except Exception as exc:  # every failure is a row, and the run goes on
        return row(section, op, label, dtype, metric, "FAIL", ok=False, note=f"{type(exc).__name__}: {exc}"[:300])


def parity_rows(ops: Iterable[str], device: str = "cuda") -> list[dict]:
    rows = []
    for op in ops:
        fn = op_function(op)
        ref, tri = functools.partial(fn, backend="reference"), functools.partial(fn, backend="triton")
        for case in OP_CASES[op]:
            inputs = {k: v.to(device) for k, v in case.make().items()}
            for dname, dtype in DTYPES.items():

                def check(inputs=inputs, dtype=dtype, ref=ref, tri=tri, op=op):
                    errors = parity_errors(ref, tri, inputs, dtype=dtype, op=op)
                    return "max errors " + ", ".join(f"{k} {v:.1e}" for k, v in errors.items())

                rows.append(_check("parity", op, case.label, dname, "outputs and gradients vs reference", check))
    return rows


def determinism_rows(ops: Iterable[str], device: str = "cuda") -> list[dict]:
    rows = []
    for op in ops:
        fn = functools.partial(op_function(op), backend="triton")
        case = OP_CASES[op][-1]  # the paper's shape
        inputs = {k: v.to(device) for k, v in case.make().items()}
        deterministic = op.startswith("deformable")

        def check(fn=fn, inputs=inputs, deterministic=deterministic):
            previous = torch.are_deterministic_algorithms_enabled()
            torch.use_deterministic_algorithms(deterministic or previous)
            try:
                (out_a, grads_a, _), (out_b, grads_b, _) = (outputs_and_grads(fn, inputs) for _ in range(2))
            finally:
                torch.use_deterministic_algorithms(previous)
            assert all(torch.equal(a, b) for a, b in zip(out_a, out_b)), "outputs differ"
            for name in grads_a:
                assert torch.equal(grads_a[name], grads_b[name]), f"gradient of {name} differs"
            return "deterministic algorithms on" if deterministic else ""

        rows.append(_check("determinism", op, case.label, "float32", "two backward runs bitwise equal", check))
    return rows


def compile_rows(ops: Iterable[str], device: str = "cuda") -> list[dict]:
    rows = []
    for op in ops:
        case = OP_CASES[op][0]
        inputs = {k: v.to(device) for k, v in case.make().items()}

        def check(op=op, inputs=inputs):
            torch._dynamo.reset()
            fn = functools.partial(op_function(op), backend="triton")
            eager_out, eager_grads, cot = outputs_and_grads(fn, inputs)
            out, grads, _ = outputs_and_grads(torch.compile(fn, fullgraph=True), inputs, cotangents=cot)
            for a, e in zip(out, eager_out):
                assert_close(a, e, name="output")
            for name in grads:
                assert_close(grads[name], eager_grads[name], name=f"grad {name}")

        rows.append(_check("compile", op, case.label, "float32", "torch.compile(fullgraph) vs eager", check))
    return rows + module_compile_rows(device)


def module_cases(
    device: str, hw: tuple[int, int] = (16, 12), backend: str = "triton"
) -> list[tuple[str, Callable[[], torch.nn.Module], Callable[[], tuple], dict]]:
    """(name, build, inputs, kwargs) for every posemods module on ``backend``, on an H x W grid."""
    import posemods

    def randn(*shape, positive=False):
        t = torch.randn(*shape, generator=torch.Generator().manual_seed(len(shape))).to(device)
        return t.abs() if positive else t

    length = hw[0] * hw[1]
    return [
        ("KMM", lambda: posemods.KMM(32, 13, backend=backend),
         lambda: (randn(2, 32, *hw), randn(2, 32, *hw), randn(2, 13, *hw, positive=True)), {}),
        ("DCA", lambda: posemods.DCA(64, num_heads=4, num_points=4, backend=backend),
         lambda: (randn(2, length, 64), randn(2, length, 64), hw), {}),
        ("DCA operator='da' (DA)", lambda: posemods.DCA(64, num_heads=4, num_points=4, operator="da",
                                                         backend=backend),
         lambda: (randn(2, length, 64), randn(2, length, 64), hw), {}),
        ("HKM", lambda: posemods.HKM(64, 5, num_heads=4, backend=backend), lambda: (randn(2, 3, length, 64),),
         {"hw": hw}),
        ("BMD", lambda: posemods.BMD(64, num_heads=4, num_points=4, depth=1, backend=backend),
         lambda: (randn(2, 3, length, 64), randn(2, length, 64), hw), {}),
    ]  # fmt: skip


def module_compile_rows(device: str = "cuda") -> list[dict]:
    """``torch.compile(module, fullgraph=True)`` of every module against eager, output and input gradient."""
    rows = []
    for name, build, make_inputs, kwargs in module_cases(device):

        def check(build=build, make_inputs=make_inputs, kwargs=kwargs):
            torch._dynamo.reset()
            module = build().to(device)
            inputs = make_inputs()
            first = inputs[0].requires_grad_()
            eager = [t for t in _outputs(module(*inputs, **kwargs)) if isinstance(t, torch.Tensor)]
            compiled = [
                t for t in _outputs(torch.compile(module, fullgraph=True)(*inputs, **kwargs))
                if isinstance(t, torch.Tensor)
            ]  # fmt: skip
            for a, e in zip(compiled, eager, strict=True):
                assert_close(a, e, name="output")
            (g_eager,) = torch.autograd.grad(eager[0].square().sum(), first)
            (g_compiled,) = torch.autograd.grad(compiled[0].square().sum(), first)
            assert_close(g_compiled, g_eager, name="grad of the first input")

        rows.append(_check("compile", name, "small", "float32", "torch.compile(module, fullgraph) vs eager", check))
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
    # Determinism runs the deformable ops' reference backward, whose cuBLAS matmuls are deterministic
    # (and allowed by torch under deterministic mode) only with a fixed workspace, set before first use.
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    name = torch.cuda.get_device_name()
    out = args.out or Path(__file__).parent / "results" / gpu_slug(name)
    started = time.perf_counter()
    rows: list[dict] = []
    if "parity" not in args.skip:
        rows += parity_rows(args.op)
    if "determinism" not in args.skip:
        rows += determinism_rows(args.op)
    if "compile" not in args.skip:
        rows += compile_rows(args.op)
    copy_bw = None
    if "timing" not in args.skip:
        timer = functools.partial(cuda_timer, reps=args.reps)
        copy_bw = copy_bandwidth(timer)
        papers = [(op, case) for op in args.op for case in OP_CASES[op] if case.paper]
        rows += timing_rows(papers, (torch.float32, torch.bfloat16), timer, copy_bw)
    from benchmarks.gpu_model import gpu_spec

    spec = gpu_spec(name)
    header = [
        f"# posemods GPU check: {name}", "",
        f"`python -m benchmarks.gpu_check {' '.join(sys.argv[1:] if argv is None else argv)}`, "
        f"{time.perf_counter() - started:.0f} s; torch {torch.__version__}.", "",
        "Timings: medians of CUDA-event-bracketed calls. Bandwidth: the forward's compulsory bytes (inputs and "
        "outputs once) over its median, as a fraction of a 1 GiB device-to-device copy measured here"
        + (f": {copy_bw / 1e12:.2f} TB/s" if copy_bw else "")
        + (f" (datasheet {spec.bandwidth / 1e12:.2f} TB/s for the {spec.name})." if spec else "."),
    ]  # fmt: skip
    write_results(out, rows, header)
    failed = [r for r in rows if not r["ok"] and r["section"] != "timing"]
    print(f"wrote {out / 'gpu_check.csv'} and {out / 'gpu_check.md'}: {len(failed)} failed checks")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
