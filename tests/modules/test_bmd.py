"""BidirectionalMotionDisentangle, its ADC block and the cross-attention branch: maths, switches, compile, errors."""

import copy

import pytest
import torch
import torch.nn.functional as F
from conftest import assert_compiled_matches_eager, assert_state_dict_whatever_the_backend, randomise_offsets
from oracles.cross_attention import cross_attention_loop
from torch import nn

import posemods
from posemods import BMD, BidirectionalMotionDisentangle, CrossAttention
from posemods.modules import AdaptiveDeformableCross, DeformableConvMotion, DeformableCrossAttention
from posemods.testing import assert_close, parity_errors

DIM, HEADS, POINTS, HW = 8, 2, 2, (2, 3)
LENGTH = HW[0] * HW[1]


def small_bmd(**kwargs):
    kwargs = {"num_heads": HEADS, "num_points": POINTS, "depth": 1, "mlp_ratio": 2.0, **kwargs}
    return randomise_offsets(BMD(DIM, **kwargs))


def clip(batch=2, frames=3, dtype=torch.float32, seed=0):
    """(feats (B, T, L, C), enhanced (B, L, C))."""
    gen = torch.Generator().manual_seed(seed)
    feats = torch.randn(batch, frames, LENGTH, DIM, generator=gen).to(dtype)
    enhanced = torch.randn(batch, LENGTH, DIM, generator=gen).to(dtype)
    return feats, enhanced


def count(module):
    return sum(p.numel() for p in module.parameters())


def test_alias_and_exports():
    assert BMD is BidirectionalMotionDisentangle is posemods.BidirectionalMotionDisentangle
    assert posemods.CrossAttention is CrossAttention
    assert {"BMD", "BidirectionalMotionDisentangle", "CrossAttention"} <= set(posemods.__all__)


# --- the cross-attention branch ---------------------------------------------------------------------


def test_cross_attention_matches_the_loop_oracle():
    # Queries and context of different lengths and widths, so a swapped role cannot pass.
    attention = CrossAttention(8, num_heads=2, context_dim=6).double()
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 5, 8, generator=gen, dtype=torch.float64)
    context = torch.randn(2, 7, 6, generator=gen, dtype=torch.float64)
    key, value = attention.kv_proj(context).split(8, dim=-1)
    split = lambda t: t.view(2, t.shape[1], 2, 4)
    attended = cross_attention_loop(split(attention.q_proj(x)), split(key), split(value))
    expected = attention.out_proj(attended.reshape(2, 5, 8))
    assert_close(attention(x, context), expected)


