"""Every foreseeable failure of the CLIs ends with one ``error:`` line that says what to do, never a traceback.

Exit 2 for an argument refused before anything ran (with argparse's usage line), 1 for a run that failed;
``--debug`` shows the traceback instead. One mechanism (posemods/_cli.py) for train, evaluate and visualize.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from posemods import evaluate as evaluate_cli
from posemods import train as train_cli
from posemods import visualize as visualize_cli
from posemods._cli import UsageError, one_line
from posemods.models import MODELS
from tests.training.cli import ROOT, env, untrained_checkpoint

PENN = "https://dreamdragon.github.io/PennAction/"
TINY = ["--preset", "tiny", "--input-size", "32", "32", "--clip-length", "3", "--train-clips", "4",
        "--eval-clips", "2", "--batch-size", "2", "--no-progress", "--threads", "1"]  # fmt: skip


def _fails(main, argv, capsys) -> tuple[int, str]:
    """Run a CLI's main expecting an exit; return (status, its one error line), checking there is one."""
    with pytest.raises(SystemExit) as exited:
        main(argv)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert "Traceback" not in err, err
    assert sum(": error: " in line for line in lines) == 1 and ": error: " in lines[-1], err
    if exited.value.code == 2:
        assert err.startswith("usage: "), err
    return exited.value.code, lines[-1]


@pytest.fixture(scope="module")
def kimnet(tmp_path_factory):
    return str(untrained_checkpoint(tmp_path_factory.mktemp("kimnet") / "last.pt", model="kimnet", preset="tiny",
                                    input_size=(32, 32), clip_length=3, eval_clips=2))  # fmt: skip


def _clis(checkpoint: str) -> dict:
    return {
        "train": (train_cli.main, [*TINY], "python -m posemods.train"),
        "evaluate": (evaluate_cli.main, [checkpoint, "--no-progress"], "python -m posemods.evaluate"),
        "visualize": (visualize_cli.main, [checkpoint], "python -m posemods.visualize"),
    }


