"""--recipe: the papers' optimisers and schedules, and explicit flags over a recipe."""

import dataclasses

import pytest
import torch
from torch import nn

from posemods.train import parse_config
from posemods.training import TrainConfig
from posemods.training.recipes import RECIPES, Constant, StepDecay, build_optimizer


def test_recipes_set_what_the_papers_state():
    penn = parse_config(["--recipe", "kimnet-penn", "--data-root", "/data/PennAction"])
    # KIMNet 4.1: Adam, lr 0.005, batch 16 on Penn Action, 100 epochs, 5 contiguous frames.
    assert (penn.model, penn.optimizer, penn.lr, penn.batch_size, penn.epochs) == ("kimnet", "adam", 5e-3, 16, 100)
    assert (penn.clip_length, penn.data, penn.lr_schedule, penn.recipe) == (5, "penn_action", "constant", "kimnet-penn")
    # "keeping consistency with works [11, 12]": the RPSTN authors' Penn Action pipeline.
    assert penn.pipeline == "rpstn"
    jhmdb = parse_config(["--recipe", "kimnet-jhmdb", "--data-root", "/data/JHMDB"])
    assert (jhmdb.optimizer, jhmdb.lr, jhmdb.batch_size, jhmdb.data) == ("adam", 1e-3, 8, "jhmdb")
    vremd = parse_config(["--recipe", "vremd-posetrack", "--data-root", "/d", "--annotations", "/a"])
    # VREMD: AdamW 2e-3, divided by ten at epoch 16, 20 epochs, 3 frames.
    assert (vremd.model, vremd.optimizer, vremd.lr, vremd.epochs, vremd.clip_length) == ("vremd", "adamw", 2e-3, 20, 3)
    assert (vremd.lr_schedule, vremd.lr_steps) == ("step", [16])


def test_explicit_flags_override_a_recipe():
    config = parse_config(["--recipe", "kimnet-penn", "--data", "synthetic", "--lr", "0.01", "--epochs", "2"])
    assert (config.data, config.lr, config.epochs, config.optimizer, config.batch_size) == (
        "synthetic", 0.01, 2, "adam", 16,
    )  # fmt: skip
    # A flag set to its default value still wins over the recipe.
    assert parse_config(["--recipe", "kimnet-penn", "--data", "synthetic", "--batch-size", "8"]).batch_size == 8
    assert parse_config(["--lr", "0.5"]).optimizer == "adamw"  # no recipe: the defaults


def test_help_lists_the_recipes(capsys):
    with pytest.raises(SystemExit):
        parse_config(["--help"])
    out = capsys.readouterr().out
    assert all(name in out for name in RECIPES)
    with pytest.raises(SystemExit) as exit_:  # argparse: exit 2 with the usage line
        parse_config(["--recipe", "kimnet-mpii"])
    assert exit_.value.code == 2 and "invalid choice: 'kimnet-mpii'" in capsys.readouterr().err


def _rates(config, steps_per_epoch, epochs):
    model = torch.nn.Linear(2, 2)
    optimizer, schedule = build_optimizer(model, config, epochs * steps_per_epoch, steps_per_epoch)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    rates = []
    for _ in range(epochs * steps_per_epoch):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return type(optimizer), rates


def test_vremd_step_schedule_divides_by_ten_after_epoch_16():
    config = parse_config(["--recipe", "vremd-posetrack", "--data-root", "/d", "--annotations", "/a"])
    cls, rates = _rates(config, steps_per_epoch=3, epochs=20)
    assert cls is torch.optim.AdamW
    assert rates[: 16 * 3] == pytest.approx([2e-3] * 48)
    assert rates[16 * 3 :] == pytest.approx([2e-4] * 12)


def test_kimnet_adam_at_a_constant_rate():
    config = parse_config(["--recipe", "kimnet-jhmdb", "--data-root", "/d"])
    cls, rates = _rates(config, steps_per_epoch=2, epochs=5)
    assert cls is torch.optim.Adam and rates == pytest.approx([1e-3] * 10)
    assert [Constant(4)(s) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert [StepDecay([2, 4])(s) for s in range(6)] == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01])


def test_bad_optimizer_or_schedule_is_refused(capsys):
    for flags in (["--optimizer", "sgd"], ["--lr-schedule", "poly"]):
        with pytest.raises(SystemExit) as exit_:
            parse_config(flags)
        assert exit_.value.code == 2 and "invalid choice" in capsys.readouterr().err
    with pytest.raises(ValueError, match="optimizer: expected one of"):
        TrainConfig(optimizer="sgd")


def test_a_recipes_model_is_the_one_its_variant_is_checked_against(capsys):
    # --variant hkm is VREMD's: valid with the VREMD recipe although --model defaults to kimnet.
    config = parse_config(
        ["--recipe", "vremd-posetrack", "--variant", "hkm", "--data-root", "/d", "--annotations", "/a"]
    )
    assert (config.model, config.variant) == ("vremd", "hkm")
    with pytest.raises(SystemExit):
        parse_config(["--recipe", "kimnet-penn", "--variant", "hkm", "--data-root", "/d"])
    assert "not a variant of kimnet" in capsys.readouterr().err


def _recorder(captured: dict):
    """A model class stand-in that records its constructor arguments in ``captured``."""

    def build(num_joints, **kwargs):
        captured.update(kwargs)
        return nn.Identity()

    return build