def test_cross_attention_gradcheck_and_errors():
    attention = CrossAttention(4, num_heads=2, context_dim=3).double()
    x = torch.randn(1, 3, 4, dtype=torch.float64, requires_grad=True)
    context = torch.randn(1, 5, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(attention, (x, context), fast_mode=True)
    with pytest.raises(ValueError, match=r"context: .*Cz=3.*Cz=4"):
        attention(x, torch.rand(1, 5, 4, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"context: .*B=1.*B=2"):
        attention(x, torch.rand(2, 5, 3, dtype=torch.float64))
    with pytest.raises(TypeError, match="context: expected a floating-point"):
        attention(x, torch.ones(1, 5, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="dim: expected a multiple of num_heads=3, got 4"):
        CrossAttention(4, num_heads=3)


# --- motion and streams -----------------------------------------------------------------------------


def test_motion_inputs_are_exactly_the_frame_differences():
    bmd = small_bmd()
    feats, _ = clip()
    forward, backward = bmd.motion(feats)
    assert torch.equal(forward, feats[:, 2] - feats[:, 1])  # M_f = F_{t+1} - F_t
    assert torch.equal(backward, feats[:, 0] - feats[:, 1])  # M_b = F_{t-1} - F_t
    (joint,) = small_bmd(bidirectional=False).motion(feats)
    assert torch.equal(joint, torch.cat([forward, backward], dim=-1))


def test_paper_configuration_streams_start_from_the_differences_themselves():
    # T = 3 with BS: no embedding layer, no extra parameter; each stream reads its difference as it is.
    bmd = small_bmd().double()
    feats, enhanced = clip(dtype=torch.float64)
    assert isinstance(bmd.forward_stream.embed, nn.Identity) and isinstance(bmd.backward_stream.embed, nn.Identity)
    assert not any(".embed." in key for key in bmd.state_dict())
    forward, backward = bmd.disentangle(feats, enhanced, HW)
    assert torch.equal(forward, bmd.forward_stream(feats[:, 2] - feats[:, 1], enhanced, HW))
    assert torch.equal(backward, bmd.backward_stream(feats[:, 0] - feats[:, 1], enhanced, HW))


def test_more_frames_enter_their_direction_nearest_first():
    bmd = small_bmd(num_frames=5)
    feats, enhanced = clip(frames=5)
    forward, backward = bmd.motion(feats)
    key = feats[:, 2]
    assert torch.equal(forward, torch.cat([feats[:, 3] - key, feats[:, 4] - key], dim=-1))
    assert torch.equal(backward, torch.cat([feats[:, 1] - key, feats[:, 0] - key], dim=-1))
    assert bmd.forward_stream.embed.in_features == 2 * DIM and bmd.forward_stream.embed.out_features == DIM
    (joint,) = small_bmd(num_frames=5, bidirectional=False).motion(feats)
    assert torch.equal(joint, torch.cat([forward, backward], dim=-1))
    assert bmd(feats, enhanced, HW).shape == (2, LENGTH, DIM)


@pytest.mark.parametrize("frames", [3, 5])
def test_swapping_past_and_future_swaps_the_streams(frames):
    bmd = small_bmd(num_frames=frames).double()
    feats, enhanced = clip(frames=frames, dtype=torch.float64)
    reversed_feats = feats.flip(1)  # the past becomes the future; the key frame stays in the middle
    forward, backward = bmd.motion(feats)
    swapped_forward, swapped_backward = bmd.motion(reversed_feats)
    assert torch.equal(swapped_forward, backward) and torch.equal(swapped_backward, forward)
    # With both directions given the same weights, the stream outputs trade places exactly.
    bmd.backward_stream.load_state_dict(bmd.forward_stream.state_dict())
    out_forward, out_backward = bmd.disentangle(feats, enhanced, HW)
    rev_forward, rev_backward = bmd.disentangle(reversed_feats, enhanced, HW)
    assert torch.equal(rev_forward, out_backward) and torch.equal(rev_backward, out_forward)


def test_directions_have_their_own_weights_and_the_fusion_sees_both():
    # Swap the two streams' weights and the fusion's halves: the reversed clip then gives the same M.
    torch.manual_seed(4)
    bmd = small_bmd().double()
    mirror = copy.deepcopy(bmd)
    mirror.forward_stream.load_state_dict(bmd.backward_stream.state_dict())
    mirror.backward_stream.load_state_dict(bmd.forward_stream.state_dict())
    with torch.no_grad():
        mirror.fusion.weight.copy_(torch.cat(bmd.fusion.weight.split(DIM, dim=1)[::-1], dim=1))
    feats, enhanced = clip(dtype=torch.float64)
    assert_close(mirror(feats.flip(1), enhanced, HW), bmd(feats, enhanced, HW), name="M")
    # ...while the unswapped model does not: the directions are not interchangeable.
    assert not torch.allclose(bmd(feats.flip(1), enhanced, HW), bmd(feats, enhanced, HW))


def test_fusion_is_a_linear_map_of_both_streams():
    bmd = small_bmd().double()
    feats, enhanced = clip(dtype=torch.float64)
    forward, backward = bmd.disentangle(feats, enhanced, HW)
    weight_f, weight_b = bmd.fusion.weight.split(DIM, dim=1)
    expected = forward @ weight_f.T + backward @ weight_b.T + bmd.fusion.bias
    assert_close(bmd(feats, enhanced, HW), expected, name="M")


# --- the ADC block ----------------------------------------------------------------------------------


def test_adc_block_written_out():
    # x + Mlp([DCA(LN x, LN F), CrossAttention(LN x, LN F)]), every piece computed apart from the block.
    block = randomise_offsets(AdaptiveDeformableCross(DIM, HEADS, POINTS, 2.0, "dca", constraint_dim=6)).double()
    with torch.no_grad():
        for norm in (block.norm, block.constraint_norm):
            norm.weight.uniform_(0.5, 1.5)
            norm.bias.uniform_(-0.5, 0.5)
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(2, LENGTH, DIM, generator=gen, dtype=torch.float64)
    constraint = torch.randn(2, LENGTH, 6, generator=gen, dtype=torch.float64)
    h = F.layer_norm(x, (DIM,), block.norm.weight, block.norm.bias)
    z = F.layer_norm(constraint, (6,), block.constraint_norm.weight, block.constraint_norm.bias)
    deformed = block.deform(h, z, HW)  # tested against its own oracles in test_dca.py
    cross = block.cross
    key, value = cross.kv_proj(z).split(DIM, dim=-1)  # keys and values from F
    split = lambda t: t.view(2, LENGTH, HEADS, DIM // HEADS)
    attended = cross.out_proj(cross_attention_loop(split(cross.q_proj(h)), split(key), split(value)).flatten(2))
    mlp = block.mlp
    hidden = F.gelu(torch.cat([deformed, attended], dim=-1) @ mlp.fc1.weight.T + mlp.fc1.bias)
    expected = x + hidden @ mlp.fc2.weight.T + mlp.fc2.bias
    assert_close(block(x, constraint, HW), expected)
    assert mlp.fc1.in_features == 2 * DIM and mlp.fc2.out_features == DIM


@pytest.mark.parametrize("operator", ["da", "dc"])
def test_table6_rows_a_and_b_replace_the_adc_block_without_cross_attention_or_f(operator):
    # "replace our Adaptive Deformable Cross (ADC) block with the deformable conv (DC)" / "plain
    # deformable attention (DA)": x + Mlp(deform(LN x)); no cross attention, no constraint norm, no F.
    block = randomise_offsets(AdaptiveDeformableCross(DIM, HEADS, POINTS, 2.0, operator, constraint_dim=6)).double()
    assert not hasattr(block, "cross") and not hasattr(block, "constraint_norm")
    assert block.mlp.fc1.in_features == DIM
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(2, LENGTH, DIM, generator=gen, dtype=torch.float64)
    h = F.layer_norm(x, (DIM,), block.norm.weight, block.norm.bias)
    mlp = block.mlp
    hidden = F.gelu(block.deform(h, None, HW) @ mlp.fc1.weight.T + mlp.fc1.bias)
    assert_close(block(x, None, HW), x + hidden @ mlp.fc2.weight.T + mlp.fc2.bias)


@pytest.mark.parametrize("row", ["dc", "da"])
def test_table6_rows_a_and_b_do_not_depend_on_f(row):
    from posemods.variants import VREMD_TABLE6

    bmd = small_bmd(**VREMD_TABLE6[row]).double()
    feats, enhanced = clip(dtype=torch.float64)
    out = bmd(feats, enhanced, HW)
    assert torch.equal(out, bmd(feats, 10 * torch.randn_like(enhanced), HW))
    assert torch.equal(out, bmd(feats, None, HW))
    assert not any(isinstance(m, CrossAttention) for m in bmd.modules())


@pytest.mark.parametrize("row", ["dca", "dca+bs"])
def test_table6_rows_c_and_d_are_constrained_by_f(row):
    from posemods.variants import VREMD_TABLE6

    bmd = small_bmd(**VREMD_TABLE6[row]).double()
    feats, enhanced = clip(dtype=torch.float64)
    assert not torch.allclose(bmd(feats, enhanced, HW), bmd(feats, torch.randn_like(enhanced), HW))
    assert any(isinstance(m, CrossAttention) for m in bmd.modules())
    assert bmd.bidirectional == (row == "dca+bs")


def test_enhanced_feature_constrains_both_branches():
    # F reaches the output through the deformable branch's offsets and through the cross attention's keys.
    block = randomise_offsets(AdaptiveDeformableCross(DIM, HEADS, POINTS, 2.0)).double()
    x, constraint = (torch.randn(1, LENGTH, DIM, dtype=torch.float64) for _ in range(2))
    constraint.requires_grad_()
    h = block.norm(x)
    (grad_deform,) = torch.autograd.grad(block.deform(h, block.constraint_norm(constraint), HW).sum(), constraint)
    (grad_cross,) = torch.autograd.grad(block.cross(h, block.constraint_norm(constraint)).sum(), constraint)
    assert grad_deform.abs().sum() > 0 and grad_cross.abs().sum() > 0


# --- Table 6 switches -------------------------------------------------------------------------------


def test_without_bs_is_one_stream_over_the_concatenated_directions():
    bmd = small_bmd(bidirectional=False).double()
    feats, enhanced = clip(dtype=torch.float64)
    assert not hasattr(bmd, "forward_stream") and len(bmd.streams) == 1
    assert bmd.stream.embed.in_features == 2 * DIM and bmd.fusion.in_features == DIM
    concatenated = torch.cat([feats[:, 2] - feats[:, 1], feats[:, 0] - feats[:, 1]], dim=-1)
    (joint,) = bmd.disentangle(feats, enhanced, HW)
    assert torch.equal(joint, bmd.stream(concatenated, enhanced, HW))
    assert_close(bmd(feats, enhanced, HW), bmd.fusion(joint))


OPERATOR_KINDS = [("dca", DeformableCrossAttention), ("da", DeformableCrossAttention), ("dc", DeformableConvMotion)]


@pytest.mark.parametrize("operator, kind", OPERATOR_KINDS)
def test_operator_swaps_the_deformable_branch_of_every_block(operator, kind):
    bmd = small_bmd(operator=operator, depth=2)
    blocks = [*bmd.forward_stream.blocks, *bmd.backward_stream.blocks]
    assert len(blocks) == 4 and all(type(b.deform) is kind for b in blocks)
    if kind is DeformableCrossAttention:
        assert all(b.deform.operator == operator for b in blocks)
    feats, enhanced = clip()
    assert bmd(feats, enhanced, HW).shape == (2, LENGTH, DIM)


def test_parameter_counts_follow_the_switches():
    both = small_bmd()
    joint = small_bmd(bidirectional=False)
    stream = count(both.forward_stream)
    assert count(both) == 2 * stream + 2 * DIM * DIM + DIM
    # One stream of the same blocks, plus its 2C -> C embedding, and a C -> C fusion.
    assert count(joint) == stream + (2 * DIM * DIM + DIM) + (DIM * DIM + DIM)
    assert count(small_bmd(depth=2)) == count(both) + 2 * count(both.forward_stream.blocks[0])


# --- both backends, autograd, compile, errors -------------------------------------------------------


@pytest.mark.parametrize("operator", ["dca", "da"])
def test_backends_agree_on_the_whole_module(operator):
    torch.manual_seed(2)
    ref = small_bmd(operator=operator, backend="reference")
    tri = small_bmd(operator=operator, backend="triton")
    tri.load_state_dict(ref.state_dict())
    feats, enhanced = clip(batch=1)
    errors = parity_errors(
        lambda feats, enhanced: ref(feats, enhanced, HW), lambda feats, enhanced: tri(feats, enhanced, HW),
        {"feats": feats, "enhanced": enhanced},
    )  # fmt: skip
    assert set(errors) == {"out0", "grad_feats", "grad_enhanced"}


@pytest.mark.parametrize("operator", ["dca", "da", "dc"])
def test_gradcheck_module_float64(operator):
    bmd = BMD(4, num_heads=2, num_points=2, depth=1, mlp_ratio=1.0, operator=operator)
    bmd = randomise_offsets(bmd).double()
    feats = (0.5 * torch.randn(1, 3, 4, 4, dtype=torch.float64)).requires_grad_()
    enhanced = torch.randn(1, 4, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: bmd(a, b, (2, 2)), (feats, enhanced), fast_mode=True)


def test_state_dict_is_the_same_whatever_the_backend():
    assert_state_dict_whatever_the_backend(lambda backend: BMD(DIM, num_heads=HEADS, backend=backend))


# Dynamo, fake tensors and AOTAutograd see the whole forward and backward (aot_eager); inductor's CPU
# code generation takes most of a minute on two cores, so it runs with -m slow.
@pytest.mark.parametrize("compiler", ["aot_eager", pytest.param("inductor", marks=pytest.mark.slow)])
def test_compile_fullgraph_matches_eager(backend, compiler):
    feats, enhanced = clip(batch=1)
    feats.requires_grad_()
    loss = lambda out: out.square().sum()
    assert_compiled_matches_eager(small_bmd(backend=backend), (feats, enhanced, HW), loss, compiler)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # the interpreter's numpy
def test_nan_in_gives_nan_out(backend):
    bmd = small_bmd(backend=backend)
    feats, enhanced = clip()
    feats[1, 0, 2, 3] = float("nan")
    out = bmd(feats, enhanced, HW)
    assert out[1].isnan().any() and not out[0].isnan().any()
    feats, enhanced = clip()
    enhanced[0, 4, 1] = float("nan")
    out = bmd(feats, enhanced, HW)
    assert out[0].isnan().any() and not out[1].isnan().any()


def test_runs_under_autocast():
    bmd = small_bmd()
    feats, enhanced = clip()
    expected = bmd(feats, enhanced, HW)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = bmd(feats, enhanced, HW)
    assert_close(out.float(), expected, dtype=torch.bfloat16)


@pytest.mark.parametrize(
    "feats_shape, enhanced_shape, hw, match",
    [
        ((2, 3, LENGTH), (2, LENGTH, DIM), HW, r"feats: expected a 4-D tensor \(B, T, L, C\)"),
        ((2, 5, LENGTH, DIM), (2, LENGTH, DIM), HW, r"feats: .*T=3.*T=5"),
        ((2, 3, LENGTH, DIM + 1), (2, LENGTH, DIM), HW, r"feats: .*C=8.*C=9"),
        ((2, 3, LENGTH, DIM), (1, LENGTH, DIM), HW, r"enhanced: .*B=2.*B=1"),
        ((2, 3, LENGTH, DIM), (2, LENGTH - 1, DIM), HW, r"enhanced: .*L=6.*L=5"),
        ((2, 3, LENGTH, DIM), (2, LENGTH, DIM - 1), HW, r"enhanced: .*Cz=8.*Cz=7"),
        ((2, 3, LENGTH, DIM), (2, LENGTH, DIM), (3, 3), r"hw: expected \(H, W\) with H \* W = L = 6, got \(3, 3\)"),
        ((2, 3, LENGTH, DIM), (2, LENGTH, DIM), 6, r"hw: expected \(H, W\), two integers, got 6"),
    ],
)
def test_shape_errors(feats_shape, enhanced_shape, hw, match):
    with pytest.raises(ValueError, match=match):
        small_bmd()(torch.rand(feats_shape), torch.rand(enhanced_shape), hw)


def test_dtype_and_config_errors():
    feats, enhanced = clip()
    with pytest.raises(TypeError, match="feats: expected a floating-point"):
        small_bmd()(feats.long(), enhanced, HW)
    with pytest.raises(TypeError, match="enhanced: expected a floating-point"):
        small_bmd()(feats, enhanced.int(), HW)
    with pytest.raises(TypeError, match=r"feats: dtype torch.float64 but BidirectionalMotionDisentangle's param"):
        small_bmd()(feats.double(), enhanced, HW)
    with pytest.raises(TypeError, match=r"enhanced: dtype torch.bfloat16 but BidirectionalMotionDisentangle's"):
        small_bmd()(feats, enhanced.bfloat16(), HW)
    for frames in (1, 2, 4):
        with pytest.raises(ValueError, match=f"num_frames: expected an odd T >= 3 .*got {frames}"):
            small_bmd(num_frames=frames)
    with pytest.raises(ValueError, match="operator: expected one of"):
        small_bmd(operator="dcn")
    with pytest.raises(ValueError, match="backend: expected one of"):
        small_bmd(backend="cuda")
    with pytest.raises(ValueError, match="dim: expected a multiple of num_heads=3, got 8"):
        BMD(DIM, num_heads=3)
    with pytest.raises(ValueError, match="depth: expected a positive integer"):
        small_bmd(depth=0)


@pytest.mark.parametrize(
    "bad, error",
    [
        ("4", TypeError),
        (None, TypeError),
        (0.0, ValueError),
        (-1.0, ValueError),
        (float("nan"), ValueError),
        (float("inf"), ValueError),
        (0.01, ValueError),
    ],
)
def test_mlp_ratio_is_validated_before_anything_is_allocated(bad, error):
    # '4' used to make Mlp(2C, C * '4') -- a string of C fours -- and ask for gigabytes.
    with pytest.raises(error, match="mlp_ratio: expected a"):
        BMD(DIM, num_heads=HEADS, mlp_ratio=bad)
    with pytest.raises(error, match="mlp_ratio: expected a"):
        AdaptiveDeformableCross(DIM, HEADS, mlp_ratio=bad)


def test_inputs_on_another_device_are_named():
    bmd = small_bmd().to("meta")
    feats, enhanced = clip()
    with pytest.raises(
        ValueError, match=r"feats: on device cpu but BidirectionalMotionDisentangle's parameters are on meta"
    ):
        bmd(feats, enhanced, HW)


@pytest.mark.parametrize("operator", ["dca", "da", "dc"])
def test_empty_batch_gives_an_empty_result(operator):
    feats, enhanced = clip(batch=0)
    assert small_bmd(operator=operator)(feats, enhanced, HW).shape == (0, LENGTH, DIM)


def test_dc_in_bfloat16_on_cpu_says_torchvision_has_no_kernel():
    bmd = small_bmd(operator="dc").to(torch.bfloat16)
    feats, enhanced = clip(dtype=torch.bfloat16)
    with pytest.raises(TypeError, match="torchvision's deform_conv2d has no bfloat16 kernel on CPU"):
        bmd(feats, enhanced, HW)


@pytest.mark.parametrize("operator", ["dca", "dc"])
def test_prefix_tokens_pass_through_from_the_key_frame(operator):
    prefix = 2
    plain = small_bmd(operator=operator).double()
    with_prefix = BMD(DIM, num_heads=HEADS, num_points=POINTS, depth=1, mlp_ratio=2.0, operator=operator,
                      num_prefix_tokens=prefix).double()  # fmt: skip
    with_prefix.load_state_dict(plain.state_dict())
    feats, enhanced = clip(dtype=torch.float64)
    extra, extra_enhanced = clip(dtype=torch.float64, seed=3)
    feats_p = torch.cat([extra[:, :, :prefix], feats], dim=2)
    enhanced_p = torch.cat([extra_enhanced[:, :prefix], enhanced], dim=1)
    out = with_prefix(feats_p, enhanced_p, HW)
    assert out.shape == (2, prefix + LENGTH, DIM)
    assert torch.equal(out[:, :prefix], feats_p[:, 1, :prefix])  # the key frame's cls / register tokens
    assert_close(out[:, prefix:], plain(feats, enhanced, HW))


def test_cross_attention_nan_in_a_query_row_gives_nan_out():
    # CPU SDPA returned 0 for a query whose logits are all NaN; the formula gives NaN.
    attention = CrossAttention(8, num_heads=2)
    x, context = torch.randn(1, 3, 8), torch.randn(1, 5, 8)
    x[0, 1, 2] = float("nan")
    out = attention(x, context)
    assert out[0, 1].isnan().all() and out[0, [0, 2]].isfinite().all()


def test_cross_attention_checks_dtype_and_device_against_its_parameters():
    attention = CrossAttention(8, num_heads=2)
    x, context = torch.randn(1, 3, 8), torch.randn(1, 5, 8)
    with pytest.raises(TypeError, match=r"x: dtype torch.float64 but CrossAttention's parameters are torch.float32"):
        attention(x.double(), context.double())
    with pytest.raises(TypeError, match=r"context: dtype torch.float16 but CrossAttention's"):
        attention(x, context.half())
    with pytest.raises(ValueError, match=r"x: on device cpu but CrossAttention's parameters are on meta"):
        attention.to("meta")(x, context)


def test_works_with_the_paper_defaults_and_without_hkm():
    # num_heads=8, num_points=4, depth=2, mlp_ratio=4 as in the signature. Without HKM (Table 4 (b)) the
    # key frame's backbone features are the constraint.
    bmd = BMD(32)
    feats = torch.randn(1, 3, 12, 32)
    out = bmd(feats, feats[:, bmd.key_frame], (4, 3))
    assert out.shape == (1, 12, 32) and out.isfinite().all()
    assert len(bmd.forward_stream.blocks) == 2 and bmd.forward_stream.blocks[0].deform.num_points == 4
