"""KinematicsModelingModule: the maths with hand-set weights, options, compile, state_dict, errors."""

import pytest
import torch
import torch.nn.functional as F
from conftest import (
    TEMPORAL_SHAPE_ERRORS,
    assert_compiled_matches_eager,
    assert_state_dict_whatever_the_backend,
    requires_triton,
)
from oracles.kinematics_attention import kinematics_attention_loop

from posemods import KMM, KinematicsModelingModule
from posemods.testing import assert_close


def identity_kmm(joints, **kwargs):
    """C = J and both projections are the identity, so query = feat_cur and key = feat_prev."""
    kmm = KMM(joints, joints, activation="identity", **kwargs).double()
    with torch.no_grad():
        for conv in (kmm.proj_cur, kmm.proj_prev):
            conv.weight.copy_(torch.eye(joints, dtype=torch.float64)[:, :, None, None])
            conv.bias.zero_()
    return kmm


def test_alias():
    assert KMM is KinematicsModelingModule


def test_hand_set_weights_match_the_paper_equations(backend):
    kmm = identity_kmm(4, backend=backend).float()
    feat_prev, feat_cur = torch.rand(2, 4, 5, 3), torch.rand(2, 4, 5, 3)
    heatmap = torch.rand(2, 4, 10, 6)
    prior, attn = kmm(feat_prev, feat_cur, heatmap, return_attention=True)
    expected_prior, expected_attn = kinematics_attention_loop(feat_cur.double(), feat_prev.double(), heatmap.double())
    assert_close(prior, expected_prior.float())
    assert_close(attn, expected_attn.float())


def test_projection_and_activation_are_applied_per_frame():
    kmm = KMM(3, 2, activation="sigmoid").double()
    feat_prev, feat_cur, heatmap = (
        torch.rand(1, 3, 4, 4).double(),
        torch.rand(1, 3, 4, 4).double(),
        torch.rand(1, 2, 4, 4).double(),
    )
    prior = kmm(feat_prev, feat_cur, heatmap)
    query = torch.sigmoid(F.conv2d(feat_cur, kmm.proj_cur.weight, kmm.proj_cur.bias))
    key = torch.sigmoid(F.conv2d(feat_prev, kmm.proj_prev.weight, kmm.proj_prev.bias))
    assert_close(prior, kinematics_attention_loop(query, key, heatmap)[0])


def test_joints_that_swap_places_swap_heatmaps():
    # Joint i's map at frame t equals joint perm[i]'s map at frame t+1, with sharp, disjoint blobs:
    # attention becomes the permutation and the prior moves each heatmap to the joint that took its place.
    joints, perm = 4, torch.tensor([2, 0, 3, 1])
    blobs = torch.zeros(1, joints, 4, 4, dtype=torch.float64)
    for j in range(joints):
        blobs[0, j, j, j] = 30.0
    feat_prev = blobs
    feat_cur = torch.empty_like(blobs)
    feat_cur[0, perm] = blobs[0]  # joint perm[i] now looks like joint i did
    heatmap = torch.rand(1, joints, 8, 8, dtype=torch.float64)
    prior, attn = identity_kmm(joints)(feat_prev, feat_cur, heatmap, return_attention=True)
    expected_attn = torch.zeros(joints, joints, dtype=torch.float64)
    expected_attn[perm, torch.arange(joints)] = 1.0
    assert torch.allclose(attn[0], expected_attn, atol=1e-6)
    assert torch.allclose(prior[0, perm], heatmap[0], atol=1e-5)


def test_shared_projection_is_one_conv():
    shared, separate = KMM(8, 5, shared_projection=True), KMM(8, 5)
    assert shared.shared_projection and not separate.shared_projection
    assert shared.proj_prev is shared.proj_cur
    n_params = lambda m: sum(p.numel() for p in m.parameters())
    assert n_params(separate) == 2 * n_params(shared) == 2 * (8 * 5 + 5)


def test_residual_adds_the_previous_heatmap():
    plain, residual = KMM(6, 3), KMM(6, 3, residual=True)
    residual.load_state_dict(plain.state_dict())
    args = (torch.rand(2, 6, 4, 4), torch.rand(2, 6, 4, 4), torch.rand(2, 3, 8, 8))
    assert torch.allclose(residual(*args), plain(*args) + args[2])


