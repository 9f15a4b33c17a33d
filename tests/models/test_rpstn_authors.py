"""RPSTN and DKD held against the RPSTN authors' code (github:YHDang/RPSTN, commit f7dcd3e).

The literal parameter counts below were obtained from THEIR code, once, by instantiating
``lib/models/dkd_net.py:DKD_Network`` (``get_dkd_net(config, False, is_train=True)`` with the
repository's ``lib/core/config.py``; ``get_pose_net`` called with ``is_train=False`` so that no MPII
checkpoint is read) with torch 2.14.1 and summing ``p.numel()`` per child module.

The oracle ``tests/oracles/rpstn_model.py`` transcribes their forward. It was checked once against
the authors' own ``DKD_Network.forward`` on the same arrays: float64, eval mode, every BatchNorm's
weight, bias and statistics random (so the JRE's residual branch is live), B = 2, T = 5, J = 13,
C = 256, 64 x 64 maps, ``pose_net`` and ``fea_ext`` replaced by modules returning fixed random
heatmaps and features, their ``np.save`` and ``pdb.set_trace`` stubbed out. Largest output 1.1e8;
``max |oracle - theirs| = 0.0``. With the JRE's reshape fixed (``authors_reshape=False``) the oracle
differs from theirs by up to 5.6e7, so that switch is not a no-op.
"""

import pytest
import torch
from oracles.rpstn_model import authors_project, authors_propagate, authors_rpstn

from posemods.models import DKD, RPSTN, PoseKernelDistillator, count_parameters
from posemods.testing import assert_close

# DKD_Network's children, counted from the authors' code (see the module docstring).
AUTHORS = {
    "pose_net": 52_990_797,  # SimpleBaseline, ResNet-101, 13-joint 1x1 layer
    "fea_ext": 33_995_328,  # SimpleBaseline, ResNet-50, without the 1x1 layer
    "conv1x1_reduce_dim": 69_120,
    "pose_conv1x1_V": 65_792,
    "pose_conv1x1_U": 3_341,
    "bn_u": 26,
    "bn": 512,
    "dkd_param_adapter": 2_362_368,
    "non_local_conv2d": 754,  # g 182, W 208, theta 182, phi 182 (theta and phi never called)
}
AUTHORS_TOTAL = 89_488_038
UNUSED_THETA_PHI = 364
DISTILLATION = ("conv1x1_reduce_dim", "pose_conv1x1_V", "pose_conv1x1_U", "bn_u", "bn", "dkd_param_adapter")


def test_the_authors_counts_add_up():
    assert sum(AUTHORS.values()) == AUTHORS_TOTAL


def test_parameter_counts_beside_the_authors():
    with torch.device("meta"):  # structure only
        rpstn, dkd = count_parameters(RPSTN(13)), count_parameters(DKD(13))
        distillator = count_parameters(PoseKernelDistillator(256, 13))["total"]
    assert rpstn["initializer"] == AUTHORS["pose_net"]
    assert rpstn["encoder"] == AUTHORS["fea_ext"]
    assert distillator == sum(AUTHORS[k] for k in DISTILLATION)
    assert rpstn["temporal"] == distillator
    # The relation decoder: their JRE without theta/phi, plus its own BatchNorm (theirs shares bn_u).
    assert rpstn["decoder"] == AUTHORS["non_local_conv2d"] - UNUSED_THETA_PHI + AUTHORS["bn_u"]
    assert rpstn["total"] == AUTHORS_TOTAL - UNUSED_THETA_PHI + AUTHORS["bn_u"] == 89_487_700
    # DKD: their RPSTN without the relation extractor.
    assert dkd["total"] == AUTHORS_TOTAL - AUTHORS["non_local_conv2d"] == 89_487_284


def authors_keys(model):
    """posemods' RPSTN parameters under DKD_Network's state_dict keys (the block-by-block mapping)."""
    names = {
        "temporal.project": "pose_conv1x1_V",
        "temporal.reduce": "conv1x1_reduce_dim",
        "temporal.norm": "bn",
        "temporal.kernel_net": "dkd_param_adapter",
        "temporal.to_joints": "pose_conv1x1_U",
        "temporal.joint_norm": "bn_u",
        "decoder.relation.value": "non_local_conv2d.g",
        "decoder.relation.out": "non_local_conv2d.W.0",
        "decoder.relation.norm": "non_local_conv2d.W.1",
    }
    out = {}
    for key, value in model.state_dict().items():
        for ours, theirs in names.items():
            if key.startswith(ours + "."):
                out[theirs + key[len(ours) :]] = value
    return out


