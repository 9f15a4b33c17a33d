"""KIMNet, RPSTN and DKD in tiny configurations: shapes, gradients, routing, causality, checkpoints."""

import pytest
import torch

from posemods import KMM
from posemods.models import (
    DKD,
    JRPSP,
    KIMNET_TEMPORAL,
    RPSTN,
    ConvLSTMCell,
    JointRelationExtractor,
    KIMNet,
    PoseKernelDistillator,
    RelationDecoder,
    count_parameters,
)
from posemods.testing import parity_errors

J, C = 4, 16


CASES = [(KIMNet, mode) for mode in KIMNET_TEMPORAL] + [
    (cls, mode) for cls in (RPSTN, DKD) for mode in ("original", "kmm")
]
# What each (model, temporal) must contain: its temporal module's class, or None.
EXPECTED_TEMPORAL = {
    (KIMNet, "kmm"): KMM,
    (KIMNet, "predicted"): KMM,
    (KIMNet, "jrpsp"): JRPSP,
    (KIMNet, "dkd"): PoseKernelDistillator,
    (KIMNet, "none"): None,
    (KIMNet, "heatmap"): KMM,
    (RPSTN, "original"): PoseKernelDistillator,  # the authors' RPSTN: kernel distillation, then the decoder
    (RPSTN, "kmm"): KMM,
    (DKD, "original"): PoseKernelDistillator,
    (DKD, "kmm"): KMM,
}


def tiny(cls, temporal, **kwargs):
    """resnet18 backbones, C = 16, J = 4: 32 x 32 frames give 8 x 8 heatmaps."""
    return cls(J, temporal, initializer_backbone="resnet18", encoder_backbone="resnet18", channels=C, **kwargs)


@pytest.mark.parametrize("cls, temporal", CASES, ids=[f"{c.__name__}-{m}" for c, m in CASES])
def test_tiny_model_trains_routes_and_is_causal(cls, temporal):
    torch.manual_seed(0)
    model = tiny(cls, temporal)
    frames = 3
    video = torch.randn(2, frames, 3, 32, 32)

    expected = EXPECTED_TEMPORAL[(cls, temporal)]
    calls = []
    if expected is not None:
        model.temporal.register_forward_hook(lambda *_: calls.append(1))

    # Shapes and gradients, in training mode.
    heatmaps = model(video)
    assert heatmaps.shape == (2, frames, J, 8, 8)
    heatmaps.square().mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name

    # Routing: the temporal block is the one asked for, the others are absent, and it runs once per
    # later frame with parameters that learn.
    kinds = {type(m) for m in model.modules()}
    for block in (KMM, JRPSP, PoseKernelDistillator, ConvLSTMCell):
        inside_jrpsp = block is PoseKernelDistillator and expected is JRPSP
        assert (block in kinds) == (block is expected or inside_jrpsp), block
    if expected is None:
        assert model.temporal is None
    else:
        assert type(model.temporal) is expected
        assert len(calls) == frames - 1
        assert any(p.grad.abs().sum() > 0 for p in model.temporal.parameters())

    # Causality, in eval mode (BatchNorm in training mode couples the frames of a batch).
    model.eval()
    video = video[:1].clone().requires_grad_(True)
    heatmaps = model(video)
    (first,) = torch.autograd.grad(heatmaps[:, 0].sum(), video, retain_graph=True)
    assert first[:, 1:].abs().sum() == 0, "frame 1 must not see later frames"
    (last,) = torch.autograd.grad(heatmaps[:, -1].sum(), video)
    assert last[:, -1].abs().sum() > 0
    sees_the_past = last[:, 0].abs().sum() > 0
    assert sees_the_past == (temporal != "none")


def test_kimnet_table4_rows_differ_in_what_conv_g_sees():
    with torch.device("meta"):  # structure only: no weights to initialise
        widths = {mode: tiny(KIMNet, mode).correction.conv_g.in_channels for mode in KIMNET_TEMPORAL}
    assert widths == {"kmm": J + C, "predicted": J, "jrpsp": J + C, "dkd": J + C, "none": C, "heatmap": J + C}
    assert isinstance(tiny(KIMNet, "kmm").decoder, RelationDecoder)
    assert isinstance(tiny(KIMNet, "kmm").decoder.relation, JointRelationExtractor)


