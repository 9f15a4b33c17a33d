"""Quiet, truthful output: progress bars only on a terminal, one banner per checkpoint, a header that says
what each column of the table counts, and a table that never shows a joint and its group under one word."""

from __future__ import annotations

import io
import logging

import pytest

from posemods import evaluate as evaluate_cli
from posemods import train as train_cli
from posemods.evaluate import per_joint_table
from posemods.metrics import PCK, describe_protocol
from posemods.training.config import show_progress
from tests.training.cli import untrained_checkpoint

# The tiny run of tests/training/cli.py without --no-progress: what a user types.
RUN = ["--model", "kimnet", "--preset", "tiny", "--input-size", "32", "32", "--clip-length", "3", "--train-clips",
       "4", "--eval-clips", "2", "--batch-size", "2", "--epochs", "1", "--threads", "1"]  # fmt: skip


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    folder = tmp_path_factory.mktemp("runs")
    fields = dict(model="kimnet", preset="tiny", input_size=(32, 32), clip_length=3, eval_clips=2, occluders=1)
    return [str(untrained_checkpoint(folder / name / "last.pt", **fields, seed=i)) for i, name in enumerate("ab")]


def test_no_progress_bars_when_stderr_is_not_a_terminal(tmp_path, capsys):
    """tqdm wrote 21 KB of carriage-return updates into logs."""
    train_cli.main([*RUN, "--out", str(tmp_path / "quiet")])
    err = capsys.readouterr().err
    assert "\r" not in err and "it/s" not in err
    assert "done: 2 steps" in err  # the log lines are all still there
    train_cli.main(
        [*RUN, "--max-steps", "1", "--no-evaluate-every-epoch", "--progress", "--out", str(tmp_path / "bars")]
    )
    assert "\r" in capsys.readouterr().err  # --progress asks for them anyway


def test_show_progress_follows_the_terminal_unless_told(monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stderr", Terminal())
    assert show_progress(None) is True and show_progress(False) is False
    monkeypatch.setattr("sys.stderr", io.StringIO())
    assert show_progress(None) is False and show_progress(True) is True


def test_an_occlusion_sweep_prints_each_checkpoints_banner_once(checkpoints, tmp_path, caplog, capsys):
    with caplog.at_level(logging.INFO, logger="posemods"):
        evaluate_cli.main([*checkpoints, "--occlusion-sweep", "1-3", "--plot", str(tmp_path / "sweep.png")])
    banners = [r.getMessage() for r in caplog.records if r.getMessage().startswith("posemods.evaluate: ")]
    assert len(banners) == 2, banners
    assert [b.split(" from ")[1].split(";")[0] for b in banners] == checkpoints
    assert "\r" not in capsys.readouterr().err


def test_the_evaluation_header_says_what_each_column_counts_in_the_datas_terms(checkpoints, capsys):
    evaluate_cli.main([checkpoints[0]])
    out = capsys.readouterr().out
    header, table = out.split("joint ", 1)
    columns = table.splitlines()[0].split("|")[1:]
    assert [c.strip() for c in columns] == ["visible", "occluded"]
    # Synthetic people are not Penn Action's: only their joint order is.
    assert "(penn_action)" not in header and "13 joints, in the penn_action layout's order" in header
    assert "joints counted: visible joints" not in header  # above a table with an occluded column
    assert "    visible: visible joints (annotated, not occluded)" in header
    assert (
        "    occluded: annotated joints that are not visible" in header and "not part of the protocol's score" in header
    )


def test_describe_protocol_names_the_layout_alone_when_the_data_is_that_dataset():
    text = describe_protocol("lstmpm_penn", "penn_action", "person", 0.2, "penn_action", {"visible": "visible"})
    assert "13 joints (penn_action)" in text and "visible: joints with the file's visibility == 1" in text
    with pytest.raises(ValueError, match="columns"):
        describe_protocol("pck", "penn_action", "person", 0.2, columns={"x": "hidden"})


@pytest.mark.parametrize("layout", ["penn_action", "jhmdb", "posetrack"])
def test_the_table_never_shows_a_joint_and_its_group_under_one_word(layout):
    table = per_joint_table({"visible": PCK(layout), "occluded": PCK(layout)})
    rows = [line.split("|")[0].strip() for line in table.splitlines()[2:] if "|" in line]
    assert len({r.lower() for r in rows}) == len(rows), rows
    assert rows[-1] == "Mean" and {"Sho.", "Ank."} <= set(rows)
    # Penn Action's head is its Head column, shown once; JHMDB's Head is face and neck, a group of its own.
    assert ("Head" in rows) == (layout != "penn_action")
