"""``--resume`` remembers the run: ``posemods-train --out RUN --resume auto`` alone continues it with its
saved settings; flags given override where they can, and one that would change the model is named."""

from __future__ import annotations

import logging

import pytest

from posemods import train as train_cli
from posemods.training.checkpoint import read_checkpoint
from posemods.training.config import RUN_ONLY

# A tiny VREMD, 2 epochs of 2 steps, stopped after its first step.
VREMD = ["--model", "vremd", "--variant", "table6:da", "--preset", "tiny", "--input-size", "32", "32",
         "--clip-length", "3", "--train-clips", "4", "--eval-clips", "1", "--batch-size", "2", "--epochs", "2",
         "--lr", "2e-3", "--warmup-steps", "1", "--no-evaluate-every-epoch", "--no-progress",
         "--threads", "1"]  # fmt: skip


@pytest.fixture(scope="module")
def stopped(tmp_path_factory):
    """RUN/last.pt of the VREMD run above, after 1 of its 4 steps."""
    out = tmp_path_factory.mktemp("vremd") / "run"
    train_cli.main([*VREMD, "--max-steps", "1", "--out", str(out)])
    return out


def test_resume_auto_alone_continues_the_saved_run(stopped, tmp_path, caplog):
    run = tmp_path / "run"
    run.mkdir()
    (run / "last.pt").write_bytes((stopped / "last.pt").read_bytes())  # a copy: the fixture stays at step 1
    saved = read_checkpoint(run / "last.pt")["config"]
    with caplog.at_level(logging.INFO, logger="posemods"):
        result = train_cli.main(["--out", str(run), "--resume", "auto"])
    assert result["step"] == 4  # the rest of the 2 epochs of 2 steps
    assert result["model"].model_config["name"] == "vremd" and result["model"].bmd.operator == "da"
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith(f"resuming {run / 'last.pt'} at epoch 1, step 1") for m in messages), messages
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]  # nothing changed: an exact continuation
    resumed = read_checkpoint(run / "last.pt")["config"]
    for field, value in saved.items():
        if field not in RUN_ONLY:
            assert resumed[field] == value, field
    assert resumed["max_steps"] is None  # a run-only setting of the first invocation is not restored


def test_flags_given_with_resume_override_the_saved_settings(stopped, caplog):
    config = train_cli.parse_config(["--out", str(stopped), "--resume", "auto", "--epochs", "3", "--lr", "0.01"])
    assert (config.model, config.variant, config.preset) == ("vremd", "table6:da", "tiny")
    assert (config.input_size, config.clip_length, config.train_clips) == ((32, 32), 3, 4)
    assert (config.epochs, config.lr, config.max_steps) == (3, 0.01, None)
    # The same value as saved is no conflict, and a path resumes into the checkpoint's own folder.
    config = train_cli.parse_config(
        ["--resume", str(stopped / "last.pt"), "--model", "vremd", "--variant", "table6:da"]
    )
    assert config.out == str(stopped) and config.model == "vremd"


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (["--model", "kimnet"], "argument --model: 'kimnet' conflicts with"),
        (["--variant", "hkm+bmd"], "argument --variant: 'hkm+bmd' conflicts with"),
        (["--preset", "small"], "argument --preset: 'small' conflicts with"),
        (["--input-size", "64", "64"], "argument --input-size: (64, 64) conflicts with"),  # VREMD's weights fix it
        (["--recipe", "kimnet-penn"], "argument --recipe: kimnet-penn's model 'kimnet' conflicts with"),
    ],
)
def test_a_flag_that_would_change_the_model_is_named(stopped, flags, named, capsys):
    with pytest.raises(SystemExit) as exited:
        train_cli.main(["--out", str(stopped), "--resume", "auto", *flags])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and "Traceback" not in err
    line = err.strip().splitlines()[-1]
    assert named in line and f"{stopped / 'last.pt'}, a run of vremd (variant table6:da, preset tiny" in line, line
    assert "leave --" in line and "another --out" in line
