"""The model registry: every name builds, patterns list, overrides apply, a wrong name is answered."""

import ast
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

import posemods
from posemods.models import (
    DKD,
    LSTMPM,
    MODELS,
    RPSTN,
    VREMD,
    KIMNet,
    ModelSpec,
    add_model,
    create_model,
    get_model_spec,
    list_models,
)

ROOT = Path(__file__).resolve().parents[2]
#: The papers' models under their registered names (other tests may register more, e.g. "test-key").
PAPERS = {"kimnet": KIMNet, "rpstn": RPSTN, "dkd": DKD, "lstmpm": LSTMPM, "vremd": VREMD}
SIZE = (32, 32)  # a multiple of every model's size rule (32 for the ResNets, 16 for VREMD, 8 for LSTMPM)


@pytest.mark.parametrize("name", sorted(PAPERS))
def test_every_registered_name_builds_at_a_tiny_size_and_predicts_its_stated_shape(name):
    spec = get_model_spec(name)
    model = create_model(name, preset="tiny", input_size=SIZE, clip_length=3).eval()
    assert type(model) is PAPERS[name] and spec.build is PAPERS[name]
    with torch.no_grad():
        out = model(torch.rand(2, 3, 3, *SIZE))
    out = out[0] if isinstance(out, tuple) else out
    maps = spec.num_joints + spec.extra_maps
    grid = (SIZE[0] // spec.stride, SIZE[1] // spec.stride)
    expected = (2, maps, *grid) if spec.output == "key" else (2, 3, maps, *grid)
    assert tuple(out.shape) == expected


# The papers' own settings, from their text: KIMNet 4.1 and Table 1 (Penn Action's 13 joints, 5
# frames; 256 x 256 is the crop KIMNet's code uses), LSTM Pose Machines' 368 x 368 CPM crops, VREMD's
# "The input image size is fixed at 256x192" with 3 frames on PoseTrack's 17 joints.
PAPER_SETTINGS = {
    "kimnet": ((256, 256), 5, 13),
    "rpstn": ((256, 256), 5, 13),
    "dkd": ((256, 256), 5, 13),
    "lstmpm": ((368, 368), 5, 13),
    "vremd": ((256, 192), 3, 17),
}


@pytest.mark.parametrize("name", sorted(PAPERS))
def test_the_default_configuration_is_the_papers_and_describes_the_model(name):
    spec = get_model_spec(name)
    assert (spec.input_size, spec.clip_length, spec.num_joints) == PAPER_SETTINGS[name]
    assert spec.default_preset == "paper" and {"tiny", "small", "paper"} <= set(spec.presets)
    # The stated normalisation is what every normalising layer of the built model does.
    model = create_model(name, preset="tiny", input_size=SIZE, clip_length=3)
    layers = [m for m in model.modules() if type(m).__name__ == "ImageNormalize"]
    assert layers
    for layer in layers:
        assert torch.allclose(layer.mean.flatten(), torch.tensor(spec.mean))
        assert torch.allclose(layer.std.flatten(), torch.tensor(spec.std))
    # An image in [0, 1] of the model's default size runs (the size rule holds for the paper's size).
    assert spec.heatmap_size(spec.input_size) == (spec.input_size[0] // spec.stride, spec.input_size[1] // spec.stride)


def test_the_size_rule_is_the_backbones():
    # ResNets reduce by 32, VREMD's ViT patches are 16 pixels, LSTMPM's three pools make 8.
    assert {name: get_model_spec(name).size_multiple for name in PAPERS} == {
        "kimnet": 32, "rpstn": 32, "dkd": 32, "lstmpm": 8, "vremd": 16,
    }  # fmt: skip
    with pytest.raises(ValueError, match=r"input_size: expected multiples of 32 for kimnet, got \(48, 64\)"):
        create_model("kimnet", preset="tiny", input_size=(48, 64))
    with pytest.raises(ValueError, match=r"input_size: expected \(H, W\)"):
        create_model("kimnet", preset="tiny", input_size=(64,))


def test_list_models_takes_shell_patterns():
    assert set(PAPERS) <= set(list_models()) == set(MODELS)
    assert list_models() == sorted(list_models()) == posemods.list_models("*")
    assert list_models("*stn") == ["rpstn"]
    assert list_models("[kv]*") == ["kimnet", "vremd"]
    assert list_models("?kd") == ["dkd"]
    assert list_models("resnet*") == []
    with pytest.raises(TypeError, match="pattern: expected a shell-style pattern"):
        list_models(["kimnet"])


def test_overrides_win_over_the_variant_the_preset_and_the_defaults():
    model = create_model("kimnet", num_joints=7, variant="table4:baseline", preset="tiny", input_size=SIZE, channels=8)
    assert model.num_joints == 7 and model.mode == "none" and model.temporal is None
    assert model.channels == 8  # the preset's 16, overridden
    # A paper row's encoder is not undone by the size preset.
    row = create_model("kimnet", variant="table7:res18", preset="tiny", input_size=SIZE)
    assert row.encoder.backbone.name == "resnet18" and row.initializer.backbone.name == "resnet10t"
    # VREMD is built for one geometry: the input size and clip length size its ViT and its BMD.
    vremd = create_model("vremd", preset="tiny", input_size=(64, 48), clip_length=5)
    assert vremd.backbone.grid == (4, 3) and vremd.num_frames == 5
    with pytest.raises(ValueError, match=r"variant: expected one of"):
        create_model("kimnet", variant="lstm")
    with pytest.raises(ValueError, match=r"preset: expected one of"):
        create_model("kimnet", preset="huge")
    with pytest.raises(ValueError, match="num_joints: expected a positive integer"):
        create_model("kimnet", num_joints=0, preset="tiny")
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        create_model("lstmpm", preset="tiny", colour="red")


def test_model_config_rebuilds_the_same_model_without_its_weight_files(tmp_path):
    first = create_model("lstmpm", variant="kmm", preset="tiny", input_size=(64, 64), centre_sigma=10.0)
    assert first.model_config == {
        "name": "lstmpm", "num_joints": 13, "variant": "kmm", "preset": "tiny", "input_size": (64, 64),
        "clip_length": 5, "centre_sigma": 10.0,
    }  # fmt: skip
    path = tmp_path / "weights.pt"
    torch.save(first.state_dict(), path)
    loaded = create_model(**first.model_config, checkpoint=str(path))
    assert "checkpoint" not in loaded.model_config  # where the weights came from is not what the model is
    again = create_model(**loaded.model_config)
    assert {k: v.shape for k, v in again.state_dict().items()} == {k: v.shape for k, v in first.state_dict().items()}
    for key, value in first.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_an_unknown_name_is_a_value_error_naming_the_close_matches():
    with pytest.raises(ValueError, match=r"name: no model named 'kimnett'; did you mean 'kimnet'\?"):
        create_model("kimnett")
    with pytest.raises(ValueError, match=r"did you mean 'rpstn'\?"):
        posemods.create_model("rpsnt")
    with pytest.raises(ValueError, match=r"no model named 'resnet50' \(registered: .*kimnet.*vremd"):
        get_model_spec("resnet50")
    with pytest.raises(TypeError, match="name: expected a model name"):
        create_model(KIMNet)


def test_a_name_is_registered_once_and_only_specs_are_added():
    with pytest.raises(ValueError, match="'kimnet' is already registered"):
        add_model(MODELS["kimnet"])
    with pytest.raises(TypeError, match="spec: expected a ModelSpec"):
        add_model({"name": "x"})
    fields = dict(name="x", build=KIMNet, variants={"a": {}}, default_variant="a", presets={"paper": {}},
                  num_joints=1, input_size=(32, 32), clip_length=1, mean=(0, 0, 0), std=(1, 1, 1))  # fmt: skip
    with pytest.raises(ValueError, match="default_variant: expected one of"):
        ModelSpec(**{**fields, "default_variant": "b"})
    with pytest.raises(ValueError, match=r"input_size: expected multiples of 32 for x"):
        ModelSpec(**{**fields, "input_size": (30, 30), "input_multiple": 32})
    with pytest.raises(ValueError, match="mean, std: expected 3 values each"):
        ModelSpec(**{**fields, "mean": (0.5,)})


def test_the_package_face_gives_the_registry_on_first_use_only():
    assert posemods.create_model is create_model and posemods.list_models is list_models
    from posemods.training.checkpoint import load_model

    assert posemods.load_model is load_model
    assert {"create_model", "list_models", "load_model"} <= set(dir(posemods)) & set(posemods.__all__)
    with pytest.raises(AttributeError, match="has no attribute 'create_models'"):
        posemods.create_models
    # import posemods itself pulls in neither the models nor timm (tests/test_package.py checks more).
    code = "import sys, posemods\nassert 'posemods.models' not in sys.modules and 'timm' not in sys.modules\n"
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr


def test_the_old_names_in_training_still_resolve_with_a_deprecation_warning(tmp_path):
    import posemods.training
    import posemods.training.registry

    for module in (posemods.training, posemods.training.registry):
        with pytest.warns(DeprecationWarning, match=r"moved to posemods\.models\.MODELS"):
            assert module.MODELS is MODELS
        with pytest.warns(DeprecationWarning, match="get_model_spec moved"):
            assert module.get_model_spec("kimnet") is MODELS["kimnet"]
        with pytest.warns(DeprecationWarning, match="ModelSpec moved"):
            assert module.ModelSpec is ModelSpec
        with pytest.warns(DeprecationWarning, match="register_model moved"), pytest.raises(ValueError, match="already"):
            module.register_model(MODELS["kimnet"])
    from posemods.training.checkpoint import save_checkpoint

    save_checkpoint(tmp_path / "c.pt", step=3)
    with pytest.warns(DeprecationWarning, match="renamed read_checkpoint"):
        assert posemods.training.load_checkpoint(tmp_path / "c.pt")["step"] == 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from posemods.training import build_model, read_checkpoint  # noqa: F401  (new names: no warning)
    with pytest.raises(AttributeError, match="has no attribute 'MODEL'"):
        posemods.training.MODEL


def _imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_evaluate_and_the_models_do_not_import_the_training_loop():
    """evaluate.py scores checkpoints without fit.py; the models never import training at all."""
    assert "posemods.training.fit" not in _imported_modules(ROOT / "posemods" / "evaluate.py")
    for path in (ROOT / "posemods" / "models").glob("*.py"):
        assert not any(m.startswith("posemods.training") for m in _imported_modules(path)), path.name