def test_kimnet_recipes_crop_no_half_bodies_and_vremds_do(monkeypatch):
    # KIMNet names "random scaling, rotation, and flipping"; VREMD adds "truncation (half body)".
    import posemods.data.penn_action
    import posemods.data.rpstn
    from posemods.models import get_model_spec
    from posemods.training import build_datasets

    seen = []

    class Recorder:
        def __init__(self, root, split, train, **kwargs):
            seen.append((train, kwargs["augmentation"]))
            readers.append(type(self).__name__)

    class RPSTNRecorder(Recorder):
        pass

    readers = []

    # The classes the registered builder calls: the reader modules' own names for them.
    monkeypatch.setattr(posemods.data.penn_action, "PennAction", Recorder)
    monkeypatch.setattr(posemods.data.rpstn, "RPSTNPennAction", RPSTNRecorder)
    config = parse_config(["--recipe", "kimnet-penn", "--data-root", "/data/PennAction"])
    build_datasets(config, get_model_spec("kimnet"))
    assert [train for train, _ in seen] == [True, False]
    assert seen[0][1].half_body_prob == 0.0 and seen[0][1].max_rotation > 0 and seen[0][1].flip_prob > 0
    # The recipe's pipeline is the RPSTN authors': rotation in [-40, 40] always, flip 0.5, no scaling.
    rpstn = seen[0][1]
    assert (rpstn.max_rotation, rpstn.rotation_prob, rpstn.flip_prob, rpstn.scale) == (40.0, 1.0, 0.5, (1.0, 1.0))
    assert readers == ["RPSTNRecorder", "RPSTNRecorder"]
    seen.clear()
    posemods_pipeline = parse_config(["--recipe", "kimnet-penn", "--data-root", "/d", "--pipeline", "posemods"])
    build_datasets(posemods_pipeline, get_model_spec("kimnet"))
    assert seen[0][1].scale == (0.65, 1.35) and seen[0][1].half_body_prob == 0.0
    assert readers[2:] == ["Recorder", "Recorder"]
    vremd = parse_config(["--recipe", "vremd-posetrack", "--data-root", "/d", "--annotations", "/a"])
    assert vremd.half_body_prob == 0.3 and vremd.recipe == "vremd-posetrack"
    with pytest.raises(ValueError, match="half_body_prob: expected a probability"):
        TrainConfig(half_body_prob=1.5)


def test_vremd_recipe_augments_and_freezes_as_the_paper_states(monkeypatch):
    # VREMD, implementation details: "random rotation [-45, 45], random scale [0.65, 1.35], truncation
    # (half body), and flipping", "trained ... for 20 epochs with the backbone frozen", "3" frames.
    import inspect

    import posemods.data.posetrack
    from posemods.models import VREMD, get_model_spec
    from posemods.training import build_datasets

    seen = []

    class Recorder:
        def __init__(self, root, annotations, train, **kwargs):
            seen.append((train, kwargs["augmentation"], kwargs["clip_length"]))

    monkeypatch.setattr(posemods.data.posetrack, "PoseTrack", Recorder)
    config = parse_config(["--recipe", "vremd-posetrack", "--data-root", "/d", "--annotations", "/a"])
    spec = get_model_spec(config.model)
    build_datasets(config, spec)
    train, augmentation, frames = seen[0]
    assert train and frames == 3
    assert (augmentation.max_rotation, tuple(augmentation.scale)) == (45.0, (0.65, 1.35))
    assert augmentation.flip_prob > 0 and augmentation.half_body_prob > 0
    # The recipe builds the paper's ViT-L with the backbone frozen (VREMD's default, not overridden).
    captured = {}
    recorder = dataclasses.replace(spec, build=_recorder(captured))
    recorder.create(17, config.variant, config.preset, config.input_size, config.clip_length, **config.model_kwargs)
    frozen = captured.get("freeze_backbone", inspect.signature(VREMD).parameters["freeze_backbone"].default)
    assert captured["backbone"] == "large" and frozen is True
    assert (captured["hkm"], captured["bmd"], captured["num_frames"]) == (True, True, 3)


def test_recipes_build_the_papers_networks_and_sizes():
    # VREMD: "The input image size is fixed at 256x192". KIMNet 4.1: "SimpleBaseline [15] takes ResNet-101 as
    # the backbone and is used as the pose initializer. SimpleBaseline [15] that takes ResNet-50 as the
    # backbone is chosen as the feature encoder" (the paper states no input size; 256 x 256 is ours).
    from posemods.models import get_model_spec

    vremd = parse_config(["--recipe", "vremd-posetrack", "--data-root", "/d", "--annotations", "/a"])
    assert tuple(vremd.input_size) == (256, 192)
    for recipe in ("kimnet-penn", "kimnet-jhmdb"):
        config = parse_config(["--recipe", recipe, "--data-root", "/d"])
        captured = {}
        spec = dataclasses.replace(get_model_spec(config.model), build=_recorder(captured))
        spec.create(13, config.variant, config.preset, config.input_size, config.clip_length)
        assert (captured["initializer_backbone"], captured["encoder_backbone"]) == ("resnet101", "resnet50")
        assert captured["temporal"] == "kmm" and config.clip_length == 5
