"""PoseTrack mAP of a top-down model: per-track predictions regrouped by frame, on a tiny fixture video."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from posemods.data import PoseTrack
from posemods.metrics import posetrack_map
from posemods.models import MODELS
from posemods.skeletons import POSETRACK_17
from posemods.training.posetrack_eval import posetrack_map_of, predict_key_frames

pytest.importorskip("PIL")
SIZE = (64, 64)  # crop (W, H); heatmaps 16 x 16


@pytest.fixture
def two_people(tmp_path):
    """One 4-frame, 96 x 96 video; frames 1 and 2 labelled, two people (tracks 1 and 2) in each."""
    from PIL import Image

    rng = np.random.default_rng(0)
    (tmp_path / "images").mkdir()
    images, annotations = [], []
    for i in range(4):
        Image.fromarray(rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)).save(tmp_path / "images" / f"{i}.jpg")
        images.append({"id": i, "file_name": f"images/{i}.jpg", "frame_id": i, "is_labeled": i in (1, 2)})
    for i in (1, 2):
        for track, x0 in ((1, 6), (2, 52)):
            kp = np.zeros((17, 3))
            kp[:, 0] = rng.uniform(x0 + 4, x0 + 34, 17)
            kp[:, 1] = rng.uniform(14, 82, 17)
            kp[:, 2] = 1
            kp[3:5] = 0  # no ears, as in PoseTrack
            annotations.append({"id": len(annotations), "image_id": i, "track_id": track,
                                "keypoints": kp.ravel().tolist(), "bbox": [x0, 10, 38, 76],
                                "bbox_head": [x0 + 9, 10, 20, 20]})  # fmt: skip
    (tmp_path / "val").mkdir()
    (tmp_path / "val" / "video.json").write_text(
        json.dumps(
            {"images": images, "annotations": annotations, "categories": [{"keypoints": POSETRACK_17.joint_names}]}
        )
    )
    return tmp_path


class Lookup(nn.Module):
    """Returns the dataset's own target heatmaps for each clip it is shown: a perfect top-down model."""

    def __init__(self, dataset):
        super().__init__()
        self.table = {}
        for i in range(len(dataset)):
            clip = dataset[i]
            self.table[clip["frames"].numpy().tobytes()] = clip["heatmaps"]

    def forward(self, video):
        return torch.stack([self.table[v.numpy().tobytes()] for v in video])


def test_a_perfect_model_scores_100_and_every_track_lands_on_its_frame(two_people):
    dataset = PoseTrack(
        two_people, two_people / "val", train=False, clip_length=3, input_size=SIZE, heatmap_size=(16, 16)
    )
    assert len(dataset) == 4  # 2 tracks x 2 labelled frames
    predictions = predict_key_frames(Lookup(dataset), MODELS["kimnet"], dataset, batch_size=3)
    assert sorted(predictions) == [str(two_people / "images" / f"{i}.jpg") for i in (1, 2)]
    assert all(len(people) == 2 for people in predictions.values())
    result = posetrack_map_of(predictions, two_people, two_people / "val")
    assert result["Mean"] == pytest.approx(100.0)

    # Swapping the two frames' predictions puts every person on the wrong frame: far from 100.
    images = sorted(predictions)
    swapped = {images[0]: predictions[images[1]], images[1]: predictions[images[0]]}
    assert posetrack_map_of(swapped, two_people, two_people / "val")["Mean"] < 50
    # No predictions at all: every AP is 0 (poseval's convention).
    assert posetrack_map_of({}, two_people, two_people / "val")["Mean"] == 0.0


def test_posetrack_map_of_matches_the_metric_on_hand_built_frames(two_people):
    from posemods.data import read_posetrack_frames

    gt = read_posetrack_frames(two_people / "val" / "video.json", two_people)
    # Predictions = ground truth shifted by 2 px, scores 1: every annotated joint is within PCKh 0.5.
    predictions = {f["image"]: [(p + 2.0, np.ones(17)) for p in f["keypoints"]] for f in gt}
    expected = posetrack_map(gt, [{"keypoints": f["keypoints"] + 2.0, "scores": np.ones((2, 17))} for f in gt])
    assert posetrack_map_of(predictions, two_people, two_people / "val") == expected
    assert expected["Mean"] == pytest.approx(100.0)


def test_a_bad_head_box_is_reported_with_its_image(two_people):
    path = two_people / "val" / "video.json"
    data = json.loads(path.read_text())
    # Frame 2, first person: no head box, in a frame with predictions (poseval: KeyError 'x1'). A
    # zero-size one is not refused: poseval divides by zero there and matches nothing.
    del data["annotations"][2]["bbox_head"]
    path.write_text(json.dumps(data))
    predictions = {str(two_people / "images" / "2.jpg"): [(np.zeros((17, 2)), np.ones(17))]}
    with pytest.raises(ValueError, match=r"images/2\.jpg: gt_frames\[1\]\['head_box'\]\[0\].*finite head box"):
        posetrack_map_of(predictions, two_people, two_people / "val")