def test_resolution_runs_attention_at_s_by_s():
    kmm = KMM(6, 3, resolution=4)
    feat_prev, feat_cur, heatmap = torch.rand(2, 6, 16, 12), torch.rand(2, 6, 16, 12), torch.rand(2, 3, 32, 24)
    prior, attn = kmm(feat_prev, feat_cur, heatmap, return_attention=True)
    assert prior.shape == heatmap.shape
    resize = lambda t: F.interpolate(t, size=(4, 4), mode="bilinear", align_corners=False, antialias=True)
    query, key = resize(kmm.activation(kmm.proj_cur(feat_cur))), resize(kmm.activation(kmm.proj_prev(feat_prev)))
    expected_attn = torch.softmax(query.flatten(2) @ key.flatten(2).transpose(1, 2) / 4.0, dim=-1)
    assert_close(attn, expected_attn)
    low = expected_attn @ resize(heatmap).flatten(2)
    expected = F.interpolate(low.view(2, 3, 4, 4), size=(32, 24), mode="bilinear", align_corners=False)
    assert_close(prior, expected)


def test_gradcheck_module_float64():
    kmm = KMM(3, 2, activation="sigmoid").double()
    args = [torch.rand(1, 3, 3, 2, dtype=torch.float64, requires_grad=True) for _ in range(2)]
    heatmap = torch.rand(1, 2, 2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(kmm, (*args, heatmap))


def test_state_dict_is_the_same_whatever_the_backend():
    assert_state_dict_whatever_the_backend(lambda backend: KMM(16, 13, backend=backend))


def test_compile_fullgraph_matches_eager(backend):
    args = [torch.rand(2, 8, 6, 4, requires_grad=True), torch.rand(2, 8, 6, 4), torch.rand(2, 5, 12, 8)]
    loss = lambda out: out[0].square().sum()
    assert_compiled_matches_eager(KMM(8, 5, backend=backend), args, loss, return_attention=True)


@pytest.mark.parametrize("args, error, match", TEMPORAL_SHAPE_ERRORS)
def test_module_shape_errors(args, error, match):
    with pytest.raises(error, match=match):
        KMM(8, 5)(*(torch.rand(s) for s in args))


def test_module_rejects_integer_heatmaps_and_bad_config():
    with pytest.raises(TypeError, match="heatmap_prev: expected a floating-point"):
        KMM(2, 2)(torch.rand(1, 2, 2, 2), torch.rand(1, 2, 2, 2), torch.ones(1, 2, 2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="activation: expected one of"):
        KMM(2, 2, activation="gelu")
    with pytest.raises(ValueError, match="num_joints: expected a positive integer"):
        KMM(2, 0)
    with pytest.raises(ValueError, match="backend: expected one of"):
        KMM(2, 2, backend="cuda")


# --- eq. 10's two readings (issue 12) ---------------------------------------------------------------


def test_sum_normalization_is_eq_10_as_printed(backend):
    torch.manual_seed(4)
    kmm = KMM(6, 4, activation="sigmoid", normalization="sum", backend=backend)  # no all-zero map
    feat_prev, feat_cur, heatmap = torch.rand(2, 6, 5, 3), torch.rand(2, 6, 5, 3), torch.rand(2, 4, 5, 3)
    _, attn = kmm(feat_prev, feat_cur, heatmap, return_attention=True)
    key = kmm.activation(kmm.proj_prev(feat_prev)).flatten(2)
    query = kmm.activation(kmm.proj_cur(feat_cur)).flatten(2)
    o = query @ key.transpose(1, 2) / 15**0.5
    assert_close(attn, o / o.sum(-1, keepdim=True))
    assert "normalization='sum'" in repr(kmm)


def test_normalization_is_checked_at_construction():
    with pytest.raises(ValueError, match=r"normalization: expected one of \('softmax', 'sum'\), got 'max'"):
        KMM(4, 3, normalization="max")
    with pytest.raises(ValueError, match=r"normalization: 'sum' .* activation='identity'"):
        KMM(4, 3, activation="identity", normalization="sum")


@pytest.mark.parametrize("normalization", ["softmax", "sum"])
def test_empty_batch_gives_an_empty_prior(backend, normalization):
    kmm = KMM(4, 3, backend=backend, normalization=normalization)
    prior = kmm(torch.rand(0, 4, 2, 2), torch.rand(0, 4, 2, 2), torch.rand(0, 3, 4, 4))
    assert prior.shape == (0, 3, 4, 4)


@pytest.mark.slow
@requires_triton
def test_compile_fullgraph_channels_last_training_on_the_fused_path():
    # Issue 13: fakes that followed the inputs' layout made inductor's stride assertions fail for
    # channels_last features, the common layout of a mixed-precision model.
    torch._dynamo.reset()
    kmm = KMM(8, 5, backend="triton").to(memory_format=torch.channels_last)
    args = [
        torch.rand(2, 8, 6, 4).contiguous(memory_format=torch.channels_last).requires_grad_(),
        torch.rand(2, 8, 6, 4).contiguous(memory_format=torch.channels_last),
        torch.rand(2, 5, 6, 4).contiguous(memory_format=torch.channels_last),
    ]
    eager = kmm(*args)
    compiled = torch.compile(kmm, fullgraph=True)(*args)
    assert_close(compiled, eager)
    (g_eager,) = torch.autograd.grad(eager.square().sum(), args[0])
    (g_compiled,) = torch.autograd.grad(compiled.square().sum(), args[0])
    assert_close(g_compiled, g_eager)


# similarity="cosine": an option outside the paper (the docstring says why); "dot" stays eq. 9.


def _cosine_oracle(query, key, value, temperature):
    """float64, from the option's definition: logits = tau * cos(query_j, key_i) over the H * W positions."""
    q = query.flatten(2) / query.flatten(2).norm(dim=-1, keepdim=True)
    k = key.flatten(2) / key.flatten(2).norm(dim=-1, keepdim=True)
    return kinematics_attention_loop(
        (q * temperature).unflatten(2, query.shape[-2:]), k.unflatten(2, key.shape[-2:]), value, scale=1.0
    )


def test_cosine_similarity_is_tau_times_the_cosine_of_the_joint_maps(backend):
    kmm = identity_kmm(4, backend=backend, similarity="cosine").float()
    feat_prev, feat_cur = torch.rand(2, 4, 5, 3), torch.rand(2, 4, 5, 3)
    heatmap = torch.rand(2, 4, 10, 6)
    prior, attn = kmm(feat_prev, feat_cur, heatmap, return_attention=True)
    tau = float(kmm.log_temperature.detach().exp())
    assert tau == pytest.approx(10.0)
    expected_prior, expected_attn = _cosine_oracle(feat_cur.double(), feat_prev.double(), heatmap.double(), tau)
    assert_close(prior, expected_prior.float())
    assert_close(attn, expected_attn.float())


def test_cosine_similarity_ignores_how_much_mass_a_key_map_has():
    # The reason for the option: a key map scaled up wins every row under "dot", not under "cosine".
    feat_cur = torch.rand(1, 4, 5, 3, dtype=torch.float64)
    feat_prev = feat_cur.clone()
    heavy = feat_prev.clone()
    heavy[:, 2] *= 50
    heatmap = torch.rand(1, 4, 10, 6, dtype=torch.float64)
    dot, cosine = identity_kmm(4), identity_kmm(4, similarity="cosine")
    _, a_dot = dot(heavy, feat_cur, heatmap, return_attention=True)
    assert (a_dot.argmax(-1) == 2).all()  # collapsed onto the heavy key
    _, a_before = cosine(feat_prev, feat_cur, heatmap, return_attention=True)
    _, a_after = cosine(heavy, feat_cur, heatmap, return_attention=True)
    assert_close(a_after, a_before)


def test_cosine_similarity_trains_its_temperature_and_keeps_nan_and_zero_maps_honest():
    kmm = KMM(3, 2, similarity="cosine").double()
    args = [torch.rand(1, 3, 3, 2, dtype=torch.float64, requires_grad=True) for _ in range(2)]
    heatmap = torch.rand(1, 2, 2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(kmm, (*args, heatmap))
    zero = identity_kmm(2, similarity="cosine")
    feats = torch.rand(1, 2, 3, 3, dtype=torch.float64)
    (zero(feats, feats.flip(-1), heatmap) * torch.rand(1, 2, 2, 3)).sum().backward()
    assert zero.log_temperature.grad is not None and zero.log_temperature.grad != 0
    prior = zero(torch.zeros(1, 2, 3, 3, dtype=torch.float64), torch.rand(1, 2, 3, 3, dtype=torch.float64), heatmap)
    assert prior.isfinite().all()
    bad = torch.rand(1, 2, 3, 3, dtype=torch.float64)
    bad[0, 0, 1, 1] = float("nan")
    assert zero(bad, bad, heatmap).isnan().any()


def test_cosine_with_sum_normalization_has_no_temperature_and_dot_adds_no_parameter():
    assert KMM(4, 3, similarity="cosine", normalization="sum").log_temperature is None
    assert list(KMM(4, 3).state_dict()) == ["proj_cur.weight", "proj_cur.bias", "proj_prev.weight", "proj_prev.bias"]
    assert "log_temperature" in KMM(4, 3, similarity="cosine").state_dict()
    with pytest.raises(ValueError, match="similarity"):
        KMM(4, 3, similarity="l2")


def test_compile_fullgraph_matches_eager_with_cosine_similarity(backend):
    torch._dynamo.reset()
    kmm = KMM(8, 5, backend=backend, similarity="cosine")
    args = [torch.rand(2, 8, 6, 4, requires_grad=True), torch.rand(2, 8, 6, 4), torch.rand(2, 5, 12, 8)]
    eager = kmm(*args)
    compiled = torch.compile(kmm, fullgraph=True)(*args)
    assert_close(compiled, eager)
