"""Adding a dataset is one reader plus one registration: a toy dataset registered here, from the test,
trains and evaluates through the train and evaluate CLIs with nothing else changed.

The toy is what CONTRIBUTING.md's "Adding a dataset" recipe describes: a reader that turns its files
into :class:`~posemods.data.VideoRecord` s, a builder, and one :func:`~posemods.data.register_dataset`.
It uses a layout no built-in dataset uses (COCO's 17 joints) and numbered splits of its own, so
neither can come from a built-in's code path.
"""

import json
import logging

import numpy as np
import pytest
import torch
from PIL import Image

import posemods.data.registry as registry
from posemods import evaluate as evaluate_cli
from posemods import train as train_cli
from posemods.data import DatasetOptions, DatasetSpec, VideoPoseDataset, VideoRecord, register_dataset
from posemods.models import get_model_spec
from posemods.skeletons import COCO_17
from posemods.training import TrainConfig, build_datasets

# Three videos; each is the test video of the split it names, a training video of the others.
VIDEOS = {"v0": ("a", 4), "v1": ("b", 5), "v2": ("-", 3)}  # name: (test split, frames)
H, W = 30, 26


# ---- what would be posemods/data/toy.py ----
def read_toy(root, split: str, subset: str) -> list[VideoRecord]:
    labels = json.loads((root / "labels.json").read_text())
    records = []
    for video in labels["videos"]:
        if (video["test_split"] == split) != (subset == "test"):
            continue
        joints = np.asarray(video["joints"], dtype=np.float64)  # (N, 17, 2)
        ones = np.ones(joints.shape[:2])
        bbox = np.concatenate((joints.min(1), joints.max(1)), axis=1)
        frames = sorted((root / video["name"]).glob("*.png"))
        records.append(VideoRecord(video["name"], frames, joints, ones, ones.copy(), bbox))
    return records


def build_toy(options: DatasetOptions, train: bool) -> VideoPoseDataset:
    records = read_toy(options.data_root, options.split, "train" if train else "test")
    return VideoPoseDataset(records, "coco", train=train, **options.video_kwargs())


TOY = DatasetSpec(
    "toy",
    build_toy,
    layout="coco",
    protocol="pck",
    description="a toy of three videos",
    split_rule="labels.json's test_split",
    splits=("a", "b"),
    requires={"data_root": "the toy folder with labels.json"},
)
# ---- end of the toy file ----


@pytest.fixture
def toy(tmp_path, monkeypatch):
    """Register the toy (gone after the test) and write its files."""
    monkeypatch.setattr(registry, "DATASETS", dict(registry.DATASETS))
    register_dataset(TOY)
    rng = np.random.default_rng(0)
    videos = []
    for name, (test_split, n) in VIDEOS.items():
        joints = np.stack((rng.uniform(4, W - 4, (n, 17)), rng.uniform(4, H - 4, (n, 17))), axis=-1)
        videos.append({"name": name, "test_split": test_split, "joints": joints.tolist()})
        (tmp_path / name).mkdir()
        for i in range(n):
            pixels = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / name / f"{i:03d}.png")
    (tmp_path / "labels.json").write_text(json.dumps({"videos": videos}))
    return tmp_path


def test_help_lists_the_registered_toy(toy):
    text = " ".join(train_cli.build_parser().format_help().split())  # argparse wraps lines
    assert "{jhmdb,penn_action,posetrack,synthetic,toy}" in text
    assert "toy: a toy of three videos" in text and "toy: a | b, default a" in text


def test_the_toy_builds_through_the_run_s_path(toy):
    config = TrainConfig(data="toy", data_root=str(toy), split="b", input_size=(32, 32), clip_length=3)
    train_set, eval_set, layout = build_datasets(config, get_model_spec("kimnet"))
    assert layout == COCO_17
    assert [r.name for r in train_set.records] == ["v0", "v2"] and [r.name for r in eval_set.records] == ["v1"]
    assert train_set[0]["heatmaps"].shape == (3, 17, 8, 8)
    with pytest.raises(ValueError, match=r"split: expected one of toy's splits \('a', 'b'\), got 'c'"):
        TrainConfig(data="toy", data_root=str(toy), split="c")
    with pytest.raises(ValueError, match=r"data_root: expected the toy folder with labels\.json for data 'toy'"):
        TrainConfig(data="toy")


def test_the_toy_trains_and_evaluates_through_the_clis(toy, tmp_path, capsys, caplog):
    out = tmp_path / "run"
    tiny = ["--model", "kimnet", "--variant", "kmm", "--preset", "tiny", "--input-size", "32", "32",
            "--clip-length", "3", "--batch-size", "2", "--epochs", "1", "--no-progress", "--threads", "1"]  # fmt: skip
    with caplog.at_level(logging.INFO, logger="posemods"):
        train_cli.main([*tiny, "--data", "toy", "--data-root", str(toy), "--split", "b", "--out", str(out)])
    banner = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("posemods.train:"))
    assert "data toy: 2 training / 2 evaluation clips" in banner  # v0 and v2; v1's 5 frames in clips of 3
    saved = torch.load(out / "last.pt", map_location="cpu", weights_only=True)["config"]
    assert (saved["data"], saved["split"]) == ("toy", "b")
    capsys.readouterr()
    metrics = evaluate_cli.main([str(out / "last.pt")])
    printed = capsys.readouterr().out
    assert "kimnet (kmm, tiny) on toy" in printed
    assert "protocol: toy, PCK@0.2 as the LSTMPM PCK rule" in printed
    assert "17 joints (coco)" in printed and "left_ear" in printed
    # Every frame of split b's one test video (v1, 5 frames) scored once, each of its 17 joints.
    assert metrics["visible"].counted.sum() == 5 * 17