def test_retrofits_replace_only_the_temporal_block():
    with torch.device("meta"):
        check_retrofits_replace_only_the_temporal_block()


def check_retrofits_replace_only_the_temporal_block():
    def shapes(model):
        return {k: v.shape for k, v in model.state_dict().items()}

    def without_swapped_block(model):
        return {k: s for k, s in shapes(model).items() if not k.startswith(("temporal.", "correction."))}

    for cls in (RPSTN, DKD):
        assert without_swapped_block(tiny(cls, "original")) == without_swapped_block(tiny(cls, "kmm"))
    # RPSTN with KMM and its correction is, block for block, KIMNet.
    assert shapes(tiny(RPSTN, "kmm")) == shapes(tiny(KIMNet, "kmm"))
    assert count_parameters(tiny(DKD, "kmm"))["correction"] > 0
    assert tiny(DKD, "original").correction is None and tiny(DKD, "original").decoder is None


def test_state_dict_is_the_same_whatever_the_kmm_backend():
    torch.manual_seed(1)
    a = tiny(KIMNet, "kmm", backend="reference")
    torch.manual_seed(1)
    b = tiny(KIMNet, "kmm", backend="triton")
    assert a.temporal.backend == "reference" and b.temporal.backend == "triton"
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_fused_kmm_inside_kimnet_matches_the_reference():
    # The model passes backend= through to KMM; under TRITON_INTERPRET=1 the fused kernels run on CPU.
    # Compared one recursion step at a time, on inputs of a trained model's magnitude (a random
    # SimpleBaseline's heatmaps are ~1e-5, which would hide any difference in KMM).
    pytest.importorskip("triton")
    torch.manual_seed(2)
    reference = tiny(KIMNet, "kmm", backend="reference").eval()
    with torch.no_grad():
        for conv in (reference.temporal.proj_cur, reference.temporal.proj_prev):
            conv.weight.normal_(std=1.0)  # sharp, joint-specific attention
    fused = tiny(KIMNet, "kmm", backend="triton").eval()
    fused.load_state_dict(reference.state_dict())
    calls = []
    fused.temporal.register_forward_hook(lambda *_: calls.append(1))
    inputs = {
        "feat_prev": torch.randn(2, C, 8, 8),
        "feat_cur": torch.randn(2, C, 8, 8),
        "heatmap_prev": torch.rand(2, J, 8, 8),
    }
    # Checks the heatmaps and the gradient of every input against the tolerance table (float32).
    parity_errors(reference.step, fused.step, inputs)
    assert len(calls) == 1  # an explicit backend="triton" raises rather than falls back


def test_local_checkpoints_load(tmp_path):
    model = tiny(KIMNet, "kmm").eval()
    torch.save(model.state_dict(), tmp_path / "kimnet.pth")
    torch.save(model.initializer.state_dict(), tmp_path / "initializer.pth")
    torch.save(model.encoder.state_dict(), tmp_path / "encoder.pth")
    video = torch.randn(1, 2, 3, 32, 32)
    again = tiny(KIMNet, "kmm", checkpoint=tmp_path / "kimnet.pth").eval()
    assert torch.equal(again(video), model(video))
    parts = tiny(
        KIMNet, "kmm", initializer_checkpoint=tmp_path / "initializer.pth", encoder_checkpoint=tmp_path / "encoder.pth"
    )
    assert torch.equal(parts.initializer.head.final.weight, model.initializer.head.final.weight)
    assert torch.equal(parts.encoder.backbone.body.conv1.weight, model.encoder.backbone.body.conv1.weight)
    with pytest.raises(ValueError, match="does not fit KIMNet"):
        tiny(KIMNet, "dkd", checkpoint=tmp_path / "kimnet.pth")


def test_single_frame_and_bad_input():
    model = tiny(DKD, "kmm").eval()
    assert model(torch.randn(1, 1, 3, 32, 32)).shape == (1, 1, J, 8, 8)
    video = torch.randn(1, 2, 3, 32, 32)
    video[0, 0, 0, 5, 5] = float("nan")
    assert model(video).isnan().any()  # NaN in, NaN out
    with pytest.raises(ValueError, match=r"video: expected a 5-D tensor \(B, T, 3, H, W\)"):
        model(torch.randn(1, 3, 64, 64))
    with pytest.raises(ValueError, match=r"video: expected shape \(B, T, 3, H, W\) with 3=3"):
        model(torch.randn(1, 2, 1, 64, 64))
    with pytest.raises(TypeError, match="video: expected a floating-point"):
        model(torch.zeros(1, 2, 3, 64, 64, dtype=torch.uint8))
    with pytest.raises(ValueError, match="image: expected H and W to be multiples of the backbone's stride 32"):
        model(torch.randn(1, 2, 3, 48, 64))
    with pytest.raises(ValueError, match="temporal: expected one of"):
        tiny(RPSTN, "lstm")


