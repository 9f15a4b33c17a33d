"""The benchmark's DCA providers compute the same function, so their times and memory compare like with like."""

import pytest
import torch

import posemods
from benchmarks.providers.dca_module import CORES, dca_forward
from benchmarks.providers.deformable_attention import PROVIDERS, make_inputs
from posemods.testing import assert_close


@pytest.mark.parametrize("name", ["naive_grid_sample", "deformable_detr_style", "posemods_triton"])
def test_attention_providers_match_the_reference(name):
    inputs = {k: v.double() for k, v in make_inputs(2, (5, 4), 16, 2, 3).items()}
    if name == "posemods_triton":
        inputs = {k: v.float() for k, v in inputs.items()}
    expected = PROVIDERS["posemods_reference"](**inputs, hw=(5, 4), scale=0.3)
    assert_close(PROVIDERS[name](**inputs, hw=(5, 4), scale=0.3), expected, name=name)


@pytest.mark.parametrize("core", [c for c in CORES if c != "posemods reference"])
def test_module_cores_match_the_module(core):
    torch.manual_seed(0)
    dca = posemods.DCA(16, num_heads=2, num_points=3, qkv_bias=False).double()
    x, constraint = torch.randn(2, 20, 16).double(), torch.randn(2, 20, 16).double()
    with torch.no_grad():
        dca.offsets.theta.weight.normal_(0, 0.05)  # points off the initial rings, some beyond the map
    if core == "posemods triton":
        dca, x, constraint = dca.float(), x.float(), constraint.float()
    assert_close(dca_forward(dca, core, x, constraint, (5, 4)), dca(x, constraint, (5, 4)), name=core)
