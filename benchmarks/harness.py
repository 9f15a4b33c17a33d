"""Timing and memory measurement for one benchmark case.

Timing: ``torch.utils.benchmark.Timer.blocked_autorange`` on CPU (median and IQR over blocks), CUDA events
through ``triton.testing.do_bench`` on CUDA; either way at least :data:`MIN_REPEATS` timed repetitions,
and the count is reported beside the median.

Peak memory:
- CUDA: ``torch.cuda.max_memory_allocated`` over one step, minus what was allocated before it.
- CPU: a fresh subprocess per case. After setup and one warm-up step, the process resets its RSS
  high-water mark (Linux ``/proc/self/clear_refs``), runs one step and reads ``VmHWM``. glibc is told to
  serve blocks over 128 KiB with mmap, so freed tensors leave the resident set at once and the figure
  tracks live tensors: the peak memory the step added on top of its inputs and parameters.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import platform
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
#: The fewest timed repetitions behind a median: blocked_autorange stops once ``min_run_time`` is spent,
#: which for a step slower than that is one block, a median of one and an IQR of 0.
MIN_REPEATS = 5
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "131072", "MALLOC_TRIM_THRESHOLD_": "131072"}
MEMORY_METHOD = {
    "cpu": "peak RSS added by one step, fresh process per case (/proc clear_refs + VmHWM, large blocks mmapped)",
    "cuda": "torch.cuda.max_memory_allocated over one step, minus memory allocated before it",
}


@dataclasses.dataclass
class Case:
    """One row of results: a provider of one module at one shape, dtype and mode.

    ``build()`` allocates inputs and parameters and returns ``step``, a zero-argument callable that runs
    the measured work once (forward, or forward + backward).
    """

    suite: str
    module: str
    provider: str
    shape: str
    mode: str  # "forward" or "forward+backward"
    build: Callable[[], Callable[[], object]]
    device: str = "cpu"
    dtype: str = "float32"
    baseline: bool = False  # the provider speedups are computed against, within (module, shape, mode)
    frames: int = 1  # times are divided by this: the frames one step predicts (per-frame latency)
    info: dict[str, str] = dataclasses.field(default_factory=dict)  # extra table columns, e.g. parameters
    memory: bool = True  # measure peak memory (a fresh process per case: skipped where it costs minutes)

    @property
    def key(self) -> str:
        return "|".join((self.suite, self.module, self.provider, self.shape, self.mode, self.dtype, self.device))


@dataclasses.dataclass
class Result:
    case: Case
    median_ms: float
    iqr_ms: float
    peak_mb: float | None
    error: str = ""
    repeats: int = 0  # timed repetitions behind median_ms and iqr_ms (blocks, on CPU)


def time_case(case: Case, min_run_time: float) -> tuple[float, float, int]:
    """Median and IQR of one step, in milliseconds divided by ``case.frames``, and how many timed
    repetitions they come from (at least :data:`MIN_REPEATS`)."""
    step = case.build()
    step()  # warm-up: lazy initialisation, compilation, allocator growth
    if case.device == "cuda":
        import triton.testing

        times = []
        while len(times) < MIN_REPEATS:  # do_bench fits its repetitions into ~100 ms: one for a slow step
            times += triton.testing.do_bench(step, return_mode="all")
    else:
        from torch.utils.benchmark import Timer

        timer = Timer(stmt="step()", globals={"step": step})
        times = [t * 1e3 for t in timer.blocked_autorange(min_run_time=min_run_time).times]  # ms per run, per block
        while len(times) < MIN_REPEATS:
            times += [t * 1e3 for t in timer.timeit(number=1).times]
    q1, median, q3 = np.percentile(times, [25, 50, 75])
    return float(median) / case.frames, float(q3 - q1) / case.frames, len(times)


def _rss_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def peak_memory_mb_here(case: Case) -> float:
    """Peak memory one step adds, measured in this process (call it in a fresh one on CPU)."""
    step = case.build()
    step()
    gc.collect()
    if case.device == "cuda":
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        step()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - before) / 2**20
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current RSS
    before = _rss_kb("VmRSS")
    step()
    return max(0, _rss_kb("VmHWM") - before) / 1024


def peak_memory_mb(case: Case, cli_args: list[str]) -> float | None:
    """Run :func:`peak_memory_mb_here` for ``case`` in a fresh interpreter; None where unsupported."""
    if case.device == "cuda":
        return peak_memory_mb_here(case)
    if not os.path.exists("/proc/self/clear_refs"):
        return None
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", *cli_args, "--memory-case", case.key],
        cwd=ROOT, capture_output=True, text=True, timeout=1800,
        env={**os.environ, **MALLOC_ENV, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")},
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"memory subprocess failed for {case.key}:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])["peak_mb"]


def environment() -> dict[str, str]:
    """What a reader needs to reproduce a row: versions, CPU model, threads and the git commit."""
    try:
        import triton

        triton_version = triton.__version__
    except Exception:
        triton_version = "none"
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "posemods", "benchmarks"], cwd=ROOT,
                               capture_output=True, text=True).stdout.strip()  # fmt: skip
        commit += "+dirty" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {
        "torch": torch.__version__,
        "triton": triton_version,
        "cpu": cpu,
        "threads": str(torch.get_num_threads()),
        "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else "none",
        "commit": commit,
    }


def make_step(call: Callable[[], object], tensors: list[torch.Tensor], backward: bool) -> Callable[[], object]:
    """A zero-argument step: ``call()``, then (if ``backward``) backward of the sum of its first output and
    clearing the grads of ``tensors`` (parameters and inputs), so repeated steps do the same work."""

    def step():
        out = call()
        if backward:
            first = out[0] if isinstance(out, tuple) else out
            first.float().sum().backward()
            for t in tensors:
                t.grad = None
        return out

    return step


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def module_case(
    module: str, provider: str, shape: str, backward: bool, device: str, dtype: torch.dtype, *, baseline: str, build
) -> Case:
    """A row of the ``"modules"`` suite: ``provider`` of ``module`` at ``shape``, forward or forward +
    backward; the row speedups are computed against when ``provider`` is the ``baseline`` one."""
    mode = "forward+backward" if backward else "forward"
    return Case(
        suite="modules", module=module, provider=provider, shape=shape, mode=mode, build=build, device=device,
        dtype=dtype_name(dtype), baseline=provider == baseline,
    )  # fmt: skip
