"""posemods._shapes: integer arguments of any integer type, and no bools or floats posing as sizes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from posemods import BMD, DCA, HKM, KMM
from posemods._shapes import (
    expect_grid_tokens,
    expect_module_device,
    expect_module_dtype,
    expect_odd_size,
    expect_positive,
    expect_shape,
    expect_size,
    is_positive_int,
    is_positive_real,
    is_real,
    is_size,
)

# The contract's rules, written here from the documented contract (CONTRIBUTING: a size or count is an
# integer >= 1 of any integer type; a ratio, sigma or threshold a finite real > 0), value by value. The
# fuzz harness and the property tests decide validity with these predicates, so this table is what
# holds the predicates themselves to the contract.
POSITIVE_INTS = [1, 4, np.int64(2), np.int32(4), np.uint8(4)]
NOT_POSITIVE_INTS = [0, -1, np.int64(0), True, np.bool_(True), 2.0, 2.5, np.float64(4.0), math.nan, "4", None, 1 + 0j]
POSITIVE_REALS = [4.0, 2, 0.5, 1e-3, np.float32(2.0), np.float64(1.5), np.int64(3)]
NOT_POSITIVE_REALS = [0.0, -1.0, math.nan, math.inf, -math.inf, "4", None, True, 1 + 0j, torch.tensor(2.0)]
REALS = [4.0, 2, 0.0, -1.0, math.nan, math.inf, np.float32(2.0), np.int64(3)]
NOT_REALS = ["4", None, True, False, 1 + 0j, torch.tensor(2.0), (1.0,)]
SIZES = [(32, 32), (np.int64(16), 16), [8, 4], (1, 1)]
NOT_SIZES = [(0, 0), (32,), (-1, 8), (16.0, 16), (True, 1), (1, 2, 3), "32", None, 32]


@pytest.mark.parametrize(
    "predicate, yes, no",
    [
        (is_positive_int, POSITIVE_INTS, NOT_POSITIVE_INTS),
        (is_positive_real, POSITIVE_REALS, NOT_POSITIVE_REALS),
        (is_real, REALS, NOT_REALS),
        (is_size, SIZES, NOT_SIZES),
    ],
)
def test_the_validity_predicates_follow_the_contract(predicate, yes, no):
    assert [value for value in yes if not predicate(value)] == []
    assert [value for value in no if predicate(value)] == []


def test_the_validators_refuse_exactly_what_the_predicates_refuse():
    for value in POSITIVE_INTS + NOT_POSITIVE_INTS:
        try:
            expect_positive("dim", value)
        except ValueError:
            assert not is_positive_int(value), value
        else:
            assert is_positive_int(value), value
    for value in SIZES + NOT_SIZES:
        if is_size(value):
            assert expect_size("size", value) == tuple(int(v) for v in value)
        else:
            with pytest.raises(ValueError, match=r"size: expected \(H, W\), two positive integers"):
                expect_size("size", value)
    assert expect_size("size", iter((2, 3))) == (2, 3)  # unpacked once: an iterator is a size too


@pytest.mark.parametrize("value", [4, np.int64(4), np.int32(4), np.uint8(4)])
def test_expect_positive_accepts_integers_of_any_type_and_returns_an_int(value):
    got = expect_positive("dim", value)
    assert got == 4 and type(got) is int


@pytest.mark.parametrize("value", [True, np.bool_(True), 4.0, np.float64(4.0), "4", None, 0, -1, np.int64(0)])
def test_expect_positive_refuses_bools_floats_and_non_positive(value):
    with pytest.raises(ValueError, match=r"dim: expected a positive integer, got"):
        expect_positive("dim", value)


def test_modules_take_numpy_integers():
    """The issue's cases: KMM(in_channels=np.int64(4)) and dim=np.int64(8) for every module."""
    torch.manual_seed(0)
    kmm = KMM(in_channels=np.int64(4), num_joints=np.int64(3))
    assert kmm(torch.randn(1, 4, 5, 5), torch.randn(1, 4, 5, 5), torch.randn(1, 3, 5, 5)).shape == (1, 3, 5, 5)
    dca = DCA(dim=np.int64(8), num_heads=np.int64(2), num_points=np.int64(2))
    assert dca(torch.randn(1, 6, 8), torch.randn(1, 6, 8), hw=(2, 3)).shape == (1, 6, 8)
    hkm = HKM(dim=np.int64(8), num_joints=np.int64(3), num_heads=2)
    assert hkm(torch.randn(1, 3, 6, 8), hw=(2, 3)).features.shape == (1, 6, 8)
    bmd = BMD(dim=np.int64(8), num_heads=2, num_points=2)
    assert bmd(torch.randn(1, 3, 6, 8), torch.randn(1, 6, 8), hw=(2, 3)).shape == (1, 6, 8)


@pytest.mark.parametrize("bad", [True, 4.0])
def test_modules_refuse_bool_and_float_sizes(bad):
    with pytest.raises(ValueError, match="in_channels: expected a positive integer"):
        KMM(in_channels=bad, num_joints=3)
    with pytest.raises(ValueError, match="dim: expected a positive integer"):
        DCA(dim=bad, num_heads=1, num_points=1)


def test_expect_shape_records_and_checks_sizes():
    known: dict = {"C": 3}
    expect_shape("x", torch.zeros(2, 3, 4), "B C 4", known)
    assert known == {"C": 3, "B": 2}
    with pytest.raises(ValueError, match=r"y: expected shape \(B, C\) with B=2, got \(5, 3\) \(B=5 at dim 0\)"):
        expect_shape("y", torch.zeros(5, 3), "B C", known)
    with pytest.raises(ValueError, match=r"z: expected shape \(B, 4\) with 4=4"):
        expect_shape("z", torch.zeros(2, 5), "B 4", known)


