"""DeformableCrossAttention (DCA), its DA variant and DeformableConvMotion (DC): maths, init, compile, errors."""

import math

import pytest
import torch
from conftest import requires_triton
from oracles.deformable_cross_attention import deformable_attention_loop, deformable_cross_attention_loop

import posemods
from posemods import DCA, DeformableConvMotion, DeformableCrossAttention
from posemods.modules import deformable_motion
from posemods.modules.deformable_sampling import initial_points, pixel_centres, sampling_locations
from posemods.testing import assert_close

KINDS = ("dca", "da", "dc")


def make_tokens(batch=2, hw=(3, 4), dim=8, constraint_dim=6, dtype=torch.float64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    length = hw[0] * hw[1]
    x = torch.randn(batch, length, dim, generator=gen).to(dtype)
    constraint = torch.randn(batch, length, constraint_dim, generator=gen).to(dtype)
    return x, constraint


def randomise_offsets(module, seed=1):
    """Give θ a non-zero weight so the offsets depend on q and z (at init they do not)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        theta = module.offsets.theta
        theta.weight.copy_(torch.randn(theta.weight.shape, generator=gen) * 0.5)
        theta.bias.add_(torch.randn(theta.bias.shape, generator=gen))
    return module


def test_public_names():
    assert DCA is DeformableCrossAttention is posemods.DeformableCrossAttention
    assert posemods.DeformableConvMotion is DeformableConvMotion
    assert {"DCA", "DeformableCrossAttention", "DeformableConvMotion"} <= set(posemods.__all__)


# --- the maths of eq. 3-4, through the oracle -------------------------------------------------------


def test_dca_is_eq_3_and_4_composed_with_the_oracle():
    hw, heads, points = (3, 4), 2, 3
    dca = randomise_offsets(DCA(8, num_heads=heads, num_points=points, constraint_dim=6)).double()
    x, constraint = make_tokens(hw=hw)
    out = dca(x, constraint, hw)

    q = dca.q_proj(x)  # eq. 3, step by step
    features = dca.offsets.psi(_grid(torch.cat([q, dca.z_proj(constraint)], -1), hw))  # ψ(q ⊕ z)
    offsets = dca.offsets.theta(features.flatten(2).transpose(1, 2)).view(2, 12, heads, points, 2)  # θ
    centres = torch.tensor([[(i % 4 + 0.5) / 4, (i // 4 + 0.5) / 3] for i in range(12)], dtype=torch.float64)
    locations = centres[None, :, None, None, :] + offsets / torch.tensor([4.0, 3.0], dtype=torch.float64)
    split = lambda t: t.view(2, *hw, heads, 4)
    attended = deformable_cross_attention_loop(
        q.view(2, 12, heads, 4), split(dca.k_proj(x)), split(dca.v_proj(x)), locations, scale=4**-0.5
    )
    assert_close(out, dca.out_proj(attended.reshape(2, 12, 8)))


def _grid(tokens, hw):
    """(B, L, 2C) tokens -> the (B, 2C, H, W) map ψ convolves, written out apart from DeformableOffsets."""
    return tokens.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[2], *hw)


def test_da_uses_predicted_weights_and_no_key():
    hw, heads, points = (2, 3), 2, 4
    da = randomise_offsets(DCA(8, num_heads=heads, num_points=points, constraint_dim=6, weights="predicted")).double()
    assert not hasattr(da, "k_proj") and da.point_weights.out_features == heads * points
    x, constraint = make_tokens(hw=hw)
    q = da.q_proj(x)
    locations = sampling_locations(da.offsets(q, da.z_proj(constraint), hw), hw, None)
    weights = da.point_weights(q).view(2, 6, heads, points).softmax(-1)
    attended = deformable_attention_loop(da.v_proj(x).view(2, *hw, heads, 4), locations, weights)
    expected = da.out_proj(attended.flatten(2))
    assert_close(da(x, constraint, hw), expected)


def test_dc_is_a_convolution_over_the_same_sampled_points():
    # DC must sample x exactly where DCA's offset branch says, and weigh tap n by weight[:, :, 0, n].
    hw, heads, points = (3, 5), 2, 3
    dc = randomise_offsets(DeformableConvMotion(8, num_heads=heads, num_points=points, constraint_dim=6)).double()
    x, constraint = make_tokens(hw=hw)
    locations = sampling_locations(dc.offsets(dc.q_proj(x), dc.z_proj(constraint), hw), hw, None)
    expected = dc.bias.expand(2, 15, 8).clone()
    for n in range(points):
        one_hot = torch.zeros(2, 15, heads, points, dtype=torch.float64)
        one_hot[..., n] = 1
        sampled = deformable_attention_loop(x.view(2, *hw, heads, 4), locations, one_hot).reshape(2, 15, 8)
        expected = expected + sampled @ dc.weight[:, :, 0, n].T
    assert_close(dc(x, constraint, hw), expected)


@pytest.mark.parametrize("kind", KINDS)
def test_zero_offsets_at_own_pixel_sample_the_pixel_itself(kind):
    # With Δp = 0 every point sits on the query's own pixel centre, so the sampling returns that
    # pixel's features: DCA and DA reduce to out_proj(v_proj(x)), whatever the attention weights.
    hw = (3, 4)
    module = deformable_motion(kind, 8, num_heads=2, num_points=3, constraint_dim=6).double()
    with torch.no_grad():
        module.offsets.theta.bias.zero_()
    x, constraint = make_tokens(hw=hw)
    out = module(x, constraint, hw)
    if kind == "dc":  # every tap reads the pixel itself
        assert_close(out, x @ module.weight.sum(-1)[:, :, 0].T + module.bias)
    else:
        assert_close(out, module.out_proj(module.v_proj(x)))


@pytest.mark.parametrize("kind", KINDS)
def test_reference_points_move_where_every_module_looks(kind):
    # Δp = 0 and every reference point one pixel to the right: each query reads its right neighbour
    # (zero padding past the last column).
    hw = (3, 4)
    module = deformable_motion(kind, 8, num_heads=2, num_points=2, constraint_dim=6).double()
    with torch.no_grad():
        module.offsets.theta.bias.zero_()
    x, constraint = make_tokens(hw=hw)
    shifted = pixel_centres(*hw, dtype=torch.float64) + torch.tensor([1 / 4, 0.0], dtype=torch.float64)
    out = module(x, constraint, hw, reference_points=shifted.expand(2, 12, 2))
    neighbour = torch.zeros_like(x).view(2, 3, 4, 8)
    neighbour[:, :, :3] = x.view(2, 3, 4, 8)[:, :, 1:]
    neighbour = neighbour.view(2, 12, 8)
    if kind == "dc":
        expected = neighbour @ module.weight.sum(-1)[:, :, 0].T + module.bias
    else:
        # A padded sample is zero after projection too: the value bias is only added inside the map.
        inside = torch.ones(2, 3, 4, 1, dtype=torch.float64)
        inside[:, :, 3] = 0
        expected = module.out_proj(neighbour @ module.v_proj.weight.T + inside.view(2, 12, 1) * module.v_proj.bias)
    assert_close(out, expected)


# --- initialisation ---------------------------------------------------------------------------------


def test_initial_points_are_rings_turned_per_head():
    points = initial_points(num_heads=3, num_points=10)
    radii = points.norm(dim=-1)
    assert torch.allclose(radii[:, :8], torch.ones(3, 8)) and torch.allclose(radii[:, 8:], torch.full((3, 2), 2.0))
    # On each ring the points are evenly spaced, and the heads start on different points.
    assert torch.allclose(points[0, 0], torch.tensor([1.0, 0.0]))
    assert torch.allclose(points[0, 2], torch.tensor([0.0, 1.0]), atol=1e-6)
    assert torch.allclose(points[1, 0], torch.tensor([math.cos(2 * math.pi / 24), math.sin(2 * math.pi / 24)]))
    assert len({tuple(p.round(decimals=4).tolist()) for p in points.reshape(-1, 2)}) == 30


@pytest.mark.parametrize("kind", KINDS)
def test_modules_start_as_local_attention_on_the_rings(kind):
    module = deformable_motion(kind, 16, num_heads=4, num_points=4)
    theta = module.offsets.theta
    assert torch.equal(theta.weight, torch.zeros_like(theta.weight))
    x, constraint = make_tokens(dim=16, constraint_dim=16, dtype=torch.float32)
    offsets = module.offsets(module.q_proj(x), module.z_proj(constraint), (3, 4))
    assert torch.allclose(offsets, initial_points(4, 4).expand_as(offsets))  # whatever the input


# --- options, gradients, backends -------------------------------------------------------------------


def test_offset_conv_options():
    depthwise = DCA(16, num_heads=4, offset_kernel_size=5)
    full = DCA(16, num_heads=4, offset_kernel_size=5, offset_conv="full")
    assert [type(m).__name__ for m in depthwise.offsets.psi] == ["Conv2d", "Conv2d", "GELU"]
    assert depthwise.offsets.psi[1].groups == 16 and depthwise.offsets.psi[1].kernel_size == (5, 5)
    assert full.offsets.psi[0].weight.shape == (16, 32, 5, 5)
    x, constraint = make_tokens(dim=16, constraint_dim=16, dtype=torch.float32)
    assert full(x, constraint, (3, 4)).shape == x.shape
    n_params = lambda m: sum(p.numel() for p in m.offsets.psi.parameters())
    assert n_params(depthwise) < n_params(full)


def test_qkv_bias_option():
    dca = DCA(8, num_heads=2, qkv_bias=False)
    assert all(getattr(dca, name).bias is None for name in ("q_proj", "z_proj", "k_proj", "v_proj"))


@pytest.mark.parametrize("kind", KINDS)
def test_gradcheck_module_float64(kind):
    module = randomise_offsets(deformable_motion(kind, 4, num_heads=2, num_points=2, constraint_dim=3)).double()
    x, constraint = make_tokens(batch=1, hw=(2, 3), dim=4, constraint_dim=3, seed=2)
    args = (x.requires_grad_(), constraint.requires_grad_())
    assert torch.autograd.gradcheck(lambda a, b: module(a, b, (2, 3)), args, fast_mode=True)


@pytest.mark.parametrize("kind", KINDS)
def test_state_dict_is_the_same_whatever_the_backend(kind):
    torch.manual_seed(3)
    a = deformable_motion(kind, 16, num_heads=4, backend="reference")
    torch.manual_seed(3)
    b = deformable_motion(kind, 16, num_heads=4, backend="triton")
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    b.load_state_dict(sa)


@requires_triton
@pytest.mark.parametrize("weights", ["dot", "predicted"])
def test_triton_backend_matches_reference_in_the_module(weights):
    torch.manual_seed(0)
    ref = randomise_offsets(DCA(16, num_heads=2, num_points=4, constraint_dim=8, weights=weights, backend="reference"))
    tri = DCA(16, num_heads=2, num_points=4, constraint_dim=8, weights=weights, backend="triton")
    tri.load_state_dict(ref.state_dict())
    x, constraint = make_tokens(batch=1, hw=(4, 3), dim=16, constraint_dim=8, dtype=torch.float32)
    grads = {}
    for name, module in (("reference", ref), ("triton", tri)):
        xi = x.clone().requires_grad_()
        out = module(xi, constraint, (4, 3))
        out.square().sum().backward()
        grads[name] = (out.detach(), xi.grad, module.offsets.theta.weight.grad)
    for a, e, what in zip(grads["triton"], grads["reference"], ("output", "grad x", "grad theta")):
        assert_close(a, e, name=what)


COMPILE_CASES = [
    # (kind, torch.compile backend). Inductor's C++ codegen takes most of a minute per module on two
    # cores, so DA and DC run through aot_eager by default (dynamo, fake tensors and autograd, which
    # is what breaks) and through inductor only with -m slow.
    ("dca", "inductor"),
    ("da", "aot_eager"),
    ("dc", "aot_eager"),
    pytest.param("da", "inductor", marks=pytest.mark.slow),
    pytest.param("dc", "inductor", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("kind, compiler", COMPILE_CASES)
def test_compile_fullgraph_matches_eager(kind, compiler, backend):
    if backend == "triton" and kind == "dc":
        pytest.skip("DC runs torchvision's deform_conv2d whatever the backend")
    torch._dynamo.reset()
    module = randomise_offsets(deformable_motion(kind, 8, num_heads=2, num_points=2, backend=backend))
    x, constraint = make_tokens(batch=1, hw=(3, 2), dim=8, constraint_dim=8, dtype=torch.float32)
    x.requires_grad_()
    eager = module(x, constraint, (3, 2))
    compiled = torch.compile(module, fullgraph=True, backend=compiler)(x, constraint, (3, 2))
    assert_close(compiled, eager)
    (g_eager,) = torch.autograd.grad(eager.square().sum(), x)
    (g_compiled,) = torch.autograd.grad(compiled.square().sum(), x)
    assert_close(g_compiled, g_eager)


@pytest.mark.parametrize("kind", KINDS)
def test_runs_under_autocast(kind):
    module = deformable_motion(kind, 8, num_heads=2)
    x, constraint = make_tokens(dim=8, constraint_dim=8, dtype=torch.float32)
    expected = module(x, constraint, (3, 4))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = module(x, constraint, (3, 4))
    assert_close(out.float(), expected, dtype=torch.bfloat16)


def test_half_precision_module_keeps_float32_locations():
    dca = DCA(8, num_heads=2).to(torch.bfloat16)
    x, constraint = make_tokens(dim=8, constraint_dim=8, dtype=torch.bfloat16)
    out = dca(x, constraint, (3, 4))
    assert out.dtype == torch.bfloat16 and out.isfinite().all()


# --- bad input --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "x_shape, c_shape, hw, error, match",
    [
        ((2, 12, 8), (2, 12, 6), (3, 5), ValueError, r"hw: expected \(H, W\) with H \* W = L = 12, got \(3, 5\)"),
        ((2, 12, 7), (2, 12, 6), (3, 4), ValueError, r"x: .*C=8.*C=7"),
        ((12, 8), (2, 12, 6), (3, 4), ValueError, r"x: expected a 3-D tensor \(B, L, C\)"),
        ((2, 12, 8), (1, 12, 6), (3, 4), ValueError, r"constraint: .*B=2.*B=1"),
        ((2, 12, 8), (2, 11, 6), (3, 4), ValueError, r"constraint: .*L=12.*L=11"),
        ((2, 12, 8), (2, 12, 5), (3, 4), ValueError, r"constraint: .*Cz=6.*Cz=5"),
        ((2, 12, 8), (2, 12, 6), 12, ValueError, r"hw: expected \(H, W\)"),
    ],
)
def test_shape_errors(kind, x_shape, c_shape, hw, error, match):
    module = deformable_motion(kind, 8, num_heads=2, constraint_dim=6)
    with pytest.raises(error, match=match):
        module(torch.rand(x_shape), torch.rand(c_shape), hw)


@pytest.mark.parametrize("kind", KINDS)
def test_dtype_and_reference_point_errors(kind):
    module = deformable_motion(kind, 8, num_heads=2)
    x, constraint = torch.rand(2, 12, 8), torch.rand(2, 12, 8)
    with pytest.raises(TypeError, match="x: expected a floating-point"):
        module(x.long(), constraint, (3, 4))
    with pytest.raises(TypeError, match="constraint: expected a floating-point"):
        module(x, constraint.int(), (3, 4))
    with pytest.raises(ValueError, match=r"reference_points: expected shape \(B, L, 2\) with L=12"):
        module(x, constraint, (3, 4), reference_points=torch.rand(2, 10, 2))
    with pytest.raises(TypeError, match=r"x: dtype torch.float64 but .*'s parameters are torch.float32"):
        module(x.double(), constraint, (3, 4))
    with pytest.raises(TypeError, match=r"constraint: dtype torch.float16 but .*'s parameters are torch.float32"):
        module(x, constraint.half(), (3, 4))
    with pytest.raises(ValueError, match=r"hw: expected \(H, W\), two integers, got \(3.0, 4.0\)"):
        module(x, constraint, (3.0, 4.0))


@pytest.mark.parametrize("kind", KINDS)
def test_config_errors(kind):
    with pytest.raises(ValueError, match="dim: expected a multiple of num_heads=8, got 12"):
        deformable_motion(kind, 12)
    with pytest.raises(ValueError, match="num_points: expected a positive integer"):
        deformable_motion(kind, 8, num_heads=2, num_points=0)
    with pytest.raises(ValueError, match="offset_kernel_size: expected an odd size"):
        deformable_motion(kind, 8, num_heads=2, offset_kernel_size=4)
    with pytest.raises(ValueError, match="offset_conv: expected one of"):
        deformable_motion(kind, 8, num_heads=2, offset_conv="grouped")
    with pytest.raises(ValueError, match="backend: expected one of"):
        deformable_motion(kind, 8, num_heads=2, backend="cuda")
    with pytest.raises(ValueError, match="kind: expected one of"):
        deformable_motion("dcn", 8)
    with pytest.raises(ValueError, match="weights: expected one of"):
        DCA(8, num_heads=2, weights="softmax")