def randomised_rpstn(channels, joints, seed=0):
    """A float64 RPSTN in eval mode, every BatchNorm random; the decoder's BatchNorm set equal to the
    distillator's, as the authors' one shared ``bn_u``."""
    torch.manual_seed(seed)
    model = RPSTN(joints, initializer_backbone="resnet18", encoder_backbone="resnet18", channels=channels)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen))
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen))
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)
        model.decoder.norm.load_state_dict(model.temporal.joint_norm.state_dict())
    return model.double().eval()


def test_distillator_is_the_authors_step():
    # 64 x 64 maps: the authors' AdaptiveConv2d has padding=3, which only fits their 7 x 7 kernels.
    model = randomised_rpstn(channels=8, joints=4)
    sd = authors_keys(model)
    gen = torch.Generator().manual_seed(1)
    feat_prev, feat_cur = (torch.randn(2, 8, 64, 64, generator=gen, dtype=torch.float64) for _ in range(2))
    heat = torch.randn(2, 4, 64, 64, generator=gen, dtype=torch.float64)
    with torch.no_grad():
        expected, _ = authors_propagate(heat, authors_project(feat_prev, sd), feat_cur, sd)
        assert_close(model.temporal(feat_prev, feat_cur, heat), expected)


def test_recursion_is_the_authors_forward_but_for_two_documented_differences():
    model = randomised_rpstn(channels=8, joints=4, seed=2)
    sd = authors_keys(model)
    gen = torch.Generator().manual_seed(3)
    initial = torch.randn(1, 4, 64, 64, generator=gen, dtype=torch.float64)
    features = [torch.randn(1, 8, 64, 64, generator=gen, dtype=torch.float64) for _ in range(3)]
    with torch.no_grad():
        heat = model._decode(initial)
        ours = [heat]
        for t in range(1, 3):
            heat = model.step(features[t - 1], features[t], heat)
            ours.append(heat)
        ours = torch.stack(ours, 1)
        expected = authors_rpstn(initial, features, sd, authors_reshape=False, project_first_frame=True)
        assert_close(ours, expected)
        # The authors' forward differs in exactly those two places (see JointRelationExtractor and
        # PoseKernelDistillator): each switch alone changes the output.
        for switch in ({"authors_reshape": True}, {"project_first_frame": False}):
            options = {"authors_reshape": False, "project_first_frame": True, **switch}
            assert not torch.allclose(authors_rpstn(initial, features, sd, **options), expected, atol=1e-3)


def test_initialisation_follows_init_weights():
    torch.manual_seed(0)
    pkd = PoseKernelDistillator(256, 13)
    # DKD_Network.init_weights: Kaiming normal (fan_out, ReLU) and zero bias for conv1x1_reduce_dim and
    # dkd_param_adapter's convs.
    for conv in (pkd.reduce, *(m for m in pkd.kernel_net if isinstance(m, torch.nn.Conv2d))):
        fan_out = conv.out_channels * conv.kernel_size[0] * conv.kernel_size[1]
        assert conv.weight.std().item() == pytest.approx((2.0 / fan_out) ** 0.5, rel=0.05)
        assert torch.equal(conv.bias, torch.zeros_like(conv.bias))
    # pose_conv1x1_V and pose_conv1x1_U keep torch's default (init_weights' loop over named_modules()
    # pairs never matches nn.Conv2d): uniform within 1 / sqrt(fan_in), biases included.
    for conv in (pkd.project, pkd.to_joints):
        bound = conv.in_channels**-0.5
        assert conv.bias.abs().max() <= bound and conv.bias.abs().max() > 0
    model = RPSTN(4, initializer_backbone="resnet18", encoder_backbone="resnet18", channels=8)
    norm = model.decoder.relation.norm  # W[1] of _JREModule: nn.init.constant_(..., 0) for weight and bias
    assert torch.equal(norm.weight, torch.zeros(4)) and torch.equal(norm.bias, torch.zeros(4))
