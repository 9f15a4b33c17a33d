"""The train and evaluate CLIs: argparse choices (exit 2 with usage, no traceback), logging, console scripts."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from posemods import evaluate as evaluate_cli
from posemods import train as train_cli
from tests.training.cli import ROOT, TINY, env


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--model", "kimnett"), ("--variant", "lstm"), ("--preset", "huge"), ("--normalize", "head"), ("--device", "tpu")],
)
def test_a_wrong_enumeration_exits_2_with_the_usage_line(flag, value, capsys):
    with pytest.raises(SystemExit) as exit_info:
        train_cli.main([flag, value])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: python -m posemods.train")
    assert f"argument {flag}: invalid choice: '{value}'" in err


def test_a_variant_of_another_model_exits_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        train_cli.main(["--model", "vremd", "--variant", "kmm"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert (
        "usage:" in err and "'kmm' is not a variant of vremd (choose from baseline, hkm, bmd, hkm+bmd, table4:" in err
    )


def test_an_invalid_config_value_exits_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        train_cli.main(["--input-size", "0", "64"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "usage:" in err and "input_size: expected (H, W), two positive integers, got [0, 64]" in err


def test_evaluate_choices_exit_2(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        evaluate_cli.main([str(tmp_path / "last.pt"), "--normalize", "head"])
    assert exit_info.value.code == 2
    assert "argument --normalize: invalid choice: 'head'" in capsys.readouterr().err


def test_wrong_choice_in_a_fresh_process_shows_no_traceback():
    proc = subprocess.run(
        [sys.executable, "-m", "posemods.train", "--model", "nope"],
        cwd=ROOT, env=env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "usage:" in proc.stderr


def test_training_logs_a_banner_a_line_per_epoch_and_a_summary(tmp_path, caplog):
    """--no-progress --no-evaluate-every-epoch used to print nothing at all."""
    out = tmp_path / "run"
    with caplog.at_level(logging.INFO, logger="posemods"):
        result = train_cli.main(
            [*TINY, "--epochs", "2", "--max-steps", "4", "--no-evaluate-every-epoch", "--out", str(out)]
        )
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("posemods")]
    banner = messages[0]
    for part in ("kimnet (kmm, tiny)", "M parameters", "data synthetic", "12 training / 4 evaluation clips",
                 "32 x 32 (H x W)", "device cpu", f"output {out}"):  # fmt: skip
        assert part in banner, (part, banner)
    epoch_lines = [m for m in messages if m.startswith("epoch 1/2:")]
    assert len(epoch_lines) == 1 and "step 3, train loss" in epoch_lines[0]
    assert messages[-1].startswith("done: 4 steps this run (4 in total)")
    assert messages[-1].endswith(f"checkpoint {out / 'last.pt'}")
    assert result["checkpoint"] == out / "last.pt"


def test_resuming_with_changed_settings_logs_a_warning(tmp_path, caplog):
    out = tmp_path / "run"
    train_cli.main([*TINY, "--epochs", "1", "--max-steps", "1", "--no-evaluate-every-epoch", "--out", str(out)])
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="posemods"):
        train_cli.main(
            [*TINY, "--epochs", "1", "--max-steps", "2", "--lr", "5e-3", "--no-evaluate-every-epoch",
             "--out", str(out), "--resume", "auto"]
        )  # fmt: skip
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "changed settings {'lr': (0.001, 0.005)}" in warnings[0].getMessage()
    assert any(r.getMessage().startswith(f"resuming {out / 'last.pt'} at epoch 1, step 1") for r in caplog.records)


def test_console_scripts_are_declared_and_callable():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {
        "posemods-train": "posemods.train:cli",
        "posemods-evaluate": "posemods.evaluate:cli",
        "posemods-visualize": "posemods.visualize:cli",
    }
    from posemods import visualize

    assert callable(train_cli.cli) and callable(evaluate_cli.cli) and callable(visualize.cli)
