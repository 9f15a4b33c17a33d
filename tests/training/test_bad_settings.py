"""Settings that cannot be right are refused up front, naming the setting: sigma, alpha, split, frame size."""

import math

import pytest
import torch

from posemods.data import SyntheticPoseVideos
from posemods.data.heatmaps import gaussian_heatmaps
from posemods.data.transforms import TopDownTransform
from posemods.evaluate import main as evaluate_main
from posemods.evaluate import score_checkpoint
from posemods.models import get_model_spec
from posemods.train import main as train_main
from posemods.training import TrainConfig
from posemods.training.checkpoint import save_checkpoint
from posemods.training.datasets import build_datasets

BAD_SIGMAS = [0, 0.0, -1.0, math.nan, math.inf]


@pytest.mark.parametrize("sigma", BAD_SIGMAS)
def test_gaussian_heatmaps_refuse_a_sigma_that_is_no_gaussian(sigma):
    joints, weight = torch.tensor([[3.0, 4.0]]), torch.ones(1)
    with pytest.raises(ValueError, match=r"sigma: expected a positive, finite"):
        gaussian_heatmaps(joints, weight, (8, 8), (32, 32), sigma=sigma)
    with pytest.raises(TypeError, match="sigma"):
        gaussian_heatmaps(joints, weight, (8, 8), (32, 32), sigma="2")


def test_a_tiny_sigma_still_peaks_at_one_on_the_joint():
    # The check must not refuse small valid sigmas: on the joint the Gaussian is exp(0) = 1.
    heatmaps, _ = gaussian_heatmaps(torch.tensor([[13.5, 21.5]]), torch.ones(1), (8, 8), (32, 32), sigma=1e-3)
    assert heatmaps[0, 5, 3] == 1.0 and heatmaps.sum() == 1.0  # (13.5 + 0.5) / 4 - 0.5 = 3, (21.5 + 0.5) / 4 - 0.5 = 5


@pytest.mark.parametrize("sigma", BAD_SIGMAS)
def test_datasets_refuse_a_bad_sigma_when_built(sigma):
    with pytest.raises(ValueError, match="sigma"):
        SyntheticPoseVideos(num_clips=1, sigma=sigma)
    with pytest.raises(ValueError, match="sigma"):
        TopDownTransform("penn_action", sigma=sigma)


@pytest.mark.parametrize("size", [(0, 0), (32, 0), (-4, 32), (32,), "32x32", None])
def test_synthetic_frame_and_heatmap_sizes_are_two_positive_ints(size):
    with pytest.raises(ValueError, match=r"frame_size: expected \(H, W\), two positive integers"):
        SyntheticPoseVideos(num_clips=1, frame_size=size)
    with pytest.raises(ValueError, match=r"heatmap_size: expected \(H, W\)"):
        SyntheticPoseVideos(num_clips=1, heatmap_size=size)


@pytest.mark.parametrize("sigma", ["0", "-2", "nan"])
def test_train_cli_refuses_a_bad_sigma_with_the_usage_line(tmp_path, capsys, sigma):
    # (were sigma not checked, the tiny settings and --max-steps 0 keep the run short)
    tiny = ["--preset", "tiny", "--input-size", "32", "32", "--max-steps", "0", "--no-progress"]
    with pytest.raises(SystemExit) as exited:
        train_main(["--sigma", sigma, *tiny, "--out", str(tmp_path)])
    assert exited.value.code == 2
    assert "argument --sigma: sigma: expected a positive, finite" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing was trained or written
    with pytest.raises(ValueError, match="sigma: expected a positive"):
        TrainConfig(sigma=float(sigma))  # the same rule for a config built in Python


@pytest.mark.parametrize("alpha", ["nan", "-0.1", "0", "inf"])
def test_evaluate_cli_refuses_a_bad_alpha(tmp_path, capsys, alpha):
    path = tmp_path / "last.pt"
    save_checkpoint(path, config=TrainConfig().to_dict(), model={})
    with pytest.raises(SystemExit) as exited:
        evaluate_main([str(path), "--alpha", alpha])
    assert exited.value.code == 2
    assert "argument --alpha: alpha: expected a positive finite number" in capsys.readouterr().err
    # Called from Python, the same check refuses it when the config is rebuilt.
    with pytest.raises(ValueError, match="alpha: expected a positive finite number"):
        score_checkpoint(str(path), alpha=float(alpha))


def test_split_is_one_of_jhmdbs_three(tmp_path, capsys):
    with pytest.raises(SystemExit):
        train_main(["--split", "x", "--data", "jhmdb", "--data-root", str(tmp_path)])
    assert "argument --split: split: expected one of jhmdb's splits ('1', '2', '3'), got 'x'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        train_main(["--split", "1", "--data", "penn_action", "--data-root", str(tmp_path)])
    err = capsys.readouterr().err
    assert "penn_action has no numbered splits (it uses the label files' train flag" in err
    assert "only jhmdb has them, got split '1'" in err
    # evaluate without --data scores the checkpoint's dataset: a split no dataset has is refused at once.
    with pytest.raises(SystemExit):
        evaluate_main([str(tmp_path / "last.pt"), "--split", "x"])
    assert "argument --split: expected a split of a dataset (jhmdb: 1, 2, 3), got 'x'" in capsys.readouterr().err
    with pytest.raises(ValueError, match=r"split: expected one of jhmdb's splits \('1', '2', '3'\), got 'x'"):
        TrainConfig(data="jhmdb", data_root=str(tmp_path), split="x")
    with pytest.raises(ValueError, match="split: synthetic has no numbered splits"):
        TrainConfig(split="test")  # synthetic data: a split would be silently ignored
    assert TrainConfig(data="jhmdb", data_root=str(tmp_path), split="2").split == "2"
    assert TrainConfig(data="jhmdb", data_root=str(tmp_path)).split is None  # saved as given; split 1 is read
    # A config changed after it was checked still gets a clear error, not int()'s.
    config = TrainConfig(data="jhmdb", data_root=str(tmp_path), split="1")
    config.split = "x"
    with pytest.raises(ValueError, match="split: expected one of jhmdb's splits"):
        build_datasets(config, get_model_spec("kimnet"))
