"""The loop's pieces in-process: loss, schedule, key-frame models, every registered model, errors."""

import argparse
import dataclasses
import math

import pytest
import torch
from torch import nn

from posemods.data import SyntheticPoseVideos
from posemods.models import MODELS, add_model, register_model
from posemods.training import TrainConfig, evaluate, fit, heatmap_loss, predict
from posemods.training.config import add_arguments, config_from_args
from posemods.training.datasets import build_datasets
from posemods.training.loop import WarmupCosine, restore_schedule, select_frames


def test_heatmap_loss_by_hand():
    pred = torch.zeros(1, 2, 3, 4, 4)
    target = torch.zeros(1, 2, 3, 4, 4)
    target[0, 0, 0, 1, 1] = 1.0  # one unit error...
    target[0, 1, 2, 0, 0] = 2.0  # ...and one of 2 on a joint whose weight is 0
    weight = torch.ones(1, 2, 3)
    weight[0, 1, 2] = 0.0
    assert heatmap_loss(pred, target, weight).item() == pytest.approx(0.5 * 1.0 / pred.numel())


def test_warmup_cosine_schedule():
    f = WarmupCosine(warmup=4, total=12)
    assert [f(s) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert f(4) == 1.0
    assert f(8) == pytest.approx(0.5)  # half-way through the decay
    assert f(12) == pytest.approx(0.0, abs=1e-12)
    assert f(20) == pytest.approx(0.0, abs=1e-12)
    assert WarmupCosine(0, 10)(0) == 1.0


class KeyFrameNet(nn.Module):
    """A stand-in for VREMD's contract: video (B, T, 3, H, W) -> key-frame heatmaps (B, J, H/4, W/4)."""

    def __init__(self, num_joints: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, num_joints, 4, stride=4)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        return self.conv(video[:, video.shape[1] // 2])


if "test-key" not in MODELS:  # registered once per process, however often this file is imported
    register_model(
        "test-key", variants={"only": {}}, default_variant="only", presets={"tiny": {}, "small": {}, "paper": {}},
        num_joints=13, input_size=(32, 32), clip_length=3, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), output="key",
    )(KeyFrameNet)  # fmt: skip


def _clips(num_clips=4, clip_length=3):
    ds = SyntheticPoseVideos(num_clips, clip_length, (32, 32), (8, 8), occluders=2, occluder_size=10, seed=3)
    return ds, torch.utils.data.default_collate([ds[i] for i in range(num_clips)])


def _stepped(total, steps, lr=1e-2):
    param = nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.AdamW([param], lr=lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, WarmupCosine(2, total))
    for _ in range(steps):
        optimizer.step()
        scheduler.step()
    return optimizer, scheduler


def test_resuming_with_more_steps_continues_the_new_schedule():
    # A 10-step run saved at its end (lr 0), resumed as a 20-step run: training must go on at the new
    # schedule's rate from step 10, not at the old schedule's 0.
    _, old = _stepped(total=10, steps=10)
    assert old.get_last_lr() == [0.0]
    optimizer, _ = _stepped(total=20, steps=0)
    optimizer.load_state_dict(_stepped(total=10, steps=10)[0].state_dict())  # lr 0, as saved
    schedule = WarmupCosine(2, 20)
    scheduler = restore_schedule(optimizer, old.state_dict(), lr=1e-2, weight_decay=0.01, schedule=schedule)
    assert schedule.total == 20  # not overwritten by the saved, 10-step schedule
    assert optimizer.param_groups[0]["weight_decay"] == 0.01 and optimizer.param_groups[0]["lr"] == 1e-2 * schedule(10)
    assert scheduler.last_epoch == 10
    assert scheduler.get_last_lr() == [1e-2 * schedule(10)] and schedule(10) > 0.4
    optimizer.step()
    scheduler.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(1e-2 * schedule(11))


def test_resuming_with_the_same_settings_changes_nothing():
    _, saved = _stepped(total=10, steps=4)
    optimizer, _ = _stepped(total=10, steps=0)
    scheduler = restore_schedule(
        optimizer, saved.state_dict(), lr=1e-2, weight_decay=0.01, schedule=WarmupCosine(2, 10)
    )
    assert scheduler.get_last_lr() == saved.get_last_lr() and scheduler.last_epoch == 4
    # The same steps from here on as the run that was never interrupted.
    for _ in range(3):
        saved.optimizer.step()
        saved.step()
        optimizer.step()
        scheduler.step()
        assert scheduler.get_last_lr() == saved.get_last_lr()


def test_restore_schedule_uses_no_private_scheduler_attributes():
    """Issue 14: restoring wrote scheduler._last_lr; it now builds the scheduler through the constructor."""
    import inspect

    source = inspect.getsource(restore_schedule)
    code = source[source.index('"""', source.index('"""') + 3) + 3 :]  # the body after the docstring
    assert "._" not in code


def test_key_frame_models_are_trained_and_scored_on_the_key_frame_only(tmp_path):
    ds, clips = _clips()
    spec = MODELS["test-key"]
    model = KeyFrameNet(13)
    pred, kept = predict(model, spec, clips)
    assert pred.shape == (4, 1, 13, 8, 8)
    assert torch.equal(kept["heatmaps"], clips["heatmaps"][:, 1:2])
    assert torch.equal(kept["affine"], clips["affine"])  # no frame axis: untouched

    loader = torch.utils.data.DataLoader(ds, batch_size=2)
    metrics = evaluate(model, spec, loader, ds.skeleton)
    # Only the key frame's joints are counted: the counts are the key frame's visible/occluded joints.
    assert torch.equal(metrics["visible"].counted, clips["visibility"][:, 1].double().sum(0))
    occluded = clips["annotated"][:, 1] * (1 - clips["visibility"][:, 1])
    assert torch.equal(metrics["occluded"].counted, occluded.double().sum(0))

    # A whole run goes through: fit trains it and logs the evaluation.
    config = TrainConfig(
        model="test-key", input_size=(32, 32), clip_length=3, train_clips=8, eval_clips=4, batch_size=4,
        epochs=1, out=str(tmp_path), progress=False, occluder_size=10,
    )  # fmt: skip
    before = [p.detach().clone() for p in KeyFrameNet(13).parameters()]
    result = fit(config)
    assert result["step"] == 2 and len(result["history"]) == 1
    assert math.isfinite(result["history"][0]["visible/Mean"])
    assert not all(torch.equal(a, b) for a, b in zip(before, result["model"].parameters()))


def test_select_frames_keeps_clip_level_keys():
    _, clips = _clips(2)
    one = select_frames(clips, slice(2, 3))
    assert one["frames"].shape[1] == 1 and one["torso_size"].shape == (2, 1)
    assert one["key_frame"] is clips["key_frame"] and one["affine"] is clips["affine"]


def test_nan_predictions_score_as_misses():
    ds, _ = _clips(2)
    model = KeyFrameNet(13)
    nn.init.constant_(model.conv.bias, float("nan"))
    metrics = evaluate(model, MODELS["test-key"], torch.utils.data.DataLoader(ds, batch_size=2), ds.skeleton)
    assert metrics["visible"].counted.sum() > 0
    assert metrics["visible"].compute()["Mean"] == 0.0


@pytest.mark.parametrize("name", ["kimnet", "rpstn", "dkd", "lstmpm", "vremd"])
def test_every_registered_model_builds_and_predicts(name):
    if name == "vremd":
        pytest.importorskip("posemods.models.vremd")
    spec = MODELS[name]
    _, clips = _clips(1, clip_length=3)
    for variant in spec.variants:
        model = spec.create(13, variant, "tiny", (32, 32), 3).eval()  # BatchNorm cannot train on one clip
        h, w = spec.heatmap_size((32, 32))
        clips_at_stride = {**clips, "heatmaps": clips["heatmaps"][..., :h, :w]}
        pred, kept = predict(model, spec, clips_at_stride)
        frames = 3 if spec.output == "clip" else 1  # a key-frame model predicts the middle frame
        assert pred.shape == (1, frames, 13, h, w), (name, variant)
        assert kept["heatmaps"].shape == pred.shape


def test_configuration_errors(tmp_path):
    with pytest.raises(ValueError, match="data_root"):
        TrainConfig(data="penn_action")
    with pytest.raises(ValueError, match="annotations"):
        TrainConfig(data="posetrack", data_root=str(tmp_path))
    with pytest.raises(ValueError, match="normalize"):
        TrainConfig(normalize="head")
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match="model"):
        fit(TrainConfig(model="nope", out=str(tmp_path)))
    with pytest.raises(ValueError, match="variant"):
        MODELS["kimnet"].create(13, "lstm")
    with pytest.raises(ValueError, match="batch_size"):
        fit(TrainConfig(model="test-key", batch_size=3, accumulate=2, out=str(tmp_path), input_size=(32, 32)))
    with pytest.raises(ValueError, match="input_size"):
        MODELS["kimnet"].heatmap_size((30, 32))
    with pytest.raises(ValueError, match=r"multiples of 32 for kimnet, got \(48, 64\)"):
        MODELS["kimnet"].heatmap_size((48, 64))  # a multiple of the heatmap stride, not of ResNet's
    assert MODELS["lstmpm"].heatmap_size((48, 48)) == (6, 6)


def test_sizes_are_height_then_width():
    """(H, W) everywhere, as torch: the config, the CLI, the registry and the data agree."""
    assert MODELS["lstmpm"].heatmap_size((48, 64)) == (6, 8)
    with pytest.raises(ValueError, match=r"multiples of 32 for kimnet, got \(64, 48\)"):
        MODELS["kimnet"].heatmap_size((64, 48))
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    config = config_from_args(parser.parse_args(["--input-size", "64", "32"]))
    assert config.input_size == (64, 32)
    with pytest.raises(ValueError, match=r"input_size: expected \(H, W\)"):
        TrainConfig(input_size=(64,))
    spec = MODELS["test-key"]
    train_set, _, _ = build_datasets(dataclasses.replace(config, train_clips=1, eval_clips=1, clip_length=3), spec)
    clip = train_set[0]
    assert clip["frames"].shape[-2:] == (64, 32)
    assert clip["heatmaps"].shape[-2:] == spec.heatmap_size((64, 32)) == (16, 8)
    with pytest.raises(ValueError, match="already registered"):
        add_model(MODELS["kimnet"])


def test_vremd_variants_are_tables_4_to_6():
    from posemods.models import VREMD_TABLE4, VREMD_TABLE5, VREMD_TABLE6

    variants = MODELS["vremd"].variants
    assert all(variants[row] == variants[f"table4:{row}"] == args for row, args in VREMD_TABLE4.items())
    # Tables 5 and 6 ablate inside the full model: "(d) ... 87.6" is VREMD's own score.
    assert all(
        variants[f"table5:{row}"] == {"hkm": True, "bmd": True, "hkm_kwargs": a} for row, a in VREMD_TABLE5.items()
    )
    assert all(
        variants[f"table6:{row}"] == {"hkm": True, "bmd": True, "bmd_kwargs": a} for row, a in VREMD_TABLE6.items()
    )


def test_fit_steps_one_by_one(tmp_path):
    """fit's pieces alone: resume resolution, build, a partial epoch, save, resume, evaluate."""
    from posemods.training.distributed import Context
    from posemods.training.fit import build_run, evaluate_epoch, resolve_resume, save_run, train_epoch

    config = TrainConfig(
        model="test-key", input_size=(32, 32), clip_length=3, train_clips=8, eval_clips=4, batch_size=4,
        out=str(tmp_path), progress=False, max_steps=1, warmup_steps=0,
    )  # fmt: skip
    context = Context()
    assert resolve_resume(dataclasses.replace(config, resume="auto")) == (None, None)  # nothing saved yet
    run = build_run(config, context)
    assert run.steps_per_epoch == 2 and (run.epoch, run.epoch_step, run.step) == (0, 0, 0)
    assert train_epoch(run) is False  # stopped by max_steps, mid-epoch
    assert (run.epoch_step, run.step, len(run.losses)) == (1, 1, 1) and run.reached_max_steps
    path = save_run(run)
    assert path == tmp_path / "last.pt" and path.is_file()

    resumed_config = dataclasses.replace(config, resume="auto", max_steps=None)
    resume, state = resolve_resume(resumed_config)
    assert resume == str(path) and state["step"] == 1
    resumed = build_run(resumed_config, context, state=state)
    assert (resumed.epoch, resumed.epoch_step, resumed.step) == (0, 1, 1)
    assert resumed.scheduler.last_epoch == 1 and resumed.losses == run.losses
    for key, value in run.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    assert train_epoch(resumed) is True and resumed.step == 2
    record = evaluate_epoch(resumed)
    assert set(record) >= {"visible/Mean", "occluded/Mean"}


@pytest.mark.parametrize("mode", [True, False])
def test_evaluating_restores_the_models_mode_also_when_the_block_raises(mode):
    from posemods.training.loop import evaluating

    model = nn.Sequential(nn.Dropout(0.5)).train(mode)
    with evaluating(model):
        assert not model.training and not model[0].training
    assert model.training is mode and model[0].training is mode
    with pytest.raises(RuntimeError, match="boom"), evaluating(model):
        raise RuntimeError("boom")
    assert model.training is mode and model[0].training is mode
