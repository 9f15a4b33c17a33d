"""The README's demo and the KMM-prior ablation run end to end.

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
