"""examples/visualize.py runs headless on a tiny model and writes real pictures; the drawing functions take tensors."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from posemods import visualize

pytest.importorskip("matplotlib")
ROOT = Path(__file__).resolve().parents[1]


def _load_example():
    spec = importlib.util.spec_from_file_location("visualize_example", ROOT / "examples" / "visualize.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _pixels(path):
    import matplotlib.image

    return matplotlib.image.imread(path)


def test_visualize_example_writes_three_non_trivial_pngs(tmp_path):
    written = _load_example().main(["--out", str(tmp_path), "--input-size", "32", "32"])
    assert sorted(p.name for p in written) == ["hkm_masks.png", "kmm_attention.png", "skeletons.png"]
    for path in written:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        image = _pixels(path)
        assert image.shape[0] > 200 and image.shape[1] > 200, path.name
        # Not blank: many distinct colours, and far from one flat value.
        colours = np.unique(image[..., :3].reshape(-1, 3), axis=0)
        assert len(colours) > 200, (path.name, len(colours))
        assert image[..., :3].std() > 0.05, path.name


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
    masks = {"human": torch.rand(2, 4, 4), "keypoint": torch.rand(2, 4, 4)}
    fig = visualize.plot_token_masks(frames, masks, "masks")
    assert len(fig.axes) == 4
    visualize.save(fig, tmp_path / "m.png")
    joints = torch.rand(2, 13, 2) * 15
    fig = visualize.plot_skeletons(frames, joints, joints.flip(0), "penn_action", torch.ones(2, 13))
    visualize.save(fig, tmp_path / "s.png")
    assert (tmp_path / "m.png").stat().st_size > 1000 and (tmp_path / "s.png").stat().st_size > 1000


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
