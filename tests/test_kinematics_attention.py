"""posemods.functional.kinematics_attention: oracle, gradients, fused parity, errors.

The fused-path tests take the ``device`` fixture: CPU (the interpreter) always, CUDA (compiled) under
``pytest -m cuda`` on a GPU machine.
"""

import functools

import pytest
import torch
from conftest import requires_triton
from oracles.kinematics_attention import kinematics_attention_loop

from posemods import functional, reference
from posemods.testing import assert_close, outputs_and_grads, parity_errors


def make_inputs(batch, joints, hw, value_hw=None, dtype=torch.float32, seed=0, device="cpu"):
    gen = torch.Generator().manual_seed(seed)  # on the CPU, so every device gets the same numbers
    value_hw = value_hw or hw
    return {
        "query": torch.randn(batch, joints, *hw, generator=gen).relu().to(device, dtype),
        "key": torch.randn(batch, joints, *hw, generator=gen).relu().to(device, dtype),
        "value": torch.rand(batch, joints, *value_hw, generator=gen).to(device, dtype),
    }


# --- the reference is the paper --------------------------------------------------------------------


# Eq. 10 both ways: "softmax" as its text reads, "sum" as its formula is printed (see below).
@pytest.mark.parametrize("normalization", ["softmax", "sum"])
@pytest.mark.parametrize("shape", [(2, 3, (3, 2), (2, 4)), (1, 1, (2, 2), None), (2, 4, (1, 3), (3, 1))])
def test_reference_matches_loop_oracle_forward_and_grads(shape, normalization):
    batch, joints, hw, value_hw = shape
    inputs = make_inputs(batch, joints, hw, value_hw, dtype=torch.float64)
    ref_fn = functools.partial(functional.kinematics_attention, backend="reference", normalization=normalization)
    oracle = functools.partial(kinematics_attention_loop, normalization=normalization)
    out, grads, cot = outputs_and_grads(ref_fn, inputs)
    oracle_out, oracle_grads, _ = outputs_and_grads(oracle, inputs, cotangents=cot)
    for a, e, name in zip(out, oracle_out, ("pred", "attn")):
        assert_close(a, e, name=name)
    for name in grads:
        assert_close(grads[name], oracle_grads[name], name=f"grad {name}")


def test_default_scale_is_inverse_sqrt_of_positions():
    inputs = make_inputs(1, 3, (4, 5), dtype=torch.float64)
    _, attn = functional.kinematics_attention(**inputs, backend="reference")
    _, attn_explicit = functional.kinematics_attention(**inputs, scale=20**-0.5, backend="reference")
    _, attn_other = functional.kinematics_attention(**inputs, scale=1.0, backend="reference")
    assert torch.equal(attn, attn_explicit)
    assert not torch.allclose(attn, attn_other)


def test_attention_rows_are_distributions_over_previous_joints():
    inputs = make_inputs(2, 5, (4, 3), dtype=torch.float64)
    _, attn = functional.kinematics_attention(**inputs)
    assert (attn >= 0).all()
    assert_close(attn.sum(-1), torch.ones(2, 5, dtype=torch.float64))


def test_reference_gradcheck_float64():
    inputs = make_inputs(2, 3, (3, 2), (2, 3), dtype=torch.float64)
    args = [t.requires_grad_() for t in inputs.values()]
    fn = lambda q, k, v: functional.kinematics_attention(q, k, v, backend="reference")
    assert torch.autograd.gradcheck(fn, args)
    assert torch.autograd.gradgradcheck(fn, args)


# --- fused kernels in the interpreter ---------------------------------------------------------------

PARITY_SHAPES = [
    # (B, J, (H, W), value (Hv, Wv))
    (2, 13, (7, 5), None),
    (1, 1, (7, 5), (3, 2)),
    (2, 15, (46, 46), None),
    (1, 17, (64, 48), (32, 24)),
    (1, 17, (8, 6), (64, 48)),
    (1, 133, (7, 5), (9, 3)),
]


@requires_triton
@pytest.mark.parametrize("shape", PARITY_SHAPES, ids=lambda s: f"B{s[0]}-J{s[1]}-{s[2]}-v{s[3]}")
def test_triton_matches_reference_fp32(shape, device):
    batch, joints, hw, value_hw = shape
    inputs = make_inputs(batch, joints, hw, value_hw, device=device)
    ref_fn = functools.partial(functional.kinematics_attention, backend="reference")
    tri_fn = functools.partial(functional.kinematics_attention, backend="triton")
    parity_errors(ref_fn, tri_fn, inputs, dtype=torch.float32)


@requires_triton
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("shape", [(2, 17, (7, 5), (9, 4)), (1, 133, (3, 5), None)])
def test_triton_matches_reference_half(dtype, shape, device):
    batch, joints, hw, value_hw = shape
    inputs = make_inputs(batch, joints, hw, value_hw, device=device)
    ref_fn = functools.partial(functional.kinematics_attention, backend="reference")
    tri_fn = functools.partial(functional.kinematics_attention, backend="triton")
    parity_errors(ref_fn, tri_fn, inputs, dtype=dtype)


