"""The temporal-module contract and the blocks that implement it (or, for the ConvLSTM, do not)."""

import pytest
import torch
import torch.nn.functional as F
from oracles.joint_relation import depthwise_correlation_loop

from posemods import KMM
from posemods.models import (
    JRPSP,
    ConvLSTMCell,
    PoseKernelDistillator,
    PriorCorrection,
    TemporalModule,
    build_temporal,
)
from posemods.models.kernel_distillation import depthwise_correlate
from posemods.testing import assert_close

KINDS = ["kmm", "dkd", "jrpsp"]


def randomise_bn(module, seed=0):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen))
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen))
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)
    return module


def test_every_temporal_module_honours_the_contract():
    for kind, cls in zip(KINDS, (KMM, PoseKernelDistillator, JRPSP)):
        module = build_temporal(kind, 8, 5)
        assert type(module) is cls
        assert isinstance(module, TemporalModule)
        assert (module.in_channels, module.num_joints) == (8, 5)
    assert not isinstance(ConvLSTMCell(8), TemporalModule)  # it carries state instead


@pytest.mark.parametrize("kind", KINDS)
def test_same_call_same_shapes(kind):
    module = build_temporal(kind, 8, 5)
    feat_prev, feat_cur = torch.rand(2, 8, 12, 10), torch.rand(2, 8, 12, 10)
    for heat_size in ((12, 10), (24, 20)):  # heatmaps at the feature size or finer
        prior = module(feat_prev, feat_cur, torch.rand(2, 5, *heat_size))
        assert prior.shape == (2, 5, *heat_size)
        prior.sum().backward()
    assert all(p.grad is not None for p in module.parameters())


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "shapes, error, match",
    [
        (((1, 7, 4, 4), (1, 8, 4, 4), (1, 5, 4, 4)), ValueError, r"feat_prev: .*C=8.*C=7"),
        (((1, 8, 4, 4), (1, 8, 4, 3), (1, 5, 4, 4)), ValueError, r"feat_cur: .*W=4.*W=3"),
        (((1, 8, 4, 4), (1, 8, 4, 4), (1, 6, 4, 4)), ValueError, r"heatmap_prev: .*J=5.*J=6"),
        (((1, 8, 4, 4), (1, 8, 4, 4), (2, 5, 4, 4)), ValueError, r"heatmap_prev: .*B=1.*B=2"),
    ],
)
def test_same_errors_as_kmm(kind, shapes, error, match):
    with pytest.raises(error, match=match):
        build_temporal(kind, 8, 5)(*(torch.rand(s) for s in shapes))


@pytest.mark.parametrize("kind", ["dkd", "jrpsp"])
def test_integer_heatmaps_are_rejected(kind):
    with pytest.raises(TypeError, match="heatmap_prev: expected a floating-point"):
        build_temporal(kind, 2, 2)(torch.rand(1, 2, 4, 4), torch.rand(1, 2, 4, 4), torch.ones(1, 2, 4, 4).long())


def test_unknown_kind_and_bad_config():
    with pytest.raises(ValueError, match="temporal: expected one of"):
        build_temporal("lstm", 8, 5)
    with pytest.raises(ValueError, match="kernel_size: expected an odd size"):
        PoseKernelDistillator(8, 5, kernel_size=6)
    with pytest.raises(ValueError, match="num_joints: expected a positive integer"):
        JRPSP(8, 0)


def test_depthwise_correlation_matches_the_loop_oracle():
    features = torch.rand(2, 3, 5, 6, dtype=torch.float64)
    kernels = torch.randn(2, 3, 3, 3, dtype=torch.float64)
    assert_close(depthwise_correlate(features, kernels), depthwise_correlation_loop(features, kernels))


def test_distillator_matches_its_kernels_against_the_current_frame():
    # The kernels come from the previous frame alone; matching them is a per-sample correlation,
    # so shifting the current frame's content shifts the response, and samples do not mix.
    pkd = randomise_bn(PoseKernelDistillator(6, 4, kernel_size=3, num_blocks=2)).double().eval()
    feat_prev, heat = torch.rand(2, 6, 12, 12, dtype=torch.float64), torch.rand(2, 4, 12, 12, dtype=torch.float64)
    kernels = pkd.kernels(feat_prev, heat)
    assert kernels.shape == (2, 6, 3, 3)
    feat_cur = torch.zeros(2, 6, 12, 12, dtype=torch.float64)
    feat_cur[:, :, 3:7, 3:7] = torch.rand(2, 6, 4, 4, dtype=torch.float64)
    shifted = torch.roll(feat_cur, shifts=(2, 3), dims=(2, 3))
    # Step 1 (1x1 conv and BN) is pointwise, so a shift of the features shifts its output; the zero
    # padding of the correlation only differs within the kernel's radius (1) of the border.
    project = lambda f: pkd.norm(pkd.project(f))
    response = depthwise_correlate(project(feat_cur), kernels)
    moved = torch.roll(response, shifts=(2, 3), dims=(2, 3))
    assert_close(depthwise_correlate(project(shifted), kernels)[..., 3:11, 4:11], moved[..., 3:11, 4:11])
    assert_close(pkd(feat_prev, feat_cur, heat), pkd.joint_norm(pkd.to_joints(response)))
    swapped = pkd(feat_prev, feat_cur.flip(0), heat)
    assert_close(swapped[0], pkd(feat_prev[:1], feat_cur[1:], heat[:1])[0])


