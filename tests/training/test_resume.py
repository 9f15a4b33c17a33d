"""Checkpoints resume exactly: N steps straight equal N/2, a fresh process, then N/2 more, bit for bit."""

import random

import numpy as np
import torch

from posemods.evaluate import score_checkpoint
from posemods.training.checkpoint import read_checkpoint, rng_state, save_checkpoint, set_rng_state
from tests.training.cli import train


def test_resume_in_a_fresh_process_is_bitwise_identical(tmp_path):
    # 5 steps cross an epoch end (3 steps per epoch, with its evaluation); the split at step 2 is
    # mid-epoch, so the resumed run must skip exactly the clips already seen.
    straight = train(tmp_path / "straight", "--epochs", "2", "--max-steps", "5")
    half = train(tmp_path / "split", "--epochs", "2", "--max-steps", "2")
    assert (half["epoch"], half["epoch_step"], half["step"]) == (0, 2, 2)
    resumed = train(tmp_path / "split", "--epochs", "2", "--max-steps", "5", "--resume", "auto")

    assert (straight["epoch"], straight["epoch_step"], straight["step"]) == (1, 2, 5)
    assert (resumed["epoch"], resumed["epoch_step"], resumed["step"]) == (1, 2, 5)
    assert straight["model"].keys() == resumed["model"].keys()
    for key, value in straight["model"].items():
        assert torch.equal(value, resumed["model"][key]), key
    for a, b in zip(straight["optimizer"]["state"].values(), resumed["optimizer"]["state"].values()):
        for name in a:
            assert torch.equal(torch.as_tensor(a[name]), torch.as_tensor(b[name])), name
    # The schedule's position and rates match; "_step_count" counts scheduler.step() calls in this
    # process (torch only warns from it about call order), and a resumed scheduler is built anew.
    public = lambda state: {k: v for k, v in state.items() if k != "_step_count"}
    assert public(straight["scheduler"]) == public(resumed["scheduler"])
    assert straight["scheduler"]["last_epoch"] == 5
    assert straight["history"] == resumed["history"] or _same_but_time(straight["history"], resumed["history"])
    # The weights moved: a run that did nothing would pass the checks above too.
    assert not torch.equal(straight["model"]["correction.conv_d.weight"], half["model"]["correction.conv_d.weight"])

    # Any model's checkpoint= takes a training checkpoint (read_state_dict unwraps its "model").
    from posemods.models import KIMNet

    model = KIMNet(13, "kmm", "resnet10t", "resnet10t", channels=16, checkpoint=tmp_path / "straight" / "last.pt")
    for key, value in model.state_dict().items():
        assert torch.equal(value, straight["model"][key]), key

    # The evaluate CLI's numbers are the ones the run logged at its epoch end (same weights then).
    at_epoch_end = train(tmp_path / "epoch", "--epochs", "2", "--max-steps", "3")
    metrics, _ = score_checkpoint(str(tmp_path / "epoch" / "last.pt"), progress=False, threads=1)
    logged = at_epoch_end["history"][-1]
    for name, metric in metrics.items():
        expected = logged[f"{name}/Mean"]
        value = metric.compute()["Mean"]
        assert value == expected or (np.isnan(value) and np.isnan(expected)), name


def _same_but_time(a, b):
    strip = lambda h: [{k: v for k, v in r.items() if k != "train_seconds"} for r in h]
    return strip(a) == strip(b)


def test_rng_state_round_trips_through_a_checkpoint(tmp_path):
    random.seed(1), np.random.seed(1), torch.manual_seed(1)
    random.random(), np.random.rand(), torch.rand(1), np.random.randn()  # a cached Gaussian too
    save_checkpoint(tmp_path / "rng.pt", rng=rng_state())
    expected = (random.random(), np.random.randn(3), torch.rand(3))
    random.seed(2), np.random.seed(2), torch.manual_seed(2)
    set_rng_state(read_checkpoint(tmp_path / "rng.pt")["rng"])
    got = (random.random(), np.random.randn(3), torch.rand(3))
    assert got[0] == expected[0]
    assert np.array_equal(got[1], expected[1])
    assert torch.equal(got[2], expected[2])


def test_checkpoint_errors(tmp_path):
    import pytest

    with pytest.raises(FileNotFoundError, match="checkpoint"):
        read_checkpoint(tmp_path / "missing.pt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="format"):
        read_checkpoint(tmp_path / "other.pt")
    torch.save({"format": "posemods-train-1", "model": {}}, tmp_path / "old.pt")
    with pytest.raises(ValueError, match="before models normalised their input frames"):
        read_checkpoint(tmp_path / "old.pt")
