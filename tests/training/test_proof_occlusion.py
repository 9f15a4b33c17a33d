"""examples/proof_occlusion.py: the paired statistics, and its --quick mode end to end (slow)."""

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _proof():
    spec = importlib.util.spec_from_file_location("proof_occlusion", ROOT / "examples" / "proof_occlusion.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_paired_differences_are_per_seed():
    diffs, mean, spread = _proof().paired({"none": [50.0, 60.0, 70.0], "kmm": [52.0, 59.0, 76.0]})
    assert diffs == [2.0, -1.0, 6.0]
    assert mean == pytest.approx(7 / 3)
    assert spread == pytest.approx(((2 - 7 / 3) ** 2 + (-1 - 7 / 3) ** 2 + (6 - 7 / 3) ** 2) ** 0.5 / 2**0.5)


@pytest.mark.slow
def test_quick_run_writes_the_table_the_curve_and_the_json(tmp_path):
    table = tmp_path / "proof.md"
    _proof().main(["--quick", "--seeds", "0", "--out", str(tmp_path / "runs"), "--table", str(table)])
    text = table.read_text()
    assert "| temporal (2 masks) | all |" in text and "| spatial (2 masks) | occluded |" in text
    assert "--quick" in text
    saved = json.loads(table.with_suffix(".json").read_text())
    assert set(saved["protocols"]) == {"temporal", "spatial"} and list(saved["curve"]) == ["1"]
    assert table.with_suffix(".png").exists() or table.with_suffix(".csv").exists()
