"""The dataset registry: the four built-in datasets, its errors, and the one-way imports around it."""

import ast
import dataclasses
from pathlib import Path

import pytest
import torch

import posemods.data.registry as registry
from posemods.data import (
    DatasetSpec,
    SyntheticPoseVideos,
    create_dataset,
    get_dataset_spec,
    list_datasets,
    register_dataset,
)
from posemods.metrics import PROTOCOLS, get_protocol
from posemods.skeletons import JHMDB_15, PENN_ACTION_13, POSETRACK_17
from posemods.training import TrainConfig

PACKAGE = Path(__file__).resolve().parents[2] / "posemods"


@pytest.fixture
def scratch_registry(monkeypatch):
    """Registrations made by a test vanish after it."""
    monkeypatch.setattr(registry, "DATASETS", dict(registry.DATASETS))


def _never_built(options, train):
    raise AssertionError("not built")


def test_the_built_in_datasets_and_what_they_register():
    assert list_datasets() == ("jhmdb", "penn_action", "posetrack", "synthetic")
    assert list_datasets("p*") == ("penn_action", "posetrack")
    assert list_datasets("coco*") == ()
    # (layout, protocol, numbered splits): the readers' docstrings and metrics/protocol.py state each.
    expected = {
        "penn_action": (PENN_ACTION_13, "lstmpm_penn", ()),
        "jhmdb": (JHMDB_15, "lstmpm_jhmdb", ("1", "2", "3")),
        "posetrack": (POSETRACK_17, "poseval", ()),
        "synthetic": (PENN_ACTION_13, "pck", ()),
    }
    for name, (skeleton, protocol, splits) in expected.items():
        spec = get_dataset_spec(name)
        assert (spec.skeleton, spec.protocol, spec.splits) == (skeleton, protocol, splits), name
    assert get_dataset_spec("posetrack").requires.keys() == {"data_root", "annotations"}
    assert get_dataset_spec("synthetic").requires == {}


def test_every_registered_protocol_is_one_metrics_knows():
    # data names its protocol by a string (it cannot import metrics); metrics must resolve each one.
    for name in list_datasets():
        assert get_protocol(get_dataset_spec(name).protocol).name in PROTOCOLS
    assert get_protocol("poseval").posetrack_map and not get_protocol("lstmpm_penn").posetrack_map


def test_an_unknown_dataset_name_is_a_value_error_naming_the_choices(capsys):
    choices = r"\('jhmdb', 'penn_action', 'posetrack', 'synthetic'\)"
    with pytest.raises(ValueError, match=rf"name: expected one of {choices}, got 'penn'"):
        get_dataset_spec("penn")
    with pytest.raises(ValueError, match=rf"name: expected one of {choices}, got 'penn'"):
        create_dataset("penn")
    with pytest.raises(ValueError, match=rf"data: expected one of {choices}, got 'penn'"):
        TrainConfig(data="penn")
    from posemods.train import main as train_main

    with pytest.raises(SystemExit) as exited:
        train_main(["--data", "penn"])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "argument --data: invalid choice: 'penn' (choose from" in err
    assert all(name in err for name in list_datasets())


def test_the_split_rule_is_the_registrations():
    jhmdb, penn = get_dataset_spec("jhmdb"), get_dataset_spec("penn_action")
    assert jhmdb.check_split(None) == "1" and jhmdb.check_split(2) == "2"
    with pytest.raises(ValueError, match=r"split: expected one of jhmdb's splits \('1', '2', '3'\), got '4'"):
        jhmdb.check_split("4")
    assert penn.check_split(None) is None
    with pytest.raises(ValueError, match=r"split: penn_action has no numbered splits .* only jhmdb has them"):
        penn.check_split("1")
    # create_dataset applies the rule before reading a file.
    with pytest.raises(ValueError, match="split: expected one of jhmdb's splits"):
        create_dataset("jhmdb", data_root="/nowhere", split="0")