def test_kernel_network_shrinks_64_to_7_as_the_authors():
    # dkd_param_adapter: 64 -> 62 (3x3, no padding) -> 31 -> 15 -> 7 (pools) -> 7 (last 3x3, padding 1),
    # so the adaptive pool is the identity at the paper's size.
    pkd = PoseKernelDistillator(4, 3).eval()
    pose = torch.rand(1, 4, 64, 64)
    assert pkd.kernel_net(pose).shape == (1, 4, 7, 7)
    small = pkd.kernel_net(torch.rand(1, 4, 8, 8))  # 8 -> 6 -> 3 -> 3 -> 3: sides under 4 are not pooled
    assert small.shape == (1, 4, 3, 3)
    with pytest.raises(ValueError, match=r"feat_prev: .*at least 3 x 3, got \(2, 2\)"):
        pkd(torch.rand(1, 4, 2, 2), torch.rand(1, 4, 2, 2), torch.rand(1, 3, 2, 2))


def test_jrpsp_guides_the_distillator_with_joint_relations():
    fresh = JRPSP(6, 4, kernel_size=3, num_blocks=1)
    heat = torch.rand(2, 4, 8, 8)
    assert torch.equal(fresh.relation.relation(heat), heat)  # the relation extractor starts as the identity
    jrpsp = randomise_bn(JRPSP(6, 4, kernel_size=3, num_blocks=1)).double().eval()  # its residual branch live
    args = tuple(torch.rand(s, dtype=torch.float64) for s in ((2, 6, 8, 8), (2, 6, 8, 8), (2, 4, 8, 8)))
    refined = jrpsp.relation(args[2])
    assert not torch.allclose(refined, jrpsp.relation.norm(args[2]))
    assert_close(jrpsp(*args), jrpsp.distillator(args[0], args[1], refined))


def test_conv_lstm_follows_the_lstm_equations():
    cell = ConvLSTMCell(3, 4).double()
    x = torch.rand(2, 3, 5, 5, dtype=torch.float64)
    h0, c0 = torch.rand(2, 4, 5, 5, dtype=torch.float64), torch.rand(2, 4, 5, 5, dtype=torch.float64)
    wx, bx, wh = cell.input_gates.weight, cell.input_gates.bias, cell.hidden_gates.weight
    gate = lambda k: (
        F.conv2d(x, wx[4 * k : 4 * k + 4], bx[4 * k : 4 * k + 4], padding=1)
        + F.conv2d(h0, wh[4 * k : 4 * k + 4], padding=1)
    )
    i, f, o, g = (gate(k) for k in range(4))
    c = torch.sigmoid(f) * c0 + torch.sigmoid(i) * torch.tanh(g)
    hidden, cell_state = cell(x, (h0, c0))
    assert_close(cell_state, c)
    assert_close(hidden, torch.sigmoid(o) * torch.tanh(c))


def test_first_stage_cell_has_no_state_and_no_forget_gate():
    first = ConvLSTMCell(3, 4, recurrent=False).double()
    assert first.hidden_gates is None and first.input_gates.out_channels == 12
    x = torch.rand(1, 3, 4, 4, dtype=torch.float64)
    i, o, g = F.conv2d(x, first.input_gates.weight, first.input_gates.bias, padding=1).chunk(3, dim=1)
    c = torch.sigmoid(i) * torch.tanh(g)
    hidden, cell_state = first(x)
    assert_close(cell_state, c)
    assert_close(hidden, torch.sigmoid(o) * torch.tanh(c))
    with pytest.raises(ValueError, match="state: a recurrent=False cell needs no state"):
        first(x, (hidden, cell_state))
    with pytest.raises(ValueError, match="state: a recurrent=True cell needs a state"):
        ConvLSTMCell(3, 4)(x)


def test_correction_is_conv_g_on_each_input_summed_then_conv_d():
    # KIMNet eq. 5: Conv_g on the concatenation equals Conv_g's prior filters on the prior plus its
    # feature filters on the features.
    corr = PriorCorrection(3, 5, 7, 3).double()
    prior, feat = torch.rand(2, 3, 6, 6, dtype=torch.float64), torch.rand(2, 5, 6, 6, dtype=torch.float64)
    w, b = corr.conv_g.weight, corr.conv_g.bias
    coarse = F.conv2d(prior, w[:, :3], b, padding=1) + F.conv2d(feat, w[:, 3:], padding=1)
    assert_close(corr(prior, feat), F.conv2d(coarse, corr.conv_d.weight, corr.conv_d.bias))