def test_paper_sizes_on_the_meta_device():
    # 256 x 256, T = 5 -> 64 x 64 heatmaps, with the paper's backbones, without computing anything.
    with torch.device("meta"):
        model = KIMNet(13)
        assert model(torch.empty(1, 5, 3, 256, 256)).shape == (1, 5, 13, 64, 64)


@pytest.mark.slow
@pytest.mark.parametrize("cls, temporal", CASES, ids=[f"{c.__name__}-{m}" for c, m in CASES])
def test_paper_size_builds_and_counts(cls, temporal):
    model = cls(13, temporal)
    counts = count_parameters(model)
    # The two SimpleBaselines dominate: ResNet-101 + 3 deconvs + 1x1 (~53M), ResNet-50 + 3 deconvs (~34M).
    assert 85e6 < counts["total"] < 91e6, counts  # KIMNet with JRPSP: 90.11 M
    with torch.no_grad():
        assert model.eval()(torch.randn(1, 2, 3, 256, 256)).shape == (1, 2, 13, 64, 64)


@pytest.mark.slow
@pytest.mark.parametrize("cls, temporal", CASES, ids=[f"{c.__name__}-{m}" for c, m in CASES])
def test_whole_model_compiles_without_graph_breaks(cls, temporal):
    torch._dynamo.reset()
    model = tiny(cls, temporal).eval()
    video = torch.randn(1, 3, 3, 32, 32)
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
    assert torch.allclose(compiled(video), model(video), atol=1e-6)


@pytest.mark.parametrize("cls, temporal", CASES, ids=[f"{c.__name__}-{m}" for c, m in CASES])
def test_stream_equals_the_clip_forward(cls, temporal):
    torch.manual_seed(1)
    model = tiny(cls, temporal).eval()
    video = torch.randn(2, 4, 3, 32, 32)
    with torch.no_grad():
        clip = model(video)
        streamed = torch.stack(list(model.stream(video.unbind(1))), dim=1)
    # The clip forward batches the encoder over frames; the stream runs it per frame: rounding only.
    torch.testing.assert_close(streamed, clip, rtol=1e-5, atol=1e-5)


def test_stream_is_lazy_and_keeps_only_the_last_state():
    # Constant memory: the stream reads one frame ahead of nothing, so a video never has to be in memory.
    model = tiny(KIMNet, "kmm").eval()
    read = []

    def frames():
        for t in range(6):
            read.append(t)
            yield torch.randn(1, 3, 32, 32)

    with torch.no_grad():
        for t, heatmap in enumerate(model.stream(frames())):
            assert read == list(range(t + 1))
            assert heatmap.shape == (1, J, 8, 8)
    assert t == 5


def test_stream_checks_each_frame():
    model = tiny(KIMNet, "kmm").eval()
    with pytest.raises(ValueError, match=r"frames\[1\]: expected the shape of frames\[0\] \(1, 3, 32, 32\)"):
        list(model.stream([torch.randn(1, 3, 32, 32), torch.randn(2, 3, 32, 32)]))
    with pytest.raises(ValueError, match=r"frames\[0\]: expected a 4-D tensor"):
        list(model.stream([torch.randn(1, 1, 3, 32, 32)]))
    assert list(model.stream([])) == []


