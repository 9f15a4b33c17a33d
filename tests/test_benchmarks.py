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
