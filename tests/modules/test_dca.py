"""DeformableCrossAttention (DCA), its DA variant and DeformableConvMotion (DC): maths, init, compile, errors."""

import math

import pytest
import torch
from conftest import randomise_offsets, requires_triton
from oracles.deformable_cross_attention import bilinear_sample, deformable_attention_loop

import posemods
from posemods import DCA, DeformableConvMotion, DeformableCrossAttention
from posemods.modules import deformable_motion
from posemods.modules.offsets import initial_points, pixel_centres, sampling_locations
from posemods.testing import assert_close

KINDS = ("dca", "da", "dc")


def make_tokens(batch=2, hw=(3, 4), dim=8, constraint_dim=6, dtype=torch.float64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    length = hw[0] * hw[1]
    x = torch.randn(batch, length, dim, generator=gen).to(dtype)
    constraint = torch.randn(batch, length, constraint_dim, generator=gen).to(dtype)
    return x, constraint


def test_public_names():
    assert DCA is DeformableCrossAttention is posemods.DeformableCrossAttention
    assert posemods.DeformableConvMotion is DeformableConvMotion
    assert {"DCA", "DeformableCrossAttention", "DeformableConvMotion"} <= set(posemods.__all__)


# --- the maths of eq. 3-4, through a loop that projects the sampled features ------------------------


def eq4_loop(x, hw, locations, w_q, b_q, w_k, w_v, b_v, heads):
    """The paper's eq. 4 written out in float64: x̄_n = x bilinearly sampled at p_n (zero outside the
    map), then W_k x̄_n and W_v x̄_n + b_v projected *after* sampling, softmax over the N points.

    x (B, L, C); locations (B, L, G, N, 2). Returns (B, L, C) before W_o."""
    batch, length, channels = x.shape
    head_dim = channels // heads
    image = x.view(batch, *hw, channels)
    out = torch.zeros(batch, length, heads, head_dim, dtype=torch.float64)
    for b in range(batch):
        for q in range(length):
            query = w_q @ x[b, q] + b_q
            for g in range(heads):
                rows = slice(g * head_dim, (g + 1) * head_dim)
                logits, values = [], []
                for n in range(locations.shape[3]):
                    sampled = bilinear_sample(image[b], locations[b, q, g, n, 0], locations[b, q, g, n, 1])
                    logits.append((query[rows] * (w_k[rows] @ sampled)).sum() / math.sqrt(head_dim))
                    values.append(w_v[rows] @ sampled + b_v[rows])
                weights = torch.stack(logits).softmax(0)
                out[b, q, g] = sum(w * v for w, v in zip(weights, values))
    return out.reshape(batch, length, channels)


@pytest.mark.parametrize("mode", ["constraint", "grid"])
def test_dca_is_eq_3_and_4_with_biased_projections_of_the_sampled_features(mode):
    # Random θ, reference map and biases: points land past the border too, where the paper's
    # W_v x̄ + b_v gives the bias, not a fraction of it.
    hw, heads, points = (3, 4), 2, 3
    dca = randomise_offsets(DCA(8, num_heads=heads, num_points=points, constraint_dim=6, reference_points=mode))
    dca = dca.double()
    x, constraint = make_tokens(hw=hw)
    out = dca(x, constraint, hw)

    q, z = dca.q_proj(x), dca.z_proj(constraint)  # eq. 3, step by step
    features = dca.offsets.psi(_grid(torch.cat([q, z], -1), hw))  # ψ(q ⊕ z)
    offsets = dca.offsets.theta(features.flatten(2).transpose(1, 2)).view(2, 12, heads, points, 2)  # θ
    centres = torch.tensor([[(i % 4 + 0.5) / 4, (i // 4 + 0.5) / 3] for i in range(12)], dtype=torch.float64)
    size = torch.tensor([4.0, 3.0], dtype=torch.float64)
    p_z = (
        centres + (z @ dca.reference_proj.weight.T + dca.reference_proj.bias) / size
        if mode == "constraint"
        else centres
    )
    locations = p_z.expand(2, 12, 2)[:, :, None, None, :] + offsets / size
    assert ((locations < 0) | (locations > 1)).any()  # the border case is exercised
    w_k = dca.k_proj.weight
    attended = eq4_loop(x, hw, locations, dca.q_proj.weight, dca.q_proj.bias, w_k, dca.v_proj.weight,
                        dca.v_proj.bias, heads)  # fmt: skip
    assert_close(out, dca.out_proj(attended))


def test_reference_points_from_z_move_with_the_constraint_and_start_on_the_grid():
    hw = (3, 4)
    dca = DCA(8, num_heads=2, num_points=2, constraint_dim=6).double()
    assert dca.reference_points == "constraint"  # the paper's "reference points from z", the default
    grid = DCA(8, num_heads=2, num_points=2, constraint_dim=6, reference_points="grid").double()
    grid.load_state_dict({k: v for k, v in dca.state_dict().items() if not k.startswith("reference_proj")})
    x, constraint = make_tokens(hw=hw)
    assert_close(dca(x, constraint, hw), grid(x, constraint, hw))  # zero-initialised: p_z = the pixel
    with torch.no_grad():
        dca.reference_proj.bias.copy_(torch.tensor([1.0, 0.0], dtype=torch.float64))  # one pixel right
    shifted = pixel_centres(*hw, dtype=torch.float64) + torch.tensor([1 / 4, 0.0], dtype=torch.float64)
    assert_close(dca(x, constraint, hw), grid(x, constraint, hw, reference_points=shifted.expand(2, 12, 2)))
    assert not hasattr(grid, "reference_proj")


def _grid(tokens, hw):
    """(B, L, 2C) tokens -> the (B, 2C, H, W) map ψ convolves, written out apart from DeformableOffsets."""
    return tokens.transpose(1, 2).reshape(tokens.shape[0], tokens.shape[2], *hw)


def test_da_is_deformable_detr_from_the_query_alone():
    # Deformable DETR's MSDeformAttn with one level: sampling_offsets(query), softmax(attention_weights(
    # query)), value_proj before sampling, output_proj; no W_q, no key, no F.
    hw, heads, points = (2, 3), 2, 4
    da = randomise_offsets(DCA(8, num_heads=heads, num_points=points, constraint_dim=6, operator="da")).double()
    assert not any(hasattr(da, name) for name in ("k_proj", "q_proj", "z_proj", "reference_proj"))
    assert da.point_weights.out_features == heads * points
    x, constraint = make_tokens(hw=hw)
    offsets = (x @ da.offsets.theta.weight.T + da.offsets.theta.bias).view(2, 6, heads, points, 2)
    locations = sampling_locations(offsets, hw, None)
    weights = da.point_weights(x).view(2, 6, heads, points).softmax(-1)
    attended = deformable_attention_loop(da.v_proj(x).view(2, *hw, heads, 4), locations, weights)
    expected = da.out_proj(attended.flatten(2))
    assert_close(da(x, constraint, hw), expected)


@pytest.mark.parametrize("operator", ["da", "dc"])
def test_table6_rows_a_and_b_do_not_depend_on_the_constraint(operator):
    # Table 6 (a), (b): DC and DA have no constraint F; any F, or none, gives the same output.
    module = randomise_offsets(deformable_motion(operator, 8, num_heads=2, num_points=3, constraint_dim=6)).double()
    x, constraint = make_tokens(hw=(3, 4))
    out = module(x, constraint, (3, 4))
    assert torch.equal(out, module(x, torch.randn_like(constraint) * 10, (3, 4)))
    assert torch.equal(out, module(x, None, (3, 4)))
    # ... while DCA's output moves with F (the constraint reaches the offsets and p_z).
    dca = randomise_offsets(deformable_motion("dca", 8, num_heads=2, num_points=3, constraint_dim=6)).double()
    assert not torch.allclose(dca(x, constraint, (3, 4)), dca(x, torch.randn_like(constraint), (3, 4)))


def dc_loop(x, hw, offset, weight, bias, heads):
    """Dai et al.'s deformable convolution, float64: tap (ky, kx) of output pixel (i, j) in offset
    group g reads channel c (of group g) at (i + ky - 1 + dy, j + kx - 1 + dx), bilinear, zero outside.
    offset (B, G * 9 * 2, H, W) with (dy, dx) per group and tap, as torchvision lays it out."""
    batch, _, channels = x.shape
    height, width = hw
    image = x.view(batch, height, width, channels)
    per_group = channels // heads
    out = bias.expand(batch, height, width, channels).clone()
    for b in range(batch):
        for i in range(height):
            for j in range(width):
                for g in range(heads):
                    cols = slice(g * per_group, (g + 1) * per_group)
                    for tap in range(9):
                        ky, kx = divmod(tap, 3)
                        dy, dx = offset[b, g * 18 + 2 * tap, i, j], offset[b, g * 18 + 2 * tap + 1, i, j]
                        py, px = i + ky - 1 + dy, j + kx - 1 + dx
                        sampled = bilinear_sample(image[b, :, :, cols], (px + 0.5) / width, (py + 0.5) / height)
                        out[b, i, j] = out[b, i, j] + weight[:, cols, ky, kx] @ sampled
    return out.view(batch, height * width, channels)


def test_dc_is_a_3x3_deformable_convolution_with_offsets_from_the_motion_features():
    hw, heads = (3, 5), 2
    dc = randomise_offsets(DeformableConvMotion(8, num_heads=heads, num_points=3, constraint_dim=6)).double()
    assert dc.weight.shape == (8, 8, 3, 3)
    x, constraint = make_tokens(hw=hw)
    offset = torch.nn.functional.conv2d(_grid(x, hw), dc.offsets.weight, dc.offsets.bias, padding=1)
    assert offset.shape == (2, heads * 18, *hw)
    assert_close(dc(x, constraint, hw), dc_loop(x, hw, offset, dc.weight, dc.bias, heads))


@pytest.mark.parametrize("kind", KINDS)
def test_zero_offsets_at_own_pixel_sample_the_pixel_itself(kind):
    # With Δp = 0 every point sits on the query's own pixel centre, so the sampling returns that
    # pixel's features: DCA and DA reduce to out_proj(v_proj(x)), whatever the attention weights;
    # DC, whose offsets start at zero, is a plain 3 x 3 convolution.
    hw = (3, 4)
    module = deformable_motion(kind, 8, num_heads=2, num_points=3, constraint_dim=6).double()
    x, constraint = make_tokens(hw=hw)
    if kind == "dc":
        expected = torch.nn.functional.conv2d(_grid(x, hw), module.weight, module.bias, padding=1)
        assert_close(module(x, constraint, hw), expected.flatten(2).transpose(1, 2))
        return
    with torch.no_grad():
        module.offsets.theta.bias.zero_()
        module.v_proj.bias.normal_()
    assert_close(module(x, constraint, hw), module.out_proj(module.v_proj(x)))


@pytest.mark.parametrize("kind", KINDS)
def test_reference_points_move_where_every_module_looks(kind):
    # Δp = 0 and every reference point one pixel to the right: each query reads its right neighbour
    # (zero padding past the last column).
    hw = (3, 4)
    module = deformable_motion(kind, 8, num_heads=2, num_points=2, constraint_dim=6).double()
    x, constraint = make_tokens(hw=hw)
    shifted = pixel_centres(*hw, dtype=torch.float64) + torch.tensor([1 / 4, 0.0], dtype=torch.float64)
    if kind == "dc":  # every tap one column right: a plain conv over the map padded 0 left, 2 right
        out = module(x, constraint, hw, reference_points=shifted.expand(2, 12, 2))
        padded = torch.nn.functional.pad(_grid(x, hw), (0, 2, 1, 1))
        expected = torch.nn.functional.conv2d(padded, module.weight, module.bias).flatten(2).transpose(1, 2)
        assert_close(out, expected)
        return
    with torch.no_grad():
        module.offsets.theta.bias.zero_()
        module.v_proj.bias.normal_()
    out = module(x, constraint, hw, reference_points=shifted.expand(2, 12, 2))
    neighbour = torch.zeros_like(x).view(2, 3, 4, 8)
    neighbour[:, :, :3] = x.view(2, 3, 4, 8)[:, :, 1:]
    neighbour = neighbour.view(2, 12, 8)
    if kind == "dca":  # eq. 4: the projection of the (zero) padded sample, bias included
        expected = module.out_proj(neighbour @ module.v_proj.weight.T + module.v_proj.bias)
    else:  # Deformable DETR projects before sampling: a padded sample is zero, bias and all
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


@pytest.mark.parametrize("kind", ["dca", "da"])
def test_modules_start_as_local_attention_on_the_rings(kind):
    module = deformable_motion(kind, 16, num_heads=4, num_points=4)
    theta = module.offsets.theta
    assert torch.equal(theta.weight, torch.zeros_like(theta.weight))
    x, constraint = make_tokens(dim=16, constraint_dim=16, dtype=torch.float32)
    if kind == "dca":
        offsets = module.offsets(module.q_proj(x), module.z_proj(constraint), (3, 4))
    else:
        offsets = module.offsets(x)
    assert torch.allclose(offsets, initial_points(4, 4).expand_as(offsets))  # whatever the input


def test_dc_starts_as_a_plain_convolution():
    dc = deformable_motion("dc", 16, num_heads=4)
    assert not dc.offsets.weight.any() and not dc.offsets.bias.any()


def test_dc_nan_offsets_give_nan_where_they_act_and_never_reach_torchvision():
    # torchvision turns sampling positions into integer pixels: a NaN offset made its taps read zeros (a
    # finite output), or with many of them an out-of-bounds read and a segfault. NaN in, NaN out.
    dc = deformable_motion("dc", 8, num_heads=2)
    torch.nn.init.normal_(dc.offsets.weight, std=1e-3)  # offsets read the features: well under a pixel
    x = torch.randn(1, 64, 8)
    x[0, 9] = float("nan")  # pixel (1, 1) of an 8 x 8 map
    out = dc(x, None, (8, 8)).reshape(8, 8, 8)
    assert out[:3, :3].isnan().all()  # their offsets read the NaN pixel
    far = torch.ones(8, 8, dtype=torch.bool)
    far[:4, :4] = False  # taps moved by under a pixel cannot reach (1, 1) from here
    assert out[far].isfinite().all()


def test_dc_infinite_offsets_sample_only_the_zero_padding():
    dc = deformable_motion("dc", 8, num_heads=2)
    with torch.no_grad():
        dc.offsets.bias.fill_(float("inf"))
        dc.bias.normal_()
    out = dc(torch.randn(2, 12, 8), None, (3, 4))
    # Every tap lands far outside the map, where deformable convolution reads zeros: only the bias remains.
    assert torch.equal(out, dc.bias.expand_as(out))


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
    # W_k never has a bias: <q, b_k> is the same for all N points and the softmax cancels it.
    biased = DCA(8, num_heads=2, qkv_bias=True)
    assert biased.k_proj.bias is None and all(getattr(biased, n).bias is not None for n in ("q_proj", "v_proj"))


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
@pytest.mark.parametrize("operator", ["dca", "da"])
def test_triton_backend_matches_reference_in_the_module(operator):
    torch.manual_seed(0)
    ref = randomise_offsets(
        DCA(16, num_heads=2, num_points=4, constraint_dim=8, operator=operator, backend="reference")
    )
    tri = DCA(16, num_heads=2, num_points=4, constraint_dim=8, operator=operator, backend="triton")
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
    with pytest.raises(ValueError, match="operator: expected one of"):
        deformable_motion("dcn", 8)
    with pytest.raises(ValueError, match="weights: expected one of"):
        DCA(8, num_heads=2, weights="softmax")
    with pytest.raises(ValueError, match="reference_points: expected one of"):
        deformable_motion(kind, 8, num_heads=2, reference_points="learned")
    if kind != "dca":
        with pytest.raises(ValueError, match=r"reference_points: .* has no z; expected 'grid'"):
            deformable_motion(kind, 8, num_heads=2, reference_points="constraint")


def test_one_name_for_the_operator_and_the_old_one_still_works():
    assert DCA(8, num_heads=2, operator="da").operator == "da"
    with pytest.warns(DeprecationWarning, match="operator='da'"):
        old = DCA(8, num_heads=2, weights="predicted")
    assert old.operator == "da" and old.weights == "predicted"
    with pytest.raises(ValueError, match="operator: expected one of"):
        DCA(8, num_heads=2, operator="dc")  # DC is DeformableConvMotion (deformable_motion("dc"))


# --- prefix tokens, empty batches, devices, bf16 DC (issues 14, 15) ---------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_prefix_tokens_pass_through_and_the_grid_is_unchanged(kind):
    # A timm ViT's (B, P + L, C) output plugs in: the P cls / register tokens come back as they went in,
    # and the grid tokens get exactly what the module gives without them.
    hw, prefix = (3, 4), 2
    plain = randomise_offsets(deformable_motion(kind, 8, num_heads=2, num_points=2, constraint_dim=6)).double()
    with_prefix = deformable_motion(kind, 8, num_heads=2, num_points=2, constraint_dim=6, num_prefix_tokens=prefix)
    with_prefix.double().load_state_dict(plain.state_dict())
    x, constraint = make_tokens(hw=hw)
    x_p, c_p = make_tokens(hw=(1, prefix), seed=5)
    out = with_prefix(torch.cat([x_p, x], 1), torch.cat([c_p, constraint], 1), hw)
    assert out.shape == (2, prefix + 12, 8)
    assert torch.equal(out[:, :prefix], x_p)
    assert_close(out[:, prefix:], plain(x, constraint, hw))
    with pytest.raises(ValueError, match=r"hw: expected \(H, W\) with H \* W = L = 11"):  # 13 - 2 prefix
        with_prefix(torch.cat([x_p, x], 1)[:, 1:], torch.cat([c_p, constraint], 1)[:, 1:], hw)


def test_prefix_token_argument_is_checked():
    with pytest.raises(ValueError, match="num_prefix_tokens: expected a non-negative integer, got -1"):
        DCA(8, num_heads=2, num_prefix_tokens=-1)
    with pytest.raises(TypeError, match="num_prefix_tokens: expected a non-negative integer"):
        DCA(8, num_heads=2, num_prefix_tokens="1")


@pytest.mark.parametrize("kind", KINDS)
def test_empty_batch_gives_an_empty_result(kind):
    module = deformable_motion(kind, 8, num_heads=2, constraint_dim=6)
    x, constraint = make_tokens(batch=0, dtype=torch.float32)
    out = module(x, constraint, (3, 4))
    assert out.shape == (0, 12, 8)


def test_dc_in_bfloat16_on_cpu_says_torchvision_has_no_kernel():
    dc = deformable_motion("dc", 8, num_heads=2).to(torch.bfloat16)
    x, constraint = make_tokens(dim=8, constraint_dim=8, dtype=torch.bfloat16)
    with pytest.raises(TypeError, match="x: torchvision's deform_conv2d has no bfloat16 kernel on CPU"):
        dc(x, constraint, (3, 4))


@pytest.mark.parametrize("kind", KINDS)
def test_inputs_on_another_device_than_the_module_are_named(kind):
    module = deformable_motion(kind, 8, num_heads=2).to("meta")
    x, constraint = make_tokens(dim=8, constraint_dim=8, dtype=torch.float32)
    with pytest.raises(ValueError, match=r"x: on device cpu but .*'s parameters are on meta"):
        module(x, constraint, (3, 4))
