"""The README's demo, the KMM-prior ablation and the proof's --quick mode run end to end.

Tiny budgets: this checks plumbing, not results.
"""

import importlib.util
import math
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _example(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_trains_and_scores(tmp_path, capsys):
    out = _example("demo").main(["--steps", "1", "--eval-clips", "2", "--out", str(tmp_path), "--no-progress"])
    printed = capsys.readouterr().out
    assert "left_ankle" in printed and "Mean" in printed
    assert (tmp_path / "last.pt").is_file() and out["result"]["step"] == 1
    assert math.isfinite(out["metrics"]["visible"].compute()["Mean"])
    # The KMM-prior ablation rescores that checkpoint: as trained it must reproduce the demo's score.
    ablation = _example("kmm_prior_ablation").main([str(tmp_path / "last.pt")])
    assert set(ablation) == {"visible", "occluded"}
    assert ablation["visible"][0] == out["metrics"]["visible"].compute()["Mean"]
    assert all(math.isfinite(after) for _, after in ablation.values())


def test_proof_quick_writes_its_table(tmp_path):
    table = tmp_path / "proof.md"
    results = _example("proof_temporal").main(["--quick", "--out", str(tmp_path / "runs"), "--table", str(table)])
    assert {"kimnet:none", "kimnet:kmm"} <= set(results)
    text = table.read_text()
    assert "| kimnet:none |" in text and "| kimnet:kmm |" in text and "--quick" in text
    for r in results.values():
        assert r["counted"]["person@0.2/visible"] > 0 and r["counted"]["person@0.2/occluded"] > 0
    assert table.with_suffix(".json").is_file()
