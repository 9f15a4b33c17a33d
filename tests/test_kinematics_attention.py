"""posemods.functional.kinematics_attention: oracle, gradients, fused parity, errors."""

import functools

import pytest
import torch
from conftest import requires_triton
from oracles.kinematics_attention import kinematics_attention_loop

from posemods import functional, reference
from posemods.testing import assert_close, outputs_and_grads, parity_errors


def make_inputs(batch, joints, hw, value_hw=None, dtype=torch.float32, seed=0):
    gen = torch.Generator().manual_seed(seed)
    value_hw = value_hw or hw
    return {
        "query": torch.randn(batch, joints, *hw, generator=gen).relu().to(dtype),
        "key": torch.randn(batch, joints, *hw, generator=gen).relu().to(dtype),
        "value": torch.rand(batch, joints, *value_hw, generator=gen).to(dtype),
    }


# --- the reference is the paper --------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(2, 3, (3, 2), (2, 4)), (1, 1, (2, 2), None), (2, 4, (1, 3), (3, 1))])
def test_reference_matches_loop_oracle_forward_and_grads(shape):
    batch, joints, hw, value_hw = shape
    inputs = make_inputs(batch, joints, hw, value_hw, dtype=torch.float64)
    ref_fn = lambda **kw: functional.kinematics_attention(**kw, backend="reference")
    out, grads, cot = outputs_and_grads(ref_fn, inputs)
    oracle_out, oracle_grads, _ = outputs_and_grads(kinematics_attention_loop, inputs, cotangents=cot)
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
def test_triton_matches_reference_fp32(shape):
    batch, joints, hw, value_hw = shape
    inputs = make_inputs(batch, joints, hw, value_hw)
    ref_fn = functools.partial(functional.kinematics_attention, backend="reference")
    tri_fn = functools.partial(functional.kinematics_attention, backend="triton")
    parity_errors(ref_fn, tri_fn, inputs, dtype=torch.float32)


@requires_triton
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("shape", [(2, 17, (7, 5), (9, 4)), (1, 133, (3, 5), None)])
def test_triton_matches_reference_half(dtype, shape):
    batch, joints, hw, value_hw = shape
    inputs = make_inputs(batch, joints, hw, value_hw)
    ref_fn = functools.partial(functional.kinematics_attention, backend="reference")
    tri_fn = functools.partial(functional.kinematics_attention, backend="triton")
    parity_errors(ref_fn, tri_fn, inputs, dtype=dtype)


@requires_triton
def test_triton_gradient_through_attention_output_only():
    # A loss on the attention alone (e.g. a supervision on Fig. 4-style maps) must reach query and key.
    inputs = make_inputs(2, 5, (3, 4))
    for backend in ("reference", "triton"):
        q, k, v = (t.clone().requires_grad_() for t in inputs.values())
        _, attn = functional.kinematics_attention(q, k, v, backend=backend)
        (attn * torch.arange(5.0)).sum().backward()
        if backend == "reference":
            expected = (q.grad, k.grad)
        else:
            assert_close(q.grad, expected[0], name="grad query")
            assert_close(k.grad, expected[1], name="grad key")
            assert torch.equal(v.grad, torch.zeros_like(v))


@requires_triton
def test_triton_accepts_expanded_incoming_gradient():
    # .sum().backward() hands the op a stride-0 gradient; the kernels must read it correctly.
    inputs = make_inputs(1, 4, (3, 3))
    grads = {}
    for backend in ("reference", "triton"):
        q = inputs["query"].clone().requires_grad_()
        pred, _ = functional.kinematics_attention(q, inputs["key"], inputs["value"], backend=backend)
        pred.sum().backward()
        grads[backend] = q.grad
    assert_close(grads["triton"], grads["reference"], name="grad query")


@requires_triton
def test_triton_backward_is_deterministic():
    inputs = make_inputs(2, 17, (9, 7))
    runs = [
        outputs_and_grads(functools.partial(functional.kinematics_attention, backend="triton"), inputs)[1]
        for _ in range(2)
    ]
    for name in runs[0]:
        assert torch.equal(runs[0][name], runs[1][name]), name


@requires_triton
def test_triton_handles_empty_batch():
    inputs = make_inputs(0, 3, (2, 2))
    pred, attn = functional.kinematics_attention(**inputs, backend="triton")
    assert pred.shape == (0, 3, 2, 2) and attn.shape == (0, 3, 3)


# --- NaN and bad input ------------------------------------------------------------------------------


def test_nan_in_gives_nan_out(backend):
    inputs = make_inputs(1, 3, (2, 3))
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