@requires_triton
def test_triton_gradient_through_attention_output_only(device):
    # A loss on the attention alone (e.g. a supervision on Fig. 4-style maps) must reach query and key.
    inputs = make_inputs(2, 5, (3, 4), device=device)
    for backend in ("reference", "triton"):
        q, k, v = (t.clone().requires_grad_() for t in inputs.values())
        _, attn = functional.kinematics_attention(q, k, v, backend=backend)
        (attn * torch.arange(5.0, device=device)).sum().backward()
        if backend == "reference":
            expected = (q.grad, k.grad)
        else:
            assert_close(q.grad, expected[0], name="grad query")
            assert_close(k.grad, expected[1], name="grad key")
            assert torch.equal(v.grad, torch.zeros_like(v))


@requires_triton
def test_triton_accepts_expanded_incoming_gradient(device):
    # .sum().backward() hands the op a stride-0 gradient; the kernels must read it correctly.
    inputs = make_inputs(1, 4, (3, 3), device=device)
    grads = {}
    for backend in ("reference", "triton"):
        q = inputs["query"].clone().requires_grad_()
        pred, _ = functional.kinematics_attention(q, inputs["key"], inputs["value"], backend=backend)
        pred.sum().backward()
        grads[backend] = q.grad
    assert_close(grads["triton"], grads["reference"], name="grad query")


@requires_triton
def test_triton_backward_is_deterministic(device):
    inputs = make_inputs(2, 17, (9, 7), device=device)
    runs = [
        outputs_and_grads(functools.partial(functional.kinematics_attention, backend="triton"), inputs)[1]
        for _ in range(2)
    ]
    for name in runs[0]:
        assert torch.equal(runs[0][name], runs[1][name]), name


@requires_triton
def test_triton_handles_empty_batch(device):
    inputs = make_inputs(0, 3, (2, 2), device=device)
    pred, attn = functional.kinematics_attention(**inputs, backend="triton")
    assert pred.shape == (0, 3, 2, 2) and attn.shape == (0, 3, 3)


# --- NaN and bad input ------------------------------------------------------------------------------


def test_nan_in_gives_nan_out(backend, device):
    inputs = make_inputs(1, 3, (2, 3), device=device)
    inputs["query"][0, 1, 0, 0] = float("nan")
    inputs["value"][0, 2, 1, 1] = float("nan")
    pred, attn = functional.kinematics_attention(**inputs, backend=backend)
    assert attn[0, 1].isnan().all()  # a NaN query pixel poisons that joint's row
    assert not attn[0, 0].isnan().any()
    assert pred[0, 1].isnan().all()
    assert pred[0, 0, 1, 1].isnan() and not pred[0, 0, 0, 0].isnan()


@pytest.mark.parametrize(
    "change, error, match",
    [
        (lambda i: i.update(query=i["query"][0]), ValueError, r"query: expected a 4-D tensor \(B, J, H, W\)"),
        (lambda i: i.update(key=i["key"][:, :2]), ValueError, r"key: .*J=3.*J=2"),
        (lambda i: i.update(value=i["value"][:, :2]), ValueError, r"value: .*J=3.*J=2"),
        (lambda i: i.update(key=i["key"][..., :1]), ValueError, r"key: .*W=2.*W=1"),
        (lambda i: i.update(value=i["value"][:1]), ValueError, r"value: .*B=2.*B=1"),
        (lambda i: i.update(query=i["query"].long()), TypeError, r"query: expected a floating-point .*int64"),
        (lambda i: i.update(value=i["value"].double()), TypeError, r"value has dtype torch.float64"),
        (lambda i: i.update(value=i["value"].to("meta")), ValueError, r"value has device meta"),
    ],
)
def test_bad_inputs_raise_clear_errors(change, error, match):
    inputs = make_inputs(2, 3, (4, 2))
    change(inputs)
    with pytest.raises(error, match=match):
        functional.kinematics_attention(**inputs)


def test_reference_module_is_the_functional_truth():
    # functional(backend="reference") is exactly the shipped reference, which tests elsewhere rely on.
    inputs = make_inputs(2, 4, (3, 3))
    a = functional.kinematics_attention(**inputs, backend="reference")
    b = reference.kinematics_attention(**inputs, scale=1 / 3)
    assert all(torch.equal(x, y) for x, y in zip(a, b))


# --- eq. 10 as printed: normalization="sum" ---------------------------------------------------------


