"""posemods.load_model: a ready model back from what fit and the CLI write (last.pt, last.safetensors)."""

import json

import pytest
import torch
from torch import nn

import posemods
from posemods._serialization import encode_safetensors, read_safetensors
from posemods.models import VREMD, create_model
from posemods.training import TrainConfig, fit
from posemods.training.checkpoint import read_checkpoint, save_checkpoint, save_weights, weights_path
from tests.readme import run_readme_example
from tests.training.cli import TINY, run

# VREMD at its tiny preset: a checkpoint of 3 MB (the tiny ResNet models write 170 MB with AdamW's state).
TINY_VREMD = dict(model="vremd", variant="table6:da", preset="tiny", input_size=(32, 32), clip_length=3,
                  train_clips=4, eval_clips=1, batch_size=4, max_steps=1, evaluate_every_epoch=False,
                  progress=False, threads=1)  # fmt: skip


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """A one-step run of fit: its model (the same weights as its checkpoint) and its output folder."""
    out = tmp_path_factory.mktemp("fit")
    result = fit(TrainConfig(**TINY_VREMD, out=str(out)))
    return result["model"].eval(), out


def _same_model(loaded: nn.Module, trained: nn.Module) -> None:
    assert type(loaded) is type(trained) and not loaded.training
    assert loaded.state_dict().keys() == trained.state_dict().keys()
    for key, value in trained.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    video = torch.rand(2, 3, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded(video), trained(video), rtol=0, atol=0)


def test_fit_writes_both_files_and_each_loads_the_trained_model(fitted):
    trained, out = fitted
    assert (out / "last.pt").is_file() and weights_path(out / "last.pt") == out / "last.safetensors"
    for path in (out / "last.pt", out / "last.safetensors"):
        loaded = posemods.load_model(path, map_location="cpu")
        _same_model(loaded, trained)
        assert loaded.bmd.operator == "da"  # the variant came back, not the default one
        assert loaded.model_config == trained.model_config
    # The checkpoint stores the create_model arguments, and the weights file their JSON.
    assert read_checkpoint(out / "last.pt")["model_config"] == trained.model_config
    _, metadata = read_safetensors(out / "last.safetensors")
    assert json.loads(metadata["model_config"])["variant"] == "table6:da"


def test_a_checkpoint_written_before_model_config_existed_still_loads(fitted, tmp_path):
    """Today's files without the new field, as the code before it wrote them: the run's config says the model."""
    trained, out = fitted
    state = read_checkpoint(out / "last.pt")
    del state["model_config"]
    old = {key: value for key, value in state.items() if key != "format"}
    save_checkpoint(tmp_path / "old.pt", **old)
    _same_model(posemods.load_model(tmp_path / "old.pt"), trained)
    # A weights-only checkpoint (no optimizer state) of the same age loads too.
    save_checkpoint(tmp_path / "weights.pt", config=state["config"], model=state["model"])
    _same_model(posemods.load_model(tmp_path / "weights.pt"), trained)


def test_the_weights_file_is_what_the_ecosystem_loads(fitted):
    """timm's own loader and any posemods model's checkpoint= read it as a plain state_dict."""
    from timm.models import load_checkpoint

    trained, out = fitted
    model = create_model(**trained.model_config)
    load_checkpoint(model, str(out / "last.safetensors"))  # strict: every key and shape must fit
    _same_model(model.eval(), trained)
    _same_model(create_model(**trained.model_config, checkpoint=out / "last.safetensors").eval(), trained)


def test_the_cli_writes_what_load_model_reads(tmp_path):
    out = tmp_path / "run"
    run("posemods.train", *TINY, "--model", "vremd", "--variant", "hkm", "--max-steps", "1",
        "--no-evaluate-every-epoch", "--out", str(out))  # fmt: skip
    for path in (out / "last.pt", out / "last.safetensors"):
        model = posemods.load_model(str(path))
        assert isinstance(model, VREMD) and not model.training
        assert model.bmd is None and model.hkm is not None  # Table 4 (a)
        assert model.model_config["input_size"] in ((32, 32), [32, 32])
        with torch.no_grad():
            assert model(torch.rand(1, 3, 3, 32, 32)).shape == (1, 13, 8, 8)