@pytest.mark.parametrize("cli", ["train", "evaluate", "visualize"])
def test_a_device_this_machine_lacks_is_an_argument_error(cli, kimnet, capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    main, argv, prog = _clis(kimnet)[cli]
    status, line = _fails(main, [*argv, "--device", "cuda", *(["--out", str(tmp_path)] * (cli != "evaluate"))], capsys)
    assert status == 2
    assert line.startswith(f"{prog}: error: argument --device: cuda was asked for, but torch sees no CUDA device")
    assert "use --device cpu" in line


def test_a_missing_data_root_says_what_it_should_hold_and_where_the_data_comes_from(tmp_path, capsys):
    status, line = _fails(train_cli.main, ["--data", "penn_action", "--data-root", str(tmp_path / "nothing")], capsys)
    assert status == 2 and f"argument --data-root: no folder '{tmp_path / 'nothing'}'" in line
    assert "the Penn Action folder with labels/ and frames/" in line and PENN in line


def test_an_empty_data_root_fails_the_run_saying_which_files_are_expected(tmp_path, capsys):
    status, line = _fails(train_cli.main, ["--data", "penn_action", "--data-root", str(tmp_path), "--out",
                                           str(tmp_path / "run")], capsys)  # fmt: skip
    assert status == 1
    assert line.startswith(f"python -m posemods.train: error: penn_action: root: no labels/*.mat under {tmp_path}")
    assert "data_root should be the Penn Action folder with labels/ and frames/" in line and PENN in line


def test_evaluate_of_a_run_whose_data_folder_is_gone(tmp_path, capsys):
    gone = tmp_path / "PennAction"
    path = untrained_checkpoint(tmp_path / "last.pt", model="kimnet", preset="tiny", input_size=(32, 32),
                                data="penn_action", data_root=str(gone))  # fmt: skip
    status, line = _fails(evaluate_cli.main, [str(path), "--no-progress"], capsys)
    assert status == 1 and f"no labels/*.mat under {gone}" in line and PENN in line


@pytest.mark.parametrize(
    ("argv", "rule", "suggestion"),
    [
        (["--input-size", "64", "48"], "kimnet takes H and W in multiples of 32, got 64 48", "--input-size 64 64"),
        (["--model", "vremd", "--input-size", "40", "50"], "vremd takes H and W in multiples of 16", "48 64"),
        (["--model", "lstmpm", "--input-size", "36", "36"], "lstmpm takes H and W in multiples of 8", "40 40"),
    ],
)
def test_a_frame_size_the_model_cannot_take_states_its_rule(argv, rule, suggestion, capsys):
    status, line = _fails(train_cli.main, argv, capsys)
    assert status == 2 and f"argument --input-size: {rule}" in line and suggestion in line


def test_help_states_each_models_size_rule(capsys):
    with pytest.raises(SystemExit):
        train_cli.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "H and W multiples of:" in text
    assert "kimnet 32" in text and "vremd 16" in text  # ResNet stride 32; ViT patch 16
    for name, spec in MODELS.items():  # and every registered model, from the registry
        assert f"{name} {spec.size_multiple}" in text


@pytest.mark.parametrize("cli", ["train", "visualize"])
def test_an_output_folder_that_cannot_be_written(cli, kimnet, tmp_path, capsys):
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    main, argv, prog = _clis(kimnet)[cli]
    status, line = _fails(main, [*argv, "--out", str(blocked / "run")], capsys)
    assert status == 2
    assert line.startswith(f"{prog}: error: argument --out: cannot write to '{blocked / 'run'}'")


def test_the_sweep_plot_folder_is_checked_before_scoring(kimnet, tmp_path, capsys):
    blocked = tmp_path / "a-file"
    blocked.write_text("")
    status, line = _fails(evaluate_cli.main, [kimnet, "--occlusion-sweep", "1", "--plot",
                                              str(blocked / "sweep.png")], capsys)  # fmt: skip
    assert status == 2 and "argument --plot: cannot write to" in line


def test_a_missing_optional_dependency_names_the_extra(kimnet, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "scipy.io", None)
    status, line = _fails(train_cli.main, ["--data", "jhmdb", "--data-root", str(tmp_path), "--out",
                                           str(tmp_path / "run")], capsys)  # fmt: skip
    assert status == 1 and line.endswith(
        'reading .mat files needs scipy, which is not installed: pip install "posemods[data]"'
    )
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    status, line = _fails(visualize_cli.main, [kimnet, "--out", str(tmp_path / "pictures")], capsys)
    assert status == 1 and line.endswith('needs matplotlib, which is not installed: pip install "posemods[viz]"')


@pytest.mark.parametrize("cli", ["train", "evaluate", "visualize"])
def test_an_unreadable_checkpoint_fails_the_run_naming_the_file(cli, tmp_path, capsys):
    junk = tmp_path / "last.pt"
    junk.write_bytes(b"not a checkpoint")
    main, _, prog = _clis(str(junk))[cli]
    argv = {"train": [*TINY, "--resume", str(junk), "--out", str(tmp_path / "run")], "evaluate": [str(junk)],
            "visualize": [str(junk), "--out", str(tmp_path / "pictures")]}[cli]  # fmt: skip
    status, line = _fails(main, argv, capsys)
    assert status == 1 and line.startswith(f"{prog}: error: checkpoint '{junk}': not a readable torch checkpoint")


def test_debug_lets_the_exception_through(tmp_path):
    from posemods.training.checkpoint import CheckpointError

    junk = tmp_path / "last.pt"
    junk.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        evaluate_cli.main([str(junk), "--debug"])
    with pytest.raises(UsageError, match="argument --out"):
        visualize_cli.main([str(junk), "--out", str(junk / "x"), "--debug"])


def test_in_a_fresh_process_one_line_without_and_the_traceback_with_debug(tmp_path):
    junk = tmp_path / "last.pt"
    junk.write_bytes(b"")
    command = [sys.executable, "-m", "posemods.evaluate", str(junk)]
    quiet = subprocess.run(command, cwd=ROOT, env=env(), capture_output=True, text=True, timeout=300)
    assert quiet.returncode == 1 and "Traceback" not in quiet.stderr
    assert quiet.stderr.strip().splitlines()[-1].startswith(f"python -m posemods.evaluate: error: checkpoint '{junk}'")
    loud = subprocess.run([*command, "--debug"], cwd=ROOT, env=env(), capture_output=True, text=True, timeout=300)
    assert (
        loud.returncode == 1 and "Traceback (most recent call last)" in loud.stderr and "CheckpointError" in loud.stderr
    )


def test_an_unforeseen_failure_is_one_line_that_says_how_to_see_more():
    assert one_line(RuntimeError("CUDA error:\n  device-side assert")) == (
        "RuntimeError: CUDA error: device-side assert (rerun with --debug to see where it failed)"
    )
    assert one_line(ValueError("lr: expected a positive number,\ngot -1")) == "lr: expected a positive number, got -1"
    assert one_line(KeyError()) == "KeyError: (no message) (rerun with --debug to see where it failed)"
