"""The protocol line that `python -m posemods.evaluate` prints beside its table."""

import pytest
import torch

from posemods.metrics import PCK, describe_protocol


def test_penn_torso_protocol_names_the_reference_pair_and_joints():
    text = describe_protocol("lstmpm_penn", "penn_action", "torso", 0.2, data="penn_action")
    assert text.startswith("protocol: penn_action, PCK@0.2")
    assert "PCK@0.2" in text and "run_benchmark_GPU_PENN.m" in text
    assert "right_shoulder - left_hip" in text and "under 1 px" in text
    assert "visibility == 1" in text


def test_jhmdb_and_posetrack_protocols():
    assert "every joint" in describe_protocol("lstmpm_jhmdb", "jhmdb", "person", 0.1)
    assert "puppet mask's box (getBox.m)" in describe_protocol("lstmpm_jhmdb", "jhmdb", "person", 0.1)
    assert "PENN_PreData.m" in describe_protocol("lstmpm_penn", "penn_action", "person", 0.2)
    assert "left_shoulder - right_hip" in describe_protocol("lstmpm_jhmdb", "jhmdb", "torso", 0.1)
    text = describe_protocol("poseval", "posetrack", "person", 0.2)
    assert "poseval evaluateAP" in text and "4258a15" in text and "15 joints" in text
    # Without a dataset's name the first line names the protocol; only poseval adds the mAP line.
    assert text.startswith("protocol: poseval, PCK@0.2")
    assert "mAP" not in describe_protocol("pck", "penn_action", "person", 0.2)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="alpha"):
        describe_protocol("lstmpm_jhmdb", "jhmdb", "person", float("nan"))
    with pytest.raises(ValueError, match="normalize"):
        describe_protocol("lstmpm_jhmdb", "jhmdb", "height", 0.2)
    # A dataset's name is not a protocol's: the error lists the protocols.
    expected = r"protocol: expected one of \('lstmpm_penn', 'lstmpm_jhmdb', 'poseval', 'pck'\), got 'jhmdb'"
    with pytest.raises(ValueError, match=expected):
        describe_protocol("jhmdb", "jhmdb", "person", 0.2)


def test_the_evaluate_cli_prints_the_protocol(monkeypatch, capsys, tmp_path):
    import posemods.evaluate as cli
    from posemods.training.config import TrainConfig

    metric = PCK("jhmdb")
    metric.update(torch.zeros(1, 15, 2), torch.zeros(1, 15, 2), torch.ones(1, 15), torch.ones(1))
    config = TrainConfig(data="jhmdb", data_root="unused", normalize="torso", alpha=0.1)
    monkeypatch.setattr(cli, "score_checkpoint", lambda path, **kw: ({"visible": metric}, config))
    checkpoint = tmp_path / "unused.pt"
    checkpoint.touch()  # the CLI refuses a missing file before it scores; score_checkpoint is stubbed
    cli.main([str(checkpoint)])
    out = capsys.readouterr().out
    assert "protocol: jhmdb, PCK@0.1" in out and "left_shoulder - right_hip" in out and "every joint" in out
