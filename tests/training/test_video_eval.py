"""--eval-mode video: whole test videos through stream(), the initializer on frame 1 only."""

import numpy as np
import pytest
import torch
from PIL import Image

from posemods.data import SyntheticPoseVideos, VideoPoseDataset, VideoRecord, check_clip
from posemods.evaluate import main, parse_counts, score_checkpoint, sweep_table
from posemods.models import MODELS
from posemods.training import TrainConfig, evaluate, fit
from posemods.training.video_eval import WholeVideos, default_eval_mode, evaluate_videos

SPEC = MODELS["kimnet"]


def _model():
    torch.manual_seed(0)
    return SPEC.create(13, "kmm", "tiny").eval()


def test_a_video_runs_the_initializer_once_and_scores_every_frame():
    model = _model()
    calls = []
    model.initializer.register_forward_hook(lambda m, args, out: calls.append(args[0].shape[0]))
    video = SyntheticPoseVideos(num_clips=2, clip_length=12, frame_size=(32, 32), heatmap_size=(8, 8), seed=1)
    loader = torch.utils.data.DataLoader(video, batch_size=2)
    layout = video.skeleton
    streamed = evaluate_videos(model, SPEC, loader, layout)
    assert calls == [2]  # one call, on frame 1 of the two videos
    # The stream scores what the clip forward of the whole video scores, frame for frame.
    whole = evaluate(model, SPEC, loader, layout)
    for name in ("visible", "occluded"):
        assert torch.equal(streamed[name].counted, whole[name].counted)
        assert torch.equal(streamed[name].correct, whole[name].correct)
    assert streamed["visible"].counted.sum() == video[0]["visibility"].sum() + video[1]["visibility"].sum()


def _records(tmp_path, lengths=(7, 4)):
    """Videos whose person box moves right by 10 px a frame; frame t's pixels are 10 * t."""
    records = []
    for v, n in enumerate(lengths):
        paths = []
        for t in range(n):
            path = tmp_path / f"v{v}_{t}.png"
            Image.fromarray(np.full((60, 120, 3), 10 * t, dtype=np.uint8)).save(path)
            paths.append(path)
        boxes = np.array([[5.0 + 10 * t, 10, 45 + 10 * t, 50] for t in range(n)])
        joints = np.stack([np.stack([np.linspace(b[0], b[2], 13), np.linspace(b[1], b[3], 13)], -1) for b in boxes])
        ones = np.ones((n, 13))
        records.append(VideoRecord(f"v{v}", paths, joints, ones, ones, boxes))
    return records


def test_whole_videos_crop_each_frame_around_its_own_box(tmp_path):
    clips = VideoPoseDataset(_records(tmp_path), "penn_action", clip_length=3, train=False, input_size=(32, 32),
                             heatmap_size=(8, 8))  # fmt: skip
    assert len(clips) == 3 + 2  # 7 frames in 3 clips, 4 in 2
    videos = WholeVideos(clips)
    assert len(videos) == 2
    first = videos[0]
    assert len(first) == 7 and len(videos[1]) == 4
    for t, clip in enumerate(first):
        check_clip(clip)
        assert clip["frames"].shape == (1, 3, 32, 32) and clip["frame_mask"].tolist() == [1.0]
        # Frame t is the file of frame t (grey level 10 t), cropped around box t: the box centre
        # (25 + 10 t, 30) lands on the crop centre (15.5, 15.5) (pixel centres at integers).
        assert round(float(clip["frames"][0, :, 16, 16].mean()) * 255 / 10) == t
        centre = clip["affine"].double() @ torch.tensor([25.0 + 10 * t, 30.0, 1.0], dtype=torch.float64)
        assert torch.allclose(centre, torch.tensor([15.5, 15.5], dtype=torch.float64), atol=1e-6)


def test_per_frame_crops_are_streamed_and_scored_once(tmp_path):
    clips = VideoPoseDataset(_records(tmp_path), "penn_action", clip_length=3, train=False, input_size=(32, 32),
                             heatmap_size=(8, 8))  # fmt: skip
    model = _model()
    calls = []
    model.initializer.register_forward_hook(lambda m, args, out: calls.append(1))
    loader = torch.utils.data.DataLoader(WholeVideos(clips), batch_size=1)
    metrics = evaluate_videos(model, SPEC, loader, clips.skeleton)
    assert len(calls) == 2  # frame 1 of each video
    assert metrics["visible"].counted.sum() == (7 + 4) * 13


def test_default_mode_and_counts():
    assert default_eval_mode(_model()) == "video"
    assert default_eval_mode(torch.nn.Linear(1, 1)) == "clips"
    assert parse_counts("1-9") == list(range(1, 10))
    assert parse_counts("1,3-4") == [1, 3, 4]
    with pytest.raises(Exception, match="expected"):
        parse_counts("0-2")


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    out = tmp_path_factory.mktemp("kimnet")
    config = TrainConfig(
        model="kimnet", preset="tiny", input_size=(32, 32), clip_length=3, train_clips=4, eval_clips=4,
        batch_size=2, epochs=1, out=str(out), progress=False, evaluate_every_epoch=False, occluders=0,
    )  # fmt: skip
    fit(config)
    return str(out / "last.pt")


def test_cli_scores_videos_and_sweeps_occlusion(checkpoint, tmp_path, capsys):
    video, _ = score_checkpoint(checkpoint, eval_mode="video", progress=False)
    clips, _ = score_checkpoint(checkpoint, eval_mode="clips", progress=False)
    # Synthetic clips are whole videos: the two modes score the same frames the same way.
    assert torch.equal(video["visible"].counted, clips["visible"].counted)
    plot = tmp_path / "sweep.png"
    table = main([checkpoint, checkpoint, "--occlusion-sweep", "1,3", "--plot", str(plot), "--no-progress"])
    out = capsys.readouterr().out
    assert set(table) == {checkpoint} and list(table[checkpoint]) == [1, 3]
    assert "ckpt 1 all" in out and "wrote" in out
    assert plot.exists() or plot.with_suffix(".csv").exists()
    # More masks, more occluded joints counted: 3 masked joints on each of frames 2..3 of 4 clips.
    assert "\n3 |" in sweep_table(table)


def test_lstmpm_videos_drop_the_background_map_as_clips_do():
    torch.manual_seed(0)
    spec = MODELS["lstmpm"]
    model = spec.create(13, "original", "tiny").eval()
    video = SyntheticPoseVideos(num_clips=2, clip_length=4, frame_size=(32, 32), heatmap_size=(4, 4), seed=2)
    loader = torch.utils.data.DataLoader(video, batch_size=2)
    streamed, whole = (
        evaluate_videos(model, spec, loader, video.skeleton),
        evaluate(model, spec, loader, video.skeleton),
    )
    assert torch.equal(streamed["visible"].counted, whole["visible"].counted)
    assert torch.equal(streamed["visible"].correct, whole["visible"].correct)
    with pytest.raises(ValueError, match="eval_mode: 'video' needs a recursive model"):
        evaluate_videos(torch.nn.Conv2d(3, 13, 1), spec, loader, video.skeleton)