def test_kimnet_heatmap_correlates_the_two_frames_heatmaps():
    # Table 5 KIMNet-Heatmap: KMM's key from m_{t-1}, its query from the initializer's heatmaps of frame t.
    torch.manual_seed(2)
    model = tiny(KIMNet, "heatmap").eval()
    assert (model.temporal.in_channels, model.temporal.num_joints) == (J, J)
    seen = []
    model.temporal.register_forward_hook(lambda _m, args, _out: seen.append(args))
    video = torch.randn(1, 3, 3, 32, 32)
    with torch.no_grad():
        heatmaps = model(video)
        for t in (1, 2):
            key, query, value = seen[t - 1]
            torch.testing.assert_close(key, heatmaps[:, t - 1])
            torch.testing.assert_close(value, heatmaps[:, t - 1])
            torch.testing.assert_close(query, model.initializer(video[:, t]), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("cls, temporal", CASES, ids=[f"{c.__name__}-{m}" for c, m in CASES])
def test_empty_batch_gives_an_empty_result(cls, temporal):
    # Before: "non-positive groups" (RPSTN, DKD) or "cannot reshape tensor of 0 elements" (KMM).
    model = tiny(cls, temporal)
    assert model(torch.randn(0, 3, 3, 32, 32)).shape == (0, 3, J, 8, 8)
    assert [h.shape for h in model.stream(torch.randn(2, 0, 3, 32, 32))] == [(0, J, 8, 8)] * 2
    with pytest.raises(ValueError, match="multiples of the backbone's stride 32"):
        model(torch.randn(0, 3, 3, 48, 32))


def test_no_frames_float64_video_and_unknown_backbone_are_clear_errors():
    model = tiny(KIMNet, "kmm").eval()
    with pytest.raises(ValueError, match=r"video: expected at least one frame \(T >= 1\)"):
        model(torch.randn(1, 0, 3, 32, 32))
    with pytest.raises(TypeError, match=r"video: dtype torch.float64 but KIMNet's parameters are torch.float32"):
        model(torch.randn(1, 2, 3, 32, 32, dtype=torch.float64))
    with pytest.raises(TypeError, match=r"frames\[0\]: dtype torch.float64"):
        next(model.stream([torch.randn(1, 3, 32, 32, dtype=torch.float64)]))
    assert model.double()(torch.randn(1, 2, 3, 32, 32, dtype=torch.float64)).dtype == torch.float64
    with pytest.raises(ValueError, match=r"backbone: expected the name of a timm model, got 'resnet_51'"):
        KIMNet(J, "kmm", initializer_backbone="resnet18", encoder_backbone="resnet_51", channels=C)


def test_variants_are_one_table_read_by_the_models_and_the_cli():
    from posemods.models import MODELS, RECURSIVE_VARIANTS, RecursivePoseModel

    for family, rows in RECURSIVE_VARIANTS.items():
        spec = MODELS[family]
        assert {mode: spec.variants[mode] for mode in rows} == {mode: {"temporal": mode} for mode in rows}
        assert spec.default_variant == next(iter(rows))
        for mode, row in rows.items():
            with torch.device("meta"):
                model = spec.create(J, mode, "tiny")
            assert type(model) is RecursivePoseModel.presets[family]
            assert (model.family, model.mode) == (family, mode)
            assert (model.decoder is not None) == row["decoder"]
            assert (model.correction is not None) == bool(row["correction"])
    assert {KIMNet, RPSTN, DKD} == set(RecursivePoseModel.presets.values())


@pytest.mark.parametrize("temporal", ["kmm", "heatmap", "dkd"])
def test_runs_under_autocast_as_training_on_a_gpu_does(temporal):
    # The module dtype checks must let autocast's per-op mix through (bf16 on CPU stands in for CUDA).
    model = tiny(KIMNet, temporal).eval()
    video = torch.rand(1, 3, 3, 32, 32)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        clip = model(video)
        streamed = torch.stack(list(model.stream(video.unbind(1))), dim=1)
    assert clip.shape == streamed.shape == (1, 3, J, 8, 8)


@pytest.mark.parametrize("cls, temporal", [(KIMNet, "kmm"), (KIMNet, "heatmap"), (DKD, "original")])
def test_stream_keeps_no_earlier_frame_alive(cls, temporal):
    # Constant memory: once frame t is out, nothing of frames < t - 1 may stay referenced.
    import gc
    import weakref

    model = tiny(cls, temporal).eval()
    refs = []

    def frames():
        for _ in range(5):
            frame = torch.randn(1, 3, 32, 32)
            refs.append(weakref.ref(frame))
            yield frame
            del frame

    seen = 0
    with torch.no_grad():
        for t, _ in enumerate(model.stream(frames())):
            gc.collect()
            alive = [r() is not None for r in refs]
            assert alive == [False] * t + [True], alive  # only the frame being processed
            seen += 1
    assert seen == 5
