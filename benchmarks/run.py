"""posemods benchmarks: ``python -m benchmarks [--suite modules|models|all] [--device cpu|cuda] [--quick]``.

Writes to ``--out`` (default benchmarks/results/<device>):
- results.csv: one row per case, with versions, CPU model and git commit;
- results.md: tables per module with speedup columns, the targets, and the static GPU report;
- results.png: a plot of medians per provider (needs matplotlib, the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import csv
import importlib
import json
import math
import sys
from collections import defaultdict
from pathlib import Path

import torch

from benchmarks import harness

SUITES = ("modules", "models")
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=(*SUITES, "all"), default="all")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--dtype", choices=tuple(DTYPES), default="float32")
    parser.add_argument("--quick", action="store_true", help="tiny shapes and short timings: a smoke test")
    parser.add_argument("--out", type=Path, default=None, help="output directory")
    parser.add_argument("--only", default="", help="run only cases whose key contains this text")
    parser.add_argument("--no-memory", action="store_true", help="skip the per-case memory subprocesses")
    parser.add_argument("--memory-case", default="", help=argparse.SUPPRESS)  # internal: one memory measurement
    parser.add_argument("--replot", action="store_true", help="only redraw OUT/results.png from OUT/results.csv")
    return parser.parse_args(argv)


def suite_modules(name: str):
    return [importlib.import_module(f"benchmarks.suites.{s}") for s in (SUITES if name == "all" else (name,))]


def collect_cases(args) -> list[harness.Case]:
    cases = []
    for module in suite_modules(args.suite):
        cases += module.cases(args.device, DTYPES[args.dtype], args.quick)
    return [c for c in cases if args.only in c.key]


def cli_args_for_subprocess(args) -> list[str]:
    out = ["--suite", args.suite, "--device", args.device, "--dtype", args.dtype]
    return out + (["--quick"] if args.quick else [])


def run_cases(args, cases, on_result=None) -> list[harness.Result]:
    """Time (and measure) every case; ``on_result(results so far)`` runs after each one."""
    min_run_time = 0.2 if args.quick else 2.0
    results = []
    for i, case in enumerate(cases, 1):
        print(f"[{i}/{len(cases)}] {case.module} | {case.provider} | {case.shape} | {case.mode}", flush=True)
        try:
            median, iqr, repeats = harness.time_case(case, min_run_time)
            # On CPU each measurement is a fresh process: for a compiled provider (minutes of recompiling)
            # and for cases that opt out (B=8 paper-size models) it would cost more than it tells.
            costly = case.device == "cpu" and (not case.memory or "torch.compile" in case.provider)
            skip_memory = args.no_memory or costly
            peak = None if skip_memory else harness.peak_memory_mb(case, cli_args_for_subprocess(args))
            results.append(harness.Result(case, median, iqr, peak, repeats=repeats))
        except Exception as exc:  # a provider that cannot run at a shape is a result, not a crash
            results.append(harness.Result(case, math.nan, math.nan, None, error=f"{type(exc).__name__}: {exc}"))
            print(f"    failed: {results[-1].error[:200]}", flush=True)
        if on_result is not None:
            on_result(results)
    return results


def speedups(results) -> dict[str, float]:
    """baseline median / median, within each (module, shape, mode, dtype, device)."""
    base = {}
    for r in results:
        if r.case.baseline:
            base[(r.case.module, r.case.shape, r.case.mode, r.case.dtype, r.case.device)] = r.median_ms
    out = {}
    for r in results:
        b = base.get((r.case.module, r.case.shape, r.case.mode, r.case.dtype, r.case.device))
        out[r.case.key] = b / r.median_ms if b and r.median_ms == r.median_ms else math.nan
    return out


def write_csv(path: Path, results, env) -> None:
    fields = ["suite", "module", "provider", "shape", "mode", "dtype", "device", "median_ms", "iqr_ms", "repeats",
              "peak_mb", "frames", "info", "error", *env]  # fmt: skip
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        for r in results:
            c = r.case
            writer.writerow({
                "suite": c.suite, "module": c.module, "provider": c.provider, "shape": c.shape, "mode": c.mode,
                "dtype": c.dtype, "device": c.device, "median_ms": f"{r.median_ms:.4f}", "iqr_ms": f"{r.iqr_ms:.4f}",
                "repeats": r.repeats, "peak_mb": "" if r.peak_mb is None else f"{r.peak_mb:.1f}", "frames": c.frames,
                "info": json.dumps(c.info) if c.info else "", "error": r.error, **env,
            })  # fmt: skip


def read_csv(path: Path) -> list[harness.Result]:
    """The results :func:`write_csv` wrote (cases without their ``build``), e.g. to redraw the plot."""
    results = []
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            case = harness.Case(
                suite=row["suite"], module=row["module"], provider=row["provider"], shape=row["shape"],
                mode=row["mode"], build=None, device=row["device"], dtype=row["dtype"], frames=int(row["frames"]),
                info=json.loads(row["info"]) if row["info"] else {},
            )  # fmt: skip
            peak = float(row["peak_mb"]) if row["peak_mb"] else None
            repeats = int(row.get("repeats") or 0)  # 0: written before the count was recorded
            results.append(
                harness.Result(case, float(row["median_ms"]), float(row["iqr_ms"]), peak, row["error"], repeats)
            )
    return results


def _fmt(x: float | None, spec: str) -> str:
    return "-" if x is None or x != x else format(x, spec)


def markdown_tables(results) -> str:
    speed = speedups(results)
    groups = defaultdict(list)
    for r in results:
        groups[(r.case.suite, r.case.module)].append(r)
    lines = []
    for (suite, module), rows in groups.items():
        baseline = next((r.case.provider for r in rows if r.case.baseline), None)
        extra = list(dict.fromkeys(k for r in rows for k in r.case.info))
        per = " per frame" if suite == "models" else ""
        lines += [f"### {module} ({suite})", ""]
        if baseline:
            lines += [f"Speedup = median of *{baseline}* / median of the row, at the same shape and mode.", ""]
        header = ["shape", "mode", "provider", f"median ms{per}", "IQR ms", "runs", "peak MB", "speedup", *extra]
        lines += ["| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
        for r in rows:
            c = r.case
            median = f"failed: {r.error[:60]}" if r.error else _fmt(r.median_ms, ".3f")
            speedup = f"{_fmt(speed[c.key], '.2f')}x"
            cells = [c.shape, c.mode, c.provider, median, _fmt(r.iqr_ms, ".3f"), str(r.repeats or "-"),
                     _fmt(r.peak_mb, ".1f"), speedup, *(c.info.get(k, "") for k in extra)]  # fmt: skip
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def targets_section(results) -> str:
    from benchmarks import targets

    return targets.report(results)


def gpu_section(args) -> str:
    """Static report: registers, spills, occupancy on sm_90, and roofline bounds per benchmark shape."""
    lines = ["## GPU, statically (sm_90, H100 SXM5)", ""]
    try:
        from posemods.triton import report
    except ImportError as exc:
        return "\n".join([*lines, f"triton is not available: {exc}", ""])
    from posemods._backend import interpreting

    if interpreting():
        return "\n".join([*lines, "skipped: TRITON_INTERPRET=1 (kernels cannot be compiled)", ""])
    reports = [r for r in report.compile_all((90,))]
    lines += [report.format_table(reports), ""]
    dtype = DTYPES[args.dtype]
    lines += ["Roofline lower bound per fused call: max(compulsory bytes / 3.35 TB/s, FLOPs / peak).", ""]
    lines += ["| case | MB moved | GFLOP | bound µs | limited by |", "|---|---|---|---|---|"]
    for module in suite_modules(args.suite):
        for label, work in getattr(module, "roofline", lambda *a: [])(dtype, args.quick):
            lines.append(
                f"| {label} | {work.bytes / 1e6:.2f} | {work.flops / 1e9:.3f} | {work.bound_us(dtype):.2f} | "
                f"{work.limiter(dtype)} |"
            )
    lines.append("")
    return "\n".join(lines)


def plot(path: Path, results) -> str:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install posemods[bench]): no plot"
    groups = defaultdict(list)
    for r in results:
        if not r.error:
            groups[(r.case.module, r.case.mode)].append(r)
    fig, axes = plt.subplots(len(groups), 1, figsize=(10, 2.6 * max(1, len(groups))), squeeze=False)
    for ax, ((module, mode), rows) in zip(axes[:, 0], groups.items()):
        shapes = list(dict.fromkeys(r.case.shape for r in rows))
        providers = list(dict.fromkeys(r.case.provider for r in rows))
        width = 0.8 / len(providers)
        for i, provider in enumerate(providers):
            points = [
                (x + i * width, r.median_ms)
                for x, s in enumerate(shapes)
                for r in rows
                if r.case.shape == s and r.case.provider == provider
            ]
            # Markers, not bars: on a log axis a bar's length depends on where the axis happens to start.
            ax.plot(*zip(*points), marker="o", linestyle="none", label=provider)
        ax.set_xticks([x + 0.4 - width / 2 for x in range(len(shapes))], shapes, fontsize=7)
        ax.set_xlim(-0.5, len(shapes) - 0.1)
        ax.grid(axis="y", which="both", alpha=0.3)
        ax.set_ylabel("median ms")
        ax.set_yscale("log")
        ax.set_title(f"{module}, {mode}", fontsize=9)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"plot: {path}"


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.replot:  # needs no device: it only redraws
        out = args.out or Path(__file__).parent / "results" / args.device
        print(plot(out / "results.png", read_csv(out / "results.csv")))
        return
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: no CUDA device here")
    if args.memory_case:  # internal: measure one case's memory in this fresh process
        case = next(c for c in collect_cases(args) if c.key == args.memory_case)
        print(json.dumps({"peak_mb": harness.peak_memory_mb_here(case)}))
        return

    out = args.out or Path(__file__).parent / "results" / args.device
    out.mkdir(parents=True, exist_ok=True)
    env = harness.environment()
    cases = collect_cases(args)
    # The CSV is rewritten after every case, so an interrupted run keeps what it measured.
    results = run_cases(args, cases, on_result=lambda done: write_csv(out / "results.csv", done, env))
    header = [
        "# posemods benchmarks", "",
        f"`python -m benchmarks {' '.join(sys.argv[1:] if argv is None else argv)}`", "",
        "| " + " | ".join(env) + " |", "|" + "---|" * len(env), "| " + " | ".join(env.values()) + " |", "",
        f"Timing: torch.utils.benchmark blocked_autorange (median, IQR) on CPU; CUDA events on CUDA; at least "
        f"{harness.MIN_REPEATS} timed repetitions per row (runs). "
        f"Memory: {harness.MEMORY_METHOD[args.device]}; '-' where not measured (on CPU: compiled providers and "
        f"B=8 models, whose fresh processes would take minutes). One run; the machine is shared, so compare "
        f"ratios.", "",
    ]  # fmt: skip
    body = [markdown_tables(results), targets_section(results), gpu_section(args)]
    (out / "results.md").write_text("\n".join(header + body))
    print(plot(out / "results.png", results))
    print(f"wrote {out / 'results.csv'} and {out / 'results.md'}")


if __name__ == "__main__":
    main()
