"""The joint relation extractor: the maths, and that the joint axis never gets scrambled."""

import pytest
import torch
from oracles.joint_relation import joint_relation_loop
from oracles.rpstn_model import authors_jre

from posemods.models import JointRelationExtractor, RelationDecoder, count_parameters
from posemods.testing import assert_close


def randomised(joints, seed=0):
    """A JRE in eval mode with every weight and BN statistic random (the residual branch is live)."""
    gen = torch.Generator().manual_seed(seed)
    jre = JointRelationExtractor(joints).double().eval()
    with torch.no_grad():
        for p in jre.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64))
        jre.norm.running_mean.copy_(torch.randn(joints, generator=gen, dtype=torch.float64))
        jre.norm.running_var.copy_(torch.rand(joints, generator=gen, dtype=torch.float64) + 0.5)
    return jre


def test_matches_the_loop_oracle():
    jre = randomised(4)
    x = torch.rand(2, 4, 3, 5, dtype=torch.float64)
    with torch.no_grad():
        expected = joint_relation_loop(
            x,
            jre.value.weight[:, :, 0, 0],
            jre.value.bias,
            jre.out.weight[:, :, 0, 0],
            jre.out.bias,
            jre.norm.running_mean,
            jre.norm.running_var,
            jre.norm.weight,
            jre.norm.bias,
            jre.norm.eps,
        )
    out, attn = jre(x, return_attention=True)
    assert_close(out, expected)
    assert attn.shape == (2, 4, 4)
    # The authors' F.softmax(f, dim=1): each column sums to 1, the rows in general do not.
    assert_close(attn.sum(1), torch.ones(2, 4, dtype=torch.float64))
    assert not torch.allclose(attn.sum(2), torch.ones(2, 4, dtype=torch.float64))


def jre_state_dict(jre):
    """posemods' JRE under the authors' state_dict keys (jre_module.py: g, W.0, W.1)."""
    names = {"value": "g", "out": "W.0", "norm": "W.1"}
    return {f"non_local_conv2d.{names[k.split('.')[0]]}.{k.split('.', 1)[1]}": v for k, v in jre.state_dict().items()}


def test_is_the_authors_jre_with_the_joint_axis_kept():
    # tests/oracles/rpstn_model.py transcribes _JREModule.forward; it was checked once against the
    # authors' DKD_Network.forward (see tests/models/test_rpstn_authors.py).
    jre = randomised(13, seed=5)
    x = torch.rand(2, 13, 8, 6, dtype=torch.float64)
    with torch.no_grad():
        sd = jre_state_dict(jre)
        assert_close(jre(x), authors_jre(x, sd, authors_reshape=False))
        # Their permute-then-view mixes joints and pixels: a different map altogether.
        assert not torch.allclose(jre(x), authors_jre(x, sd, authors_reshape=True), atol=1e-3)


def test_parameters_against_the_authors_jre():
    # JREModule(13, sub_sample=False, in_split=False, is_joint=True) in github:YHDang/RPSTN f7dcd3e,
    # counted by instantiating it: g 182, W 208 (conv 182, BatchNorm 26), theta 182, phi 182 = 754.
    # theta and phi are never called in that branch, so posemods builds 754 - 364 = 390.
    assert count_parameters(JointRelationExtractor(13))["total"] == 754 - 2 * 182
    # The decoder adds the BatchNorm bn_u (26) that follows the JRE in DKD_Network.forward.
    assert count_parameters(RelationDecoder(13))["total"] == 754 - 2 * 182 + 26


def test_starts_as_the_identity():
    jre = JointRelationExtractor(5)
    x = torch.rand(3, 5, 4, 4)
    assert torch.equal(jre(x), x)  # train mode
    assert torch.equal(jre.eval()(x), x)