def test_sum_normalization_is_the_printed_ratio_by_hand():
    # Two joints on a 1 x 2 map: o = scale * <q_j, k_i>, w = o / sum_l o (eq. 10 as printed).
    query = torch.tensor([[[[1.0, 0.0]], [[1.0, 1.0]]]], dtype=torch.float64)
    key = torch.tensor([[[[3.0, 0.0]], [[1.0, 2.0]]]], dtype=torch.float64)
    value = torch.tensor([[[[1.0]], [[0.0]]]], dtype=torch.float64)
    _, attn = functional.kinematics_attention(query, key, value, scale=0.5, normalization="sum")
    # row 0: o = (1.5, 0.5) -> (3/4, 1/4); row 1: o = (1.5, 1.5) -> (1/2, 1/2)
    assert torch.equal(attn, torch.tensor([[[0.75, 0.25], [0.5, 0.5]]], dtype=torch.float64))


def test_sum_normalization_gradcheck_float64():
    inputs = make_inputs(2, 3, (3, 2), (2, 3), dtype=torch.float64)
    args = [(t + 0.1).requires_grad_() for t in inputs.values()]  # sums away from 0, where w has a kink
    fn = lambda q, k, v: functional.kinematics_attention(q, k, v, backend="reference", normalization="sum")
    assert torch.autograd.gradcheck(fn, args)
    assert torch.autograd.gradgradcheck(fn, args)


def test_sum_normalization_zero_row_is_uniform_never_nan(backend, device):
    inputs = make_inputs(1, 4, (3, 3), device=device)
    inputs["query"][0, 2] = 0.0  # joint 2's logits are all exactly 0
    q, k, v = (t.clone().requires_grad_() for t in inputs.values())
    pred, attn = functional.kinematics_attention(q, k, v, backend=backend, normalization="sum")
    assert torch.equal(attn[0, 2], torch.full((4,), 0.25, device=device))
    assert_close(pred[0, 2], inputs["value"][0].mean(0), name="pred of the zero row")
    (pred.sum() + attn.sum()).backward()
    for t in (q, k, v):
        assert t.grad.isfinite().all()
    assert torch.equal(q.grad[0, 2], torch.zeros(3, 3, device=device))  # the constant row passes no gradient


def test_sum_normalization_keeps_nan_in_nan_out(backend, device):
    inputs = make_inputs(1, 3, (2, 3), device=device)
    inputs["query"][0, 1, 0, 0] = float("nan")
    _, attn = functional.kinematics_attention(**inputs, backend=backend, normalization="sum")
    assert attn[0, 1].isnan().all() and not attn[0, 0].isnan().any()


@requires_triton
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("shape", [(2, 13, (7, 5), None), (1, 17, (8, 6), (16, 12)), (1, 33, (3, 5), (2, 2))])
def test_triton_sum_normalization_matches_reference(dtype, shape, device):
    batch, joints, hw, value_hw = shape
    inputs = make_inputs(batch, joints, hw, value_hw, device=device)
    ref_fn = functools.partial(functional.kinematics_attention, backend="reference", normalization="sum")
    tri_fn = functools.partial(functional.kinematics_attention, backend="triton", normalization="sum")
    parity_errors(ref_fn, tri_fn, inputs, dtype=dtype)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"normalization": "l1"}, ValueError, r"normalization: expected one of \('softmax', 'sum'\), got 'l1'"),
        ({"normalization": "sum", "scale": -1.0}, ValueError, r"scale: normalization='sum' needs a positive"),
    ],
)
def test_normalization_arguments_are_checked(kwargs, error, match):
    with pytest.raises(error, match=match):
        functional.kinematics_attention(**make_inputs(1, 2, (2, 2)), **kwargs)


def test_sum_normalization_refuses_negative_maps():
    inputs = make_inputs(1, 2, (2, 2))
    inputs["key"][0, 1, 0, 0] = -0.5
    with pytest.raises(ValueError, match=r"key: normalization='sum' needs non-negative maps.*-0.5"):
        functional.kinematics_attention(**inputs, normalization="sum")


# --- issue 15: scale and empty batches --------------------------------------------------------------


@pytest.mark.parametrize("scale", ["0.5", 1j, [1.0], True], ids=repr)
def test_scale_must_be_a_real_number(scale):
    with pytest.raises(TypeError, match=r"scale: expected a real number"):
        functional.kinematics_attention(**make_inputs(1, 2, (2, 2)), scale=scale)


@pytest.mark.parametrize("normalization", ["softmax", "sum"])
def test_empty_batch_gives_empty_results(backend, normalization, device):
    inputs = make_inputs(0, 3, (2, 4), (5, 1), device=device)
    q, k, v = (t.clone().requires_grad_() for t in inputs.values())
    pred, attn = functional.kinematics_attention(q, k, v, backend=backend, normalization=normalization)
    assert pred.shape == (0, 3, 5, 1) and attn.shape == (0, 3, 3)
    (pred.sum() + attn.sum()).backward()
    assert q.grad.shape == q.shape and v.grad.shape == v.shape