def test_inputs_on_another_device_than_the_module_are_named():
    """Issue 15: "Tensor on device cpu is not on the expected device meta" named nothing."""
    hkm = HKM(dim=8, num_joints=3, num_heads=2).to("meta")
    with pytest.raises(
        ValueError, match=r"feats: on device cpu but HumanKeypointMask's parameters are on meta; move one"
    ):
        hkm(torch.randn(1, 3, 6, 8), hw=(2, 3))
    dca = DCA(dim=8, num_heads=2, num_points=2)
    with pytest.raises(ValueError, match=r"x: on device meta but DeformableCrossAttention's parameters are on cpu"):
        dca(torch.randn(1, 6, 8, device="meta"), torch.randn(1, 6, 8, device="meta"), hw=(2, 3))
    bmd = BMD(dim=8, num_heads=2, num_points=2).to("meta")
    with pytest.raises(ValueError, match=r"feats: on device cpu but BidirectionalMotionDisentangle's"):
        bmd(torch.randn(1, 3, 6, 8), torch.randn(1, 6, 8), hw=(2, 3))


@pytest.mark.parametrize("value", [1, 3, np.int64(5)])
def test_expect_odd_size_returns_odd_integers_as_int(value):
    got = expect_odd_size("kernel_size", value)
    assert got == int(value) and type(got) is int


@pytest.mark.parametrize("value", [2, 4, np.int64(6)])
def test_expect_odd_size_refuses_even_sizes_naming_the_argument(value):
    with pytest.raises(ValueError, match=rf"kernel_size: expected an odd size so the map keeps H x W, got {value}"):
        expect_odd_size("kernel_size", value)


def test_dc_refuses_an_even_kernel_size():
    from posemods.modules.deformable_conv_motion import DeformableConvMotion

    with pytest.raises(ValueError, match="kernel_size: expected an odd size"):
        DeformableConvMotion(8, num_heads=2, kernel_size=4)
    with pytest.raises(ValueError, match="kernel_size: expected a positive integer"):
        DeformableConvMotion(8, num_heads=2, kernel_size=0)


def test_a_sequence_of_prefix_tokens_only_is_refused_naming_the_argument():
    """P prefix tokens need at least one grid token after them: L = P gives no H x W grid at all."""
    with pytest.raises(ValueError, match=r"feats: expected more than num_prefix_tokens=6 tokens, got L=6"):
        HKM(dim=8, num_joints=3, num_heads=2, num_prefix_tokens=6)(torch.randn(1, 3, 6, 8))
    with pytest.raises(ValueError, match=r"feats: expected more than num_prefix_tokens=6 tokens, got L=6"):
        BMD(dim=8, num_heads=2, num_points=2, num_prefix_tokens=6)(
            torch.randn(1, 3, 6, 8), torch.randn(1, 6, 8), hw=(2, 3)
        )
    with pytest.raises(ValueError, match=r"x: expected more than num_prefix_tokens=7 tokens, got L=6"):
        DCA(dim=8, num_heads=2, num_points=2, num_prefix_tokens=7)(torch.randn(1, 6, 8), torch.randn(1, 6, 8), (2, 3))


def test_expect_grid_tokens_is_the_length_after_the_prefix():
    assert expect_grid_tokens("x", 7, 1) == 6 and expect_grid_tokens("x", 6, 0) == 6
    with pytest.raises(ValueError, match=r"x: expected more than num_prefix_tokens=2 tokens, got L=1"):
        expect_grid_tokens("x", 1, 2)


def test_the_deformable_choices_are_the_values_of_their_annotations():
    """OPERATORS, REFERENCE_POINTS and OFFSET_CONVS are read from the Literal types: one list each."""
    from posemods.modules import motion_operator, offsets

    assert motion_operator.OPERATORS == ("dca", "da", "dc")
    assert motion_operator.REFERENCE_POINTS == ("grid", "constraint")
    assert offsets.OFFSET_CONVS == ("depthwise", "full")
    with pytest.raises(ValueError, match=r"operator: expected one of \('dca', 'da', 'dc'\), got 'conv'"):
        BMD(dim=8, num_heads=2, operator="conv")


def test_a_module_passes_when_any_of_its_parameters_matches_and_when_it_has_none():
    """bf16 weights with an fp32 norm take fp32 and bf16 inputs; fp16 names every dtype the module has."""
    mixed = torch.nn.Sequential(torch.nn.Linear(2, 2).to(torch.bfloat16), torch.nn.LayerNorm(2))
    for dtype in (torch.float32, torch.bfloat16):
        expect_module_dtype("x", torch.zeros(1, 2, dtype=dtype), mixed)
    with pytest.raises(
        TypeError, match=r"x: dtype torch.float16 but Sequential's parameters are torch.bfloat16, torch.float32"
    ):
        expect_module_dtype("x", torch.zeros(1, 2, dtype=torch.float16), mixed)
    expect_module_dtype("x", torch.zeros(1, dtype=torch.float64), torch.nn.ReLU())  # no parameters: nothing to match
    expect_module_device("x", torch.zeros(1, device="meta"), torch.nn.ReLU())
    with pytest.raises(ValueError, match=r"x: on device meta but Linear's parameters are on cpu"):
        expect_module_device("x", torch.zeros(1, device="meta"), torch.nn.Linear(2, 2))
