"""The benchmark runner's --quick mode works end to end (a smoke test: no assertions on speed)."""

import csv
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_quick_benchmarks_write_csv_markdown_and_plot(tmp_path):
    env = {**os.environ, "TRITON_INTERPRET": "0", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--suite", "all", "--out", str(tmp_path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(tmp_path / "results.csv") as f:
        rows = list(csv.DictReader(f))
    assert rows, "no benchmark rows"
    failed = [(r["module"], r["provider"], r["error"]) for r in rows if r["error"]]
    assert not failed, failed
    for r in rows:
        assert float(r["median_ms"]) > 0 and r["commit"] and r["torch"]
    markdown = (tmp_path / "results.md").read_text()
    assert "## Targets" in markdown and "registers/thread" in markdown
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
