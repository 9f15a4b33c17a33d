"""python -m posemods.evaluate --protocol rpstn: the RPSTN authors' test as a second protocol."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from posemods import evaluate as evaluate_cli
from posemods import train as train_cli
from posemods.metrics import RPSTNPCK
from posemods.models import get_model_spec
from posemods.training.rpstn_eval import evaluate_rpstn
from tests.training.cli import ROOT, TINY


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("rpstn") / "run"
    train_cli.main([*TINY, "--epochs", "1", "--max-steps", "1", "--no-evaluate-every-epoch", "--out", str(out)])
    return str(out / "last.pt")


def test_protocol_rpstn_scores_every_clip_and_says_so(checkpoint, capsys):
    metrics = evaluate_cli.main([checkpoint, "--protocol", "rpstn"])
    out = capsys.readouterr().out
    assert "RPSTN's PCK@0.2 (YHDang/RPSTN f7dcd3e" in out and "every evaluation clip" in out
    assert list(metrics) == ["rpstn"] and isinstance(metrics["rpstn"], RPSTNPCK)
    # TINY has 4 synthetic evaluation clips: each joint is counted in at most 4 of them.
    assert metrics["rpstn"].clips.max() <= 4 and metrics["rpstn"].clips.sum() > 0
    assert "Mean" in out and "head" in out
    # The default protocol is still LSTMPM's, on the same checkpoint.
    default = evaluate_cli.main([checkpoint])
    assert set(default) == {"visible", "occluded"}


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--normalize", "person"], "argument --normalize: --protocol rpstn normalises by the torso only"),
        (["--eval-mode", "video"], "argument --eval-mode: not with --protocol rpstn"),
        (["--occlusion-sweep", "1-2"], "argument --occlusion-sweep: not with --protocol rpstn"),
        (["--data", "jhmdb", "--data-root", "/d"], "argument --data: --protocol rpstn scores penn_action or synthetic"),
    ],
)
def test_flags_the_protocol_cannot_honour_exit_2(checkpoint, flags, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        evaluate_cli.main([checkpoint, "--protocol", "rpstn", *flags])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_a_key_frame_model_is_refused():
    with pytest.raises(ValueError, match="protocol: 'rpstn' scores every frame of a clip"):
        evaluate_rpstn(torch.nn.Identity(), get_model_spec("vremd"), [], "posetrack")


def test_protocol_gap_example_runs(checkpoint, capsys):
    # examples/protocol_gap.py, at a plumbing budget (the README's numbers come from its defaults).
    spec = importlib.util.spec_from_file_location("protocol_gap", ROOT / "examples" / "protocol_gap.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    results = module.main(["--clips", "3", "--heatmap-size", "16", "--checkpoint", checkpoint])
    assert set(results) == {"synthetic 16 x 16 heatmaps", checkpoint}
    assert set(results[checkpoint]) == {"lstmpm person", "lstmpm torso", "rpstn"}
    assert "mean PCK@0.2 rpstn" in capsys.readouterr().out
