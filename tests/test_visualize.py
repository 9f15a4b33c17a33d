"""posemods-visualize draws what a trained model has (predictions; KMM's attention; HKM's masks) and nothing
it has not; the drawing functions take plain tensors."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from posemods import visualize
from tests.training.cli import untrained_checkpoint

pytest.importorskip("matplotlib")
ROOT = Path(__file__).resolve().parents[1]
TINY = dict(preset="tiny", input_size=(32, 32), clip_length=3, eval_clips=2, occluders=1, occluder_size=8)


def _pixels(path):
    import matplotlib.image

    return matplotlib.image.imread(path)


def _a_real_picture(path: Path) -> None:
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = _pixels(path)
    assert image.shape[0] > 200 and image.shape[1] > 200, path.name
    # Not blank: many distinct colours, and far from one flat value.
    colours = np.unique(image[..., :3].reshape(-1, 3), axis=0)
    assert len(colours) > 200, (path.name, len(colours))
    assert image[..., :3].std() > 0.05, path.name


@pytest.mark.parametrize(
    ("model", "variant", "pictures"),
    [
        ("kimnet", "kmm", ["predictions.png", "kmm_attention.png"]),
        ("kimnet", "none", ["predictions.png"]),  # no KMM: no attention, and never an HKM of its own
        ("vremd", "hkm+bmd", ["predictions.png", "hkm_masks.png"]),
        ("vremd", "baseline", ["predictions.png"]),
    ],
)
def test_the_command_draws_what_the_model_has_and_nothing_else(model, variant, pictures, tmp_path, capsys):
    checkpoint = untrained_checkpoint(tmp_path / "run" / "last.pt", model=model, variant=variant, **TINY)
    written = visualize.main([str(checkpoint), "--out", str(tmp_path / "pictures")])
    assert [p.name for p in written] == pictures
    assert sorted(p.name for p in (tmp_path / "pictures").iterdir()) == sorted(pictures)
    assert capsys.readouterr().out.split() == [str(p) for p in written]
    for path in written:
        _a_real_picture(path)


def test_frames_of_your_own_as_an_animation(tmp_path):
    from PIL import Image

    frames = tmp_path / "frames"
    frames.mkdir()
    rng = np.random.default_rng(0)
    for t in range(6):  # 40 x 80 (H x W) frames: the model's 32 x 32 is their centre square
        Image.fromarray(rng.integers(0, 255, (40, 80, 3), dtype=np.uint8)).save(frames / f"{t:04d}.png")
    untrained_checkpoint(tmp_path / "run" / "last.pt", model="vremd", variant="hkm+bmd", **TINY)
    weights = tmp_path / "run" / "last.safetensors"  # weights alone: no data to draw on but --video
    written = visualize.main([str(weights), "--video", str(frames), "--start", "1", "--frames", "4", "--format",
                              "gif", "--out", str(tmp_path / "pictures")])  # fmt: skip
    assert [p.name for p in written] == ["predictions.gif", "hkm_masks.png"]
    with Image.open(written[0]) as gif:
        assert gif.n_frames == 4


def test_a_weights_file_needs_frames_to_draw_on(tmp_path, capsys):
    untrained_checkpoint(tmp_path / "last.pt", model="kimnet", **TINY)
    with pytest.raises(SystemExit) as exited:
        visualize.main([str(tmp_path / "last.safetensors"), "--out", str(tmp_path / "pictures")])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and "argument --video: " in err and "holds weights only" in err


def test_predict_video_keys_a_window_on_every_frame_of_a_key_frame_model():
    from posemods import create_model
    from posemods.data.geometry import heatmap_to_crop
    from posemods.metrics import decode_heatmaps

    torch.manual_seed(0)
    model = create_model("vremd", variant="baseline", preset="tiny", input_size=(32, 48), clip_length=3).eval()
    frames = torch.rand(5, 3, 32, 48)
    joints = visualize.predict_video(model, frames)
    assert joints.shape == (5, 17, 2)

    def by_hand(window):  # the key (middle) frame's heatmaps of one clip, to pixels of the 32 x 48 frames
        with torch.no_grad():
            coords, _ = decode_heatmaps(model(frames[window][None])[0])
        return heatmap_to_crop(coords, (4.0, 4.0))

    torch.testing.assert_close(joints[2], by_hand([1, 2, 3]))
    torch.testing.assert_close(joints[0], by_hand([0, 0, 1]))  # the first frame repeated before it
    torch.testing.assert_close(joints[4], by_hand([3, 4, 4]))


def test_predict_video_streams_a_clip_model_through_the_whole_video():
    from posemods import create_model
    from posemods.metrics import decode_heatmaps

    torch.manual_seed(0)
    model = create_model("lstmpm", preset="tiny", input_size=(32, 32), clip_length=3).eval()
    frames = torch.rand(4, 3, 32, 32)
    joints = visualize.predict_video(model, frames)
    with torch.no_grad():
        heatmaps = model(frames[None])[0, :, :13]  # LSTMPM's 14th map is the background
    coords, _ = decode_heatmaps(heatmaps)
    torch.testing.assert_close(joints, (coords + 0.5) * 8 - 0.5, atol=1e-4, rtol=0)  # stride 8, pixel centres


def test_fit_frames_takes_the_centre_of_the_models_aspect_ratio():
    frames = torch.zeros(2, 3, 100, 50, dtype=torch.uint8)
    frames[:, :, :25] = 255  # the top quarter: outside the centre 50 x 50 square
    fitted = visualize.fit_frames(frames, (32, 32))
    assert fitted.shape == (2, 3, 32, 32) and fitted.dtype == torch.float32
    assert fitted.max() == 0
    assert visualize.fit_frames(frames.transpose(-1, -2), (64, 32)).shape == (2, 3, 64, 32)


def test_kmm_attention_is_what_kmm_returns():
    from posemods.models import KIMNet

    torch.manual_seed(0)
    model = KIMNet(4, "kmm", "resnet10t", "resnet10t", channels=8).eval()
    video = torch.rand(2, 3, 3, 32, 32)
    attention = visualize.kmm_attention(model, video)
    assert attention.shape == (2, 2, 4, 4)
    torch.testing.assert_close(attention.sum(-1), torch.ones(2, 2, 4))  # rows of a softmax
    # The same numbers by hand: the encoder's features and the model's heatmaps into KMM.
    with torch.no_grad():
        heatmaps = model(video)
        features = model.encoder(video.flatten(0, 1)).unflatten(0, (2, 3))
        _, expected = model.temporal(features[:, 1], features[:, 2], heatmaps[:, 1], return_attention=True)
    torch.testing.assert_close(attention[:, 1], expected)
    with pytest.raises(ValueError, match="KMM"):
        visualize.kmm_attention(KIMNet(4, "none", "resnet10t", "resnet10t", channels=8), video)


def test_drawing_functions_take_plain_tensors(tmp_path):
    frames = torch.rand(2, 3, 16, 16)
    masks = {"human": torch.rand(2, 4, 4), "keypoint": torch.ones(2, 4, 4)}  # a mask that is off: all ones
    fig = visualize.plot_token_masks(frames, masks, "masks")
    assert len(fig.axes) == 4 + 2  # a colour bar per mask
    visualize.save(fig, tmp_path / "m.png")
    joints = torch.rand(2, 13, 2) * 15
    fig = visualize.plot_skeletons(frames, joints, joints.flip(0), "penn_action", torch.ones(2, 13))
    visualize.save(fig, tmp_path / "s.png")
    fig = visualize.plot_skeletons(frames, None, joints, "penn_action")  # predictions alone
    visualize.save(fig, tmp_path / "p.png")
    for name in ("m.png", "s.png", "p.png"):
        assert (tmp_path / name).stat().st_size > 1000


def test_the_colour_bars_show_the_masks_own_values():
    frames = torch.rand(2, 3, 16, 16)
    fig = visualize.plot_token_masks(frames, {"human": torch.tensor([0.2, 0.6]).view(2, 1, 1).expand(2, 4, 4)})
    bar = fig.axes[-1]
    assert bar.get_ylim() == pytest.approx((0.2, 0.6))  # not each frame stretched to [0, 1]


def _run(code: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_drawing_leaves_the_matplotlib_backend_and_pyplot_alone(tmp_path):
    """It used to switch the whole process to Agg (in Jupyter: no more inline figures)."""
    proc = _run(
        "import matplotlib, torch\n"
        "matplotlib.use('module://matplotlib.backends.backend_template')\n"
        "import matplotlib.pyplot as plt\n"
        "from posemods import visualize\n"
        "fig = visualize.plot_joint_attention(torch.rand(13, 13), 'penn_action')\n"
        f"visualize.save(fig, {str(tmp_path / 'a.png')!r})\n"
        "print(matplotlib.get_backend(), plt.get_fignums())\n"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["module://matplotlib.backends.backend_template", "[]"]
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    ("blocked", "call", "extra"),
    [
        (
            "matplotlib",
            "from posemods import visualize; visualize.plot_joint_attention(torch.rand(2, 2), 'coco')",
            "viz",
        ),
        ("scipy", "from posemods.data import read_penn_action; read_penn_action('.')", "data"),
        ("PIL", "from posemods.data.video_dataset import load_frames; load_frames([])", "data"),
    ],
)
def test_a_missing_optional_dependency_names_the_extra(blocked, call, extra):
    proc = _run(f"import sys, torch\nsys.modules[{blocked!r}] = None\n{call}\n")
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("ModuleNotFoundError:") and f'pip install "posemods[{extra}]"' in last, last
    assert f"needs {blocked}" in last
