"""The benchmark runner's --quick mode works end to end (a smoke test: no assertions on speed)."""

import csv
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _one_tiny_case_per_suite(args):
    """The first quick case of each suite file that needs no compiler: the harness is what is tested."""
    from benchmarks import run
    from benchmarks.suites import models, modules

    picked = []
    for suite in (*modules.MODULES, models):
        cases = [c for c in suite.cases(args.device, run.DTYPES[args.dtype], True) if "compile" not in c.provider]
        assert cases, f"{suite.__name__} has no quick case"
        picked.append(cases[0])
    return picked


def test_quick_benchmarks_write_csv_markdown_and_plot(tmp_path, monkeypatch):
    # A smoke test of the harness, in-process: one tiny case per suite, each step run once for real,
    # and a fake timer, so nothing depends on how fast (or loaded) the machine is.
    from benchmarks import harness, run

    steps = []

    def fake_time(case, min_run_time):
        case.build()()  # the case must build and run its step
        steps.append(case.key)
        return 1.5, 0.25

    monkeypatch.setattr(harness, "time_case", fake_time)
    monkeypatch.setattr(run, "collect_cases", _one_tiny_case_per_suite)
    run.main(["--quick", "--suite", "all", "--no-memory", "--out", str(tmp_path)])

    with open(tmp_path / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(steps) == 5
    assert {r["suite"] for r in rows} == {"modules", "models"}
    failed = [(r["module"], r["provider"], r["error"]) for r in rows if r["error"]]
    assert not failed, failed
    for r in rows:
        assert r["median_ms"] == "1.5000" and r["iqr_ms"] == "0.2500" and r["commit"] and r["torch"]
    markdown = (tmp_path / "results.md").read_text()
    assert "## Targets" in markdown and "| 1.500 |" in markdown
    assert (tmp_path / "results.png").stat().st_size > 10_000


def test_replot_redraws_the_committed_results_from_their_csv(tmp_path):
    committed = ROOT / "benchmarks" / "results" / "cpu" / "results.csv"
    (tmp_path / "results.csv").write_bytes(committed.read_bytes())
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--replot", "--out", str(tmp_path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / "results.png").stat().st_size > 10_000


def test_parity_refuses_cuda_without_a_device_and_keeps_paper_shapes_for_gpus(monkeypatch):
    import pytest

    from benchmarks import parity

    monkeypatch.setattr(parity.torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit, match="--device cuda: no CUDA device here"):
        parity.main(["--op", "keypoint_mask", "--device", "cuda"])
    from posemods.testing import OP_CASES

    for op, cases in OP_CASES.items():
        assert any(c.paper for c in cases) and any(not c.paper for c in cases), op
        labels = [label for label, _ in parity.cases(op, "cpu")]
        assert labels == [c.label for c in cases if not c.paper]  # the interpreter never runs paper shapes


# --- benchmarks.gpu_check: the parts a CPU can run ------------------------------------------------------


def test_gpu_check_arguments_and_refusal_without_cuda(monkeypatch):
    import pytest

    from benchmarks import gpu_check

    args = gpu_check.parse_args([])
    assert args.reps == 50 and args.out is None and set(args.op) == set(gpu_check.OP_CASES)
    with pytest.raises(SystemExit):
        gpu_check.parse_args(["--reps", "0"])
    monkeypatch.setattr(gpu_check.torch.cuda, "is_available", lambda: False)
    with pytest.raises(SystemExit, match="needs a CUDA GPU"):
        gpu_check.main([])
    assert gpu_check.gpu_slug("NVIDIA H200") == "nvidia-h200"


def test_gpu_check_timings_and_result_files_with_a_fake_timer(tmp_path):
    import itertools

    import torch

    from benchmarks import gpu_check
    from benchmarks.gpu_model import gpu_spec
    from posemods.testing import OpCase, kinematics_attention_inputs

    # Per dtype the check times: reference forward, reference forward+backward, fused forward, fused fwd+bwd.
    assert gpu_check.copy_bandwidth(lambda fn: 4.0, device="cpu", nbytes=1000) == 2 * 1000 / 4e-3
    medians = itertools.cycle([4.0, 9.0, 1.0, 2.0])
    timer = lambda fn: next(medians)  # never runs fn: no interpreter needed, no wall clock

    case = OpCase("B=2 J=3 4x5", lambda: kinematics_attention_inputs(2, 3, (4, 5)))
    rows = gpu_check.timing_rows([("kinematics_attention", case)], [torch.float32], timer, 1e9, device="cpu")
    by_metric = {r["metric"]: r for r in rows}
    assert by_metric["speedup forward"]["value"] == "4.00" and by_metric["speedup forward"]["target"] == ""
    fwd_bwd = by_metric["speedup forward+backward"]
    assert fwd_bwd["value"] == "4.50" and fwd_bwd["target"] == 3.0 and fwd_bwd["ok"]
    # compulsory bytes: q, k, v and pred (2*3*4*5 floats each) plus attn (2*3*3), 4 bytes each, in 1 ms
    moved = 4 * (4 * 2 * 3 * 4 * 5 + 2 * 3 * 3)
    bandwidth = by_metric["forward bandwidth / copy"]
    assert bandwidth["value"] == f"{moved / 1e-3 / 1e9:.3f}" and bandwidth["target"] == 0.5

    gpu_check.write_results(tmp_path, rows, ["# header"])
    with open(tmp_path / "gpu_check.csv") as f:
        assert len(list(csv.DictReader(f))) == len(rows)
    text = (tmp_path / "gpu_check.md").read_text()
    # 1992 bytes in 1 ms is 0.002 of the 1 GB/s copy: the one row below its target.
    assert "## timing (6/7 ok)" in text and "| >= 3.0 |" in text and "| >= 0.5 | **no** |" in text
    assert (tmp_path / "gpu_check.png").stat().st_size > 5_000
    assert gpu_spec("NVIDIA H200").bandwidth == 4.8e12 and gpu_spec("NVIDIA H100 80GB HBM3").name == "H100 SXM5"
    assert gpu_spec("Tesla T4") is None