def test_output_channels_depend_only_on_related_joints():
    # Joints {0, 1} and {2, 3, 4} live on disjoint pixels with large values and scale 1, so the
    # attention between the groups underflows to exactly 0. With a diagonal value conv, output
    # channel j then depends only on the joints of its own group (through the out conv and the
    # attention) and on itself; a reshape that mixes the joint and pixel axes breaks this.
    jre = randomised(5)
    with torch.no_grad():
        jre.value.weight.copy_(torch.diag(torch.rand(5, dtype=torch.float64) + 0.5)[:, :, None, None])
        out_weight = torch.zeros(5, 5, dtype=torch.float64)
        out_weight[:2, :2] = torch.rand(2, 2) + 0.5
        out_weight[2:, 2:] = torch.rand(3, 3) + 0.5
        jre.out.weight.copy_(out_weight[:, :, None, None])
    x = torch.zeros(1, 5, 4, 4, dtype=torch.float64)
    x[0, :2, :2] = 30.0 + torch.rand(2, 2, 4, dtype=torch.float64)
    x[0, 2:, 2:] = 30.0 + torch.rand(3, 2, 4, dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(jre, x)[0, :, :, :, 0].sum(dim=(1, 2, 4, 5))  # (J_out, J_in)
    groups = torch.tensor([0, 0, 1, 1, 1])
    same_group = groups[:, None] == groups[None, :]
    assert torch.all(jac[~same_group] == 0), jac
    assert torch.all(jac.diagonal() != 0), jac  # and the residual keeps each joint's own path


def test_pixel_permutation_commutes():
    jre = randomised(4, seed=1)
    x = torch.rand(2, 4, 3, 4, dtype=torch.float64)
    perm = torch.randperm(12)
    permute = lambda t: t.flatten(2)[:, :, perm].view_as(t)
    assert_close(jre(permute(x)), permute(jre(x)))


def test_joint_permutation_commutes_with_conjugated_weights():
    jre = randomised(5, seed=2)
    perm = torch.tensor([3, 0, 4, 1, 2])
    permuted = randomised(5, seed=2)
    with torch.no_grad():
        for conv in ("value", "out"):
            w, b = getattr(jre, conv).weight, getattr(jre, conv).bias
            getattr(permuted, conv).weight.copy_(w[perm][:, perm])
            getattr(permuted, conv).bias.copy_(b[perm])
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(permuted.norm, name).copy_(getattr(jre.norm, name)[perm])
    x = torch.rand(2, 5, 3, 3, dtype=torch.float64)
    assert_close(permuted(x[:, perm]), jre(x)[:, perm])


def test_samples_are_independent_in_eval_mode():
    jre = randomised(3, seed=3)
    x = torch.rand(3, 3, 2, 2, dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(jre, x)  # (B, J, H, W, B, J, H, W)
    per_pair = jac.abs().sum(dim=(1, 2, 3, 5, 6, 7))
    assert torch.all(per_pair[~torch.eye(3, dtype=torch.bool)] == 0)


def test_gradcheck_float64():
    jre = randomised(3, seed=4)
    x = torch.rand(2, 3, 2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(jre, (x,))


def test_compiles_without_graph_breaks():
    torch._dynamo.reset()
    jre = JointRelationExtractor(4)
    x = torch.rand(2, 4, 5, 5)
    assert_close(torch.compile(jre, backend="aot_eager", fullgraph=True)(x), jre(x))


@pytest.mark.parametrize(
    "shape, dtype, error, match",
    [
        ((2, 3, 4, 4), torch.float32, ValueError, r"heatmaps: .*J=4.*J=3"),
        ((4, 4, 4), torch.float32, ValueError, r"heatmaps: expected a 4-D tensor \(B, J, H, W\)"),
        ((1, 4, 4, 4), torch.int64, TypeError, "heatmaps: expected a floating-point"),
    ],
)
def test_errors(shape, dtype, error, match):
    with pytest.raises(error, match=match):
        JointRelationExtractor(4)(torch.ones(shape, dtype=dtype))


def test_nan_in_nan_out():
    x = torch.rand(1, 3, 4, 4)
    x[0, 1, 2, 2] = float("nan")
    assert JointRelationExtractor(3).eval()(x).isnan().any()