def test_correction_with_one_input():
    predicted, baseline = PriorCorrection(3, 0, 7, 3), PriorCorrection(0, 5, 7, 3)
    assert predicted(torch.rand(1, 3, 4, 4)).shape == baseline(features=torch.rand(1, 5, 4, 4)).shape == (1, 3, 4, 4)
    with pytest.raises(ValueError, match="features: this correction was built with features_channels=0"):
        predicted(torch.rand(1, 3, 4, 4), torch.rand(1, 5, 4, 4))
    with pytest.raises(ValueError, match=r"features: expected shape \(B, 5, H, W\)"):
        baseline(features=torch.rand(1, 4, 4, 4))


@pytest.mark.parametrize(
    "module, args",
    [
        (PoseKernelDistillator(3, 2, kernel_size=3, num_blocks=1), ((1, 3, 4, 4), (1, 3, 4, 4), (1, 2, 4, 4))),
        (JRPSP(3, 2, kernel_size=3, num_blocks=1), ((1, 3, 4, 4), (1, 3, 4, 4), (1, 2, 4, 4))),
        (PriorCorrection(2, 3, 4, 2), ((1, 2, 3, 3), (1, 3, 3, 3))),
    ],
    ids=["dkd", "jrpsp", "correction"],
)
def test_gradcheck_float64(module, args):
    module = randomise_bn(module).double().eval()
    inputs = tuple(torch.rand(s, dtype=torch.float64, requires_grad=True) for s in args)
    assert torch.autograd.gradcheck(module, inputs)


def test_conv_lstm_gradcheck_float64():
    cell = ConvLSTMCell(2, 3).double()
    x, h, c = (torch.rand(1, n, 3, 3, dtype=torch.float64, requires_grad=True) for n in (2, 3, 3))
    assert torch.autograd.gradcheck(lambda x, h, c: cell(x, (h, c)), (x, h, c))


@pytest.mark.parametrize("kind", ["dkd", "jrpsp"])
def test_compiles_without_graph_breaks(kind):
    torch._dynamo.reset()
    module = build_temporal(kind, 4, 3, num_blocks=2).eval()
    args = (torch.rand(2, 4, 8, 8), torch.rand(2, 4, 8, 8), torch.rand(2, 3, 16, 16))
    assert_close(torch.compile(module, backend="aot_eager", fullgraph=True)(*args), module(*args))


@pytest.mark.parametrize("kind", ["dkd", "jrpsp"])
def test_nan_in_nan_out(kind):
    module = build_temporal(kind, 4, 3).eval()
    heat = torch.rand(1, 3, 8, 8)
    heat[0, 0, 3, 3] = float("nan")
    assert module(torch.rand(1, 4, 8, 8), torch.rand(1, 4, 8, 8), heat).isnan().any()


def test_the_contract_lives_in_modules_and_models_reexport_it():
    import posemods.modules.temporal as contract
    from posemods.models import temporal

    assert temporal.TemporalModule is contract.TemporalModule
    assert temporal.check_temporal_inputs is contract.check_temporal_inputs


@pytest.mark.parametrize("kind", KINDS)
def test_features_of_another_dtype_than_the_module_name_the_argument(kind):
    module = build_temporal(kind, 4, 3)
    feats = [torch.rand(1, 4, 6, 6, dtype=torch.float64) for _ in range(2)]
    # Before the check: torch's "Input type (double) and bias type (float) should be the same".
    with pytest.raises(TypeError, match=r"feat_prev: dtype torch.float64 .*parameters are torch.float32"):
        module(*feats, torch.rand(1, 3, 6, 6))
    module.double()
    assert module(*feats, torch.rand(1, 3, 6, 6)).dtype == torch.float64  # heatmaps of any float dtype


@pytest.mark.parametrize("kind", KINDS)
def test_features_on_another_device_than_the_module_name_the_argument(kind):
    module = build_temporal(kind, 4, 3).to("meta")
    with pytest.raises(ValueError, match=r"feat_prev: on device cpu but .*parameters are on meta"):
        module(torch.rand(1, 4, 6, 6), torch.rand(1, 4, 6, 6), torch.rand(1, 3, 6, 6))


def test_features_of_two_dtypes_are_refused():
    with pytest.raises(TypeError, match=r"feat_cur has dtype torch.float64 but feat_prev has dtype torch.float32"):
        KMM(4, 3)(torch.rand(1, 4, 6, 6), torch.rand(1, 4, 6, 6).double(), torch.rand(1, 3, 6, 6))


@pytest.mark.parametrize("kind", ["dkd", "jrpsp"])
def test_an_empty_batch_gives_an_empty_prior_and_leaves_batchnorm_alone(kind):
    # Before: "non-positive groups is not supported" from the grouped correlation.
    module = build_temporal(kind, 8, 5)
    stats = {k: v.clone() for k, v in module.state_dict().items()}
    prior = module(torch.rand(0, 8, 6, 6), torch.rand(0, 8, 6, 6), torch.rand(0, 5, 12, 12))
    assert prior.shape == (0, 5, 12, 12)
    assert all(torch.equal(stats[k], v) for k, v in module.state_dict().items())