def test_what_cannot_be_loaded_is_refused_naming_the_file(fitted, tmp_path):
    trained, out = fitted
    data = (out / "last.safetensors").read_bytes()
    flipped = bytearray(data)
    flipped[-3] ^= 0x01  # a bit of the last tensor: the header still parses
    (tmp_path / "flipped.safetensors").write_bytes(bytes(flipped))
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 2])
    (tmp_path / "empty.safetensors").write_bytes(b"")
    from safetensors.torch import save_file

    save_file(trained.state_dict(), str(tmp_path / "plain.safetensors"))  # written elsewhere: no model_config
    state = read_checkpoint(out / "last.pt")
    save_checkpoint(tmp_path / "nameless.pt", model=state["model"])
    other = {**state["model_config"], "num_joints": 5}
    save_checkpoint(tmp_path / "other.pt", model_config=other, model=state["model"])
    save_checkpoint(tmp_path / "unknown.pt", model_config={**other, "name": "vremdd"}, model=state["model"])
    for name, message in [
        ("flipped.safetensors", "is corrupt: the digest of its weights"),
        ("cut.safetensors", "not a readable safetensors file"),
        ("empty.safetensors", "the file is empty"),
        ("plain.safetensors", r"expected posemods weights .* posemods.create_model\(name, checkpoint=path\)"),
        ("nameless.pt", "missing 'model_config' and 'config'"),
        ("other.pt", "its weights do not fit the vremd its configuration builds"),
        ("unknown.pt", r"its model cannot be built here \(name: no model named 'vremdd'; did you mean 'vremd'"),
    ]:
        with pytest.raises(ValueError, match=message) as info:
            posemods.load_model(tmp_path / name)
        assert name in str(info.value) and "\n" not in str(info.value)
    # Plain weights go where the message says.
    _same_model(create_model(**trained.model_config, checkpoint=tmp_path / "plain.safetensors").eval(), trained)
    with pytest.raises(FileNotFoundError, match=r"missing\.pt"):
        posemods.load_model(tmp_path / "missing.pt")
    with pytest.raises(ValueError, match="map_location: expected a device such as 'cpu'"):
        posemods.load_model(out / "last.pt", map_location="gpu0")


def test_save_weights_needs_a_registered_models_configuration(tmp_path):
    with pytest.raises(TypeError, match=r"model: expected a model built by posemods\.create_model"):
        save_weights(tmp_path / "w.safetensors", nn.Linear(2, 2))


def test_tied_and_viewed_weights_round_trip_through_safetensors(tmp_path):
    # safetensors refuses tensors that share memory; KIMNet's table5:share-hc ties two 1x1 convs.
    linear = nn.Linear(3, 4)
    tensors = {"a.weight": linear.weight, "b.weight": linear.weight, "row": linear.weight[1], "bias": linear.bias}
    path = tmp_path / "tied.safetensors"
    path.write_bytes(encode_safetensors(tensors, {"note": "x"}))
    loaded, metadata = read_safetensors(path)
    assert metadata["note"] == "x"
    for name, tensor in tensors.items():
        assert torch.equal(loaded[name], tensor.detach()), name
    model = create_model("kimnet", variant="table5:share-hc", preset="tiny", input_size=(32, 32))
    assert model.temporal.proj_cur.weight is model.temporal.proj_prev.weight
    save_weights(tmp_path / "share.safetensors", model)
    loaded = posemods.load_model(tmp_path / "share.safetensors")
    assert loaded.temporal.proj_cur.weight is loaded.temporal.proj_prev.weight
    assert torch.equal(loaded.temporal.proj_cur.weight, model.temporal.proj_cur.weight)


def test_the_readme_python_api_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # its run writes runs/readme/ here
    namespace = run_readme_example("python-api-example")
    assert (tmp_path / "runs" / "readme" / "last.safetensors").is_file()
    assert namespace["model"].model_config["name"] == "vremd" and not namespace["model"].training
