"""LSTMPM in a tiny configuration: shapes, gradients, routing, causality, centre map, checkpoints."""

import pytest
import torch
from conftest import assert_stream_keeps_no_earlier_frame

from posemods import KMM
from posemods.models import LSTMPM, ConvLSTMCell, count_parameters
from posemods.models.lstmpm import centre_gaussian

J = 4


@pytest.mark.parametrize("temporal", ["original", "kmm"])
def test_tiny_lstmpm_trains_routes_and_is_causal(temporal):
    torch.manual_seed(0)
    model = LSTMPM(J, temporal)
    frames = 3
    video = torch.randn(2, frames, 3, 32, 32)
    steps = []
    block = model.temporal if temporal == "kmm" else model.cell
    block.register_forward_hook(lambda *_: steps.append(1))

    heatmaps, initial = model(video, return_initial=True)
    assert heatmaps.shape == (2, frames, J + 1, 4, 4) and initial.shape == (2, J + 1, 4, 4)
    (heatmaps.square().mean() + initial.square().mean()).backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name

    kinds = {type(m) for m in model.modules()}
    if temporal == "kmm":
        assert KMM in kinds and ConvLSTMCell not in kinds
        assert not hasattr(model, "cell") and not hasattr(model, "first_cell")
        assert len(steps) == frames  # frame 1 too: KMM(f_1, f_1, m_0)
        assert all(p.grad.abs().sum() > 0 for p in model.temporal.parameters())
    else:
        assert KMM not in kinds and ConvLSTMCell in kinds and not hasattr(model, "temporal")
        assert len(steps) == frames - 1  # the first frame uses first_cell

    model.eval()
    video = video[:1].clone().requires_grad_(True)
    heatmaps = model(video)
    (first,) = torch.autograd.grad(heatmaps[:, 0].sum(), video, retain_graph=True)
    assert first[:, 1:].abs().sum() == 0
    (last,) = torch.autograd.grad(heatmaps[:, -1].sum(), video)
    assert last[:, 0].abs().sum() > 0 and last[:, -1].abs().sum() > 0


def test_kmm_replaces_only_the_convlstm():
    with torch.device("meta"):
        original, kmm = count_parameters(LSTMPM(13)), count_parameters(LSTMPM(13, "kmm"))
    for part in ("initializer", "encoder", "decoder"):
        assert original[part] == kmm[part]
    assert set(original) - set(kmm) == {"first_cell", "cell"}
    assert set(kmm) - set(original) == {"temporal", "correction"}


def test_centre_map():
    centre = centre_gaussian(2, (9, 7), 1.5, torch.empty(0))
    assert centre.shape == (2, 1, 9, 7) and centre[0, 0].argmax() == 4 * 7 + 3
    model = LSTMPM(J).eval()
    video = torch.randn(1, 2, 3, 32, 32)
    with torch.no_grad():
        default = model(video)
        assert torch.equal(model(video, centre_gaussian(1, (32, 32), 21 * 32 / 368, video)), default)
        assert not torch.equal(model(video, torch.zeros(1, 1, 32, 32)), default)
    with pytest.raises(ValueError, match=r"centre_map: expected shape \(B, 1, H, W\) with H=32"):
        model(video, torch.zeros(1, 1, 16, 16))


def test_checkpoint_and_errors(tmp_path):
    model = LSTMPM(J, "kmm").eval()
    torch.save({"model": model.state_dict()}, tmp_path / "lstmpm.pth")
    again = LSTMPM(J, "kmm", checkpoint=tmp_path / "lstmpm.pth").eval()
    video = torch.randn(1, 2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(again(video), model(video))
    with pytest.raises(ValueError, match="does not fit LSTMPM"):
        LSTMPM(J, "original", checkpoint=tmp_path / "lstmpm.pth")
    with pytest.raises(ValueError, match="temporal: expected one of"):
        LSTMPM(J, "jrpsp")
    with pytest.raises(ValueError, match=r"video: expected a 5-D tensor"):
        model(torch.randn(2, 3, 32, 32))


def test_paper_size_on_the_meta_device():
    # 368 x 368 -> 46 x 46, with the background map, without computing anything.
    with torch.device("meta"):
        for temporal in ("original", "kmm"):
            assert LSTMPM(13, temporal)(torch.empty(1, 2, 3, 368, 368)).shape == (1, 2, 14, 46, 46)


@pytest.mark.slow
@pytest.mark.parametrize("temporal", ["original", "kmm"])
def test_paper_size_builds_counts_and_runs(temporal):
    model = LSTMPM(13, temporal).eval()
    # The CPM stage-1 (~4.4M), the shared trunk (~2.8M) and the 11x11 decoder (~4.7M) dominate.
    assert 11.5e6 < count_parameters(model)["total"] < 12.5e6
    with torch.no_grad():
        assert model(torch.randn(1, 2, 3, 368, 368)).shape == (1, 2, 14, 46, 46)


@pytest.mark.slow
@pytest.mark.parametrize("temporal", ["original", "kmm"])
def test_compiles_without_graph_breaks(temporal):
    torch._dynamo.reset()
    model = LSTMPM(J, temporal).eval()
    video = torch.randn(1, 3, 3, 32, 32)
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
    assert torch.allclose(compiled(video), model(video), atol=1e-6)


@pytest.mark.parametrize("temporal", ["original", "kmm"])
def test_stream_equals_the_clip_forward(temporal):
    torch.manual_seed(3)
    model = LSTMPM(J, temporal, hidden_channels=8).eval()
    video = torch.rand(2, 4, 3, 32, 32)
    centre = torch.rand(2, 1, 32, 32)
    with torch.no_grad():
        for centre_map in (None, centre):
            clip = model(video, centre_map)
            streamed = torch.stack(list(model.stream(iter(video.unbind(1)), centre_map)), dim=1)
            torch.testing.assert_close(streamed, clip, rtol=1e-5, atol=1e-5)


def test_sizes_that_are_not_multiples_of_the_stride_are_refused():
    # Before: 33 x 33 silently gave 5 x 5 maps (ceil-mode pools), no longer 1/8 of the input.
    model = LSTMPM(J, hidden_channels=8).eval()
    with pytest.raises(ValueError, match=r"video: expected H and W to be multiples of LSTMPM's stride 8, got 33 x 33"):
        model(torch.rand(1, 2, 3, 33, 33))
    with pytest.raises(ValueError, match=r"frames\[0\]: expected H and W to be multiples"):
        next(model.stream([torch.rand(1, 3, 40, 36)]))


def test_no_frames_and_float64_video_are_clear_errors():
    model = LSTMPM(J, hidden_channels=8).eval()
    with pytest.raises(ValueError, match=r"video: expected at least one frame \(T >= 1\)"):
        model(torch.rand(1, 0, 3, 32, 32))
    with pytest.raises(TypeError, match=r"video: dtype torch.float64 but LSTMPM's parameters are torch.float32"):
        model(torch.rand(1, 2, 3, 32, 32, dtype=torch.float64))


def test_stream_keeps_no_earlier_frame_alive():
    assert_stream_keeps_no_earlier_frame(LSTMPM(J, "original", hidden_channels=8).eval(), frames=4)