def test_create_dataset_refuses_what_the_dataset_does_not_take_or_lacks():
    with pytest.raises(TypeError, match=r"options: penn_action takes no \['occluders'\]; it takes \('data_root'"):
        create_dataset("penn_action", data_root="/nowhere", occluders=2)
    with pytest.raises(ValueError, match=r"data_root: expected the Penn Action folder .* for data 'penn_action'"):
        create_dataset("penn_action")
    with pytest.raises(ValueError, match="annotations: expected the folder of per-video JSON files"):
        create_dataset("posetrack", data_root="/nowhere")
    with pytest.raises(ValueError, match=r"input_size: expected \(H, W\)"):
        create_dataset("synthetic", input_size=(0, 32))


def test_synthetic_sets_are_the_class_with_a_run_s_seeds():
    """Training clips use the seed, evaluation clips the seed + 1000 (never a training clip)."""
    sizes = {"clip_length": 2, "input_size": (32, 24), "heatmap_size": (8, 6), "sigma": 1.5}
    train = create_dataset("synthetic", train=True, seed=7, train_clips=3, occluders=1, **sizes)
    held_out = create_dataset("synthetic", seed=7, eval_clips=2, occluders=1, **sizes)
    same = dict(clip_length=2, frame_size=(32, 24), heatmap_size=(8, 6), sigma=1.5, occluders=1)
    for built, direct in ((train, SyntheticPoseVideos(3, seed=7, **same)),
                          (held_out, SyntheticPoseVideos(2, seed=1007, **same))):  # fmt: skip
        assert len(built) == len(direct)
        for a, b in zip(built[len(built) - 1].values(), direct[len(direct) - 1].values(), strict=True):
            assert torch.equal(a, b)
    # Without a heatmap size the targets are a quarter of the input, the stride of most heads.
    assert create_dataset("synthetic", eval_clips=1, input_size=(32, 24)).heatmap_size == (8, 6)


def test_registering_checks_the_spec(scratch_registry):
    spec = DatasetSpec("toy", _never_built, "coco", "pck", "a toy", "none")
    assert register_dataset(spec) is spec and "toy" in list_datasets()
    with pytest.raises(ValueError, match="name: a dataset named 'toy' is already registered"):
        register_dataset(spec)
    with pytest.raises(TypeError, match="spec: expected a DatasetSpec, got dict"):
        register_dataset({"name": "other"})
    with pytest.raises(ValueError, match="layout: expected one of"):
        DatasetSpec("other", _never_built, "coco18", "pck", "", "")
    with pytest.raises(TypeError, match="build: expected a callable"):
        DatasetSpec("other", None, "coco", "pck", "", "")
    with pytest.raises(ValueError, match=r"requires: \['root'\] are not options of every dataset"):
        DatasetSpec("other", _never_built, "coco", "pck", "", "", requires={"root": "a folder"})
    with pytest.raises(ValueError, match=r"options: \['sigma'\] are options of every dataset already"):
        DatasetSpec("other", _never_built, "coco", "pck", "", "", options={"sigma": 3.0})
    with pytest.raises(TypeError, match="splits: expected strings"):
        DatasetSpec("other", _never_built, "coco", "pck", "", "", splits=(1, 2))


def test_a_builder_that_gives_another_layout_is_refused(scratch_registry):
    def penn_clips(options, train):
        return SyntheticPoseVideos(1, layout="penn_action")

    register_dataset(DatasetSpec("toy", penn_clips, "coco", "pck", "a toy", "none"))
    with pytest.raises(ValueError, match="toy: the registered layout is coco, but build gave penn_action"):
        create_dataset("toy")
    # The same clips registered with their own layout build.
    register_dataset(dataclasses.replace(get_dataset_spec("toy"), name="toy2", layout="penn_action"))
    assert len(create_dataset("toy2")) == 1


def _imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_data_imports_none_of_the_layers_that_import_it():
    # metrics imports data (decode uses data.geometry); data naming metrics, models or training
    # would close a loop: the registry names protocols by string for this reason.
    above = ("posemods.metrics", "posemods.models", "posemods.training", "posemods.evaluate", "posemods.train")
    for path in sorted((PACKAGE / "data").glob("*.py")):
        upward = {m for m in _imported_modules(path) if m.startswith(above)}
        assert not upward, (path.name, upward)
