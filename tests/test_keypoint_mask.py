"""posemods.functional.keypoint_mask: oracle, gradients, fused parity, errors.

The fused-path tests take the ``device`` fixture: CPU (the interpreter) always, CUDA (compiled) under
``pytest -m cuda`` on a GPU machine.
"""

import functools

import pytest
import torch
from conftest import requires_triton
from oracles.keypoint_mask import keypoint_mask_loop

from posemods import functional, reference
from posemods.testing import assert_close, outputs_and_grads, parity_errors


def make_inputs(batch, joints, positions, channels, dtype=torch.float32, seed=0, spread=0.5, device="cpu"):
    gen = torch.Generator().manual_seed(seed)  # on the CPU, so every device gets the same numbers
    return {
        "tokens": (spread * torch.randn(batch, joints, channels, generator=gen)).to(device, dtype),
        "feats": (spread * torch.randn(batch, positions, channels, generator=gen)).to(device, dtype),
    }


reference_fn = functools.partial(functional.keypoint_mask, backend="reference")
triton_fn = functools.partial(functional.keypoint_mask, backend="triton")


# --- the reference is the paper --------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(2, 3, 5, 4), (1, 1, 1, 3), (2, 4, 7, 1)])
@pytest.mark.parametrize("scale", [1.0, 0.3])
def test_reference_matches_loop_oracle_forward_and_grads(shape, scale):
    inputs = make_inputs(*shape, dtype=torch.float64, spread=1.0)
    out, grads, cot = outputs_and_grads(functools.partial(reference_fn, scale=scale), inputs)
    oracle = functools.partial(keypoint_mask_loop, scale=scale)
    oracle_out, oracle_grads, _ = outputs_and_grads(oracle, inputs, cotangents=cot)
    assert_close(out[0], oracle_out[0], name="mask")
    for name in grads:
        assert_close(grads[name], oracle_grads[name], name=f"grad {name}")


def test_default_scale_is_the_papers_none():
    inputs = make_inputs(1, 3, 6, 4, dtype=torch.float64)
    assert torch.equal(functional.keypoint_mask(**inputs), functional.keypoint_mask(**inputs, scale=1.0))
    assert not torch.allclose(functional.keypoint_mask(**inputs), functional.keypoint_mask(**inputs, scale=0.5))


def test_mask_is_nonnegative_and_sums_to_the_number_of_tokens(backend, device):
    inputs = make_inputs(2, 5, 9, 6, spread=2.0, device=device)
    mask = functional.keypoint_mask(**inputs, backend=backend)
    assert (mask >= 0).all()
    assert_close(mask.sum(-1), torch.full((2,), 5.0, device=device))


def test_sharp_tokens_pick_their_position():
    # Token j equals feature p_j times a large factor, with orthogonal features: its softmax puts all
    # its mass on p_j, so the mask counts how many tokens chose each position.
    feats = torch.eye(6, dtype=torch.float64)[None]  # L = C = 6 orthonormal positions
    chosen = torch.tensor([4, 1, 4])
    tokens = 50.0 * feats[:, chosen]
    mask = functional.keypoint_mask(tokens, feats)
    expected = torch.bincount(chosen, minlength=6).double()[None]
    assert torch.allclose(mask, expected, atol=1e-12)


def test_reference_gradcheck_float64():
    inputs = make_inputs(2, 3, 5, 4, dtype=torch.float64, spread=1.0)
    args = [t.requires_grad_() for t in inputs.values()]
    fn = lambda t, f: functional.keypoint_mask(t, f, scale=0.7, backend="reference")
    assert torch.autograd.gradcheck(fn, args)
    assert torch.autograd.gradgradcheck(fn, args)


# --- fused kernels in the interpreter ---------------------------------------------------------------

PARITY_SHAPES = [
    # (B, J, L, C): tails on every block, one token, one position, J and L spanning several blocks,
    # C spanning several channel blocks, and HKM's T=3, J=17 token count.
    (2, 5, 37, 19),
    (1, 1, 1, 1),
    (1, 1, 70, 3),
    (2, 33, 1, 16),
    (1, 17, 131, 130),
    (2, 51, 96, 24),
]


@requires_triton
@pytest.mark.parametrize("shape", PARITY_SHAPES, ids=lambda s: "B{}-J{}-L{}-C{}".format(*s))
def test_triton_matches_reference_fp32(shape, device):
    parity_errors(reference_fn, triton_fn, make_inputs(*shape, device=device), dtype=torch.float32)


def test_reference_half_logits_neither_round_nor_overflow():
    # Each logit is 64 * 40 * 40 = 102400, beyond float16's 65504: a float16 matmul gives inf and
    # then NaN. The reference widens to float32 (as the kernels accumulate), so it matches float32.
    tokens = torch.full((1, 2, 64), 40.0, dtype=torch.float16)
    feats = torch.full((1, 5, 64), 40.0, dtype=torch.float16)
    feats[0, 3] = 39.0  # one position 2560 lower: its softmax weight underflows to 0
    mask = reference_fn(tokens, feats)
    expected = reference_fn(tokens.float(), feats.float())
    assert mask.dtype == torch.float16 and torch.isfinite(mask).all()
    torch.testing.assert_close(mask.float(), expected, rtol=1e-3, atol=0)
    assert mask[0, 3] == 0 and mask[0].sum() == 2


@requires_triton
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("shape", [(2, 17, 45, 24), (1, 51, 70, 72)], ids=lambda s: "B{}-J{}-L{}-C{}".format(*s))
def test_triton_matches_reference_half(dtype, shape, device):
    parity_errors(reference_fn, triton_fn, make_inputs(*shape, device=device), dtype=dtype)


@requires_triton
def test_triton_matches_reference_with_a_scale_and_peaked_softmax(device):
    # Large logits (spread 2, C = 40) make each softmax nearly one-hot: the regime eq. 2 runs in
    # without a scale, where the online max and the recomputed logits must agree closely.
    inputs = make_inputs(2, 9, 50, 40, spread=2.0, device=device)
    parity_errors(reference_fn, triton_fn, inputs)
    parity_errors(functools.partial(reference_fn, scale=40**-0.5), functools.partial(triton_fn, scale=40**-0.5), inputs)


@requires_triton
def test_triton_accepts_expanded_incoming_gradient_and_noncontiguous_inputs(device):
    inputs = make_inputs(2, 4, 9, 6, device=device)
    tokens = inputs["tokens"].transpose(0, 1).contiguous().transpose(0, 1)  # same values, other strides
    grads = {}
    for backend in ("reference", "triton"):
        t, f = tokens.clone().requires_grad_(), inputs["feats"].clone().requires_grad_()
        (functional.keypoint_mask(t, f, backend=backend) * torch.linspace(0, 1, 9, device=device)).sum().backward()
        grads[backend] = (t.grad, f.grad)
        # A plain .sum() hands the op a stride-0 gradient; the mask sums to J, so its gradient is zero.
        t2, f2 = tokens.clone().requires_grad_(), inputs["feats"].clone().requires_grad_()
        functional.keypoint_mask(t2, f2, backend=backend).sum().backward()
        assert_close(t2.grad, torch.zeros_like(t2), name="grad of a constant")
    for a, e in zip(grads["triton"], grads["reference"]):
        assert_close(a, e, name="grad")


@requires_triton
def test_triton_backward_is_deterministic(device):
    inputs = make_inputs(2, 20, 70, 40, device=device)
    runs = [outputs_and_grads(triton_fn, inputs)[1] for _ in range(2)]
    for name in runs[0]:
        assert torch.equal(runs[0][name], runs[1][name]), name


@requires_triton
@pytest.mark.parametrize("shape", [(0, 3, 4, 2), (2, 0, 4, 2), (2, 3, 0, 2), (2, 3, 4, 0)])
def test_triton_handles_empty_sizes_like_the_reference(shape, device):
    inputs = make_inputs(*shape, device=device)
    errors = parity_errors(reference_fn, triton_fn, inputs)
    assert all(e == 0.0 for e in errors.values()), errors


# --- NaN and bad input ------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # the interpreter's numpy
def test_nan_in_gives_nan_out(backend, device):
    inputs = make_inputs(2, 3, 5, 4, device=device)
    inputs["feats"][0, 2, 1] = float("nan")  # one position of clip 0 poisons every softmax of clip 0
    inputs["tokens"][1, 1, 0] = float("nan")  # one token of clip 1 poisons its own softmax, so the sum
    mask = functional.keypoint_mask(**inputs, backend=backend)
    assert mask.isnan().all()


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
def test_nan_stays_in_its_clip(backend, device):
    inputs = make_inputs(2, 3, 5, 4, device=device)
    inputs["feats"][0, 2, 1] = float("nan")
    mask = functional.keypoint_mask(**inputs, backend=backend)
    assert mask[0].isnan().all() and not mask[1].isnan().any()


@pytest.mark.parametrize(
    "change, error, match",
    [
        (lambda i: i.update(tokens=i["tokens"][0]), ValueError, r"tokens: expected a 3-D tensor \(B, J, C\)"),
        (lambda i: i.update(feats=i["feats"][..., :3]), ValueError, r"feats: .*C=4.*C=3"),
        (lambda i: i.update(feats=i["feats"][:1]), ValueError, r"feats: .*B=2.*B=1"),
        (lambda i: i.update(tokens=i["tokens"].long()), TypeError, r"tokens: expected a floating-point .*int64"),
        (lambda i: i.update(feats=i["feats"].double()), TypeError, r"feats has dtype torch.float64"),
        (lambda i: i.update(feats=i["feats"].to("meta")), ValueError, r"feats has device meta"),
    ],
)
def test_bad_inputs_raise_clear_errors(change, error, match):
    inputs = make_inputs(2, 3, 5, 4)
    change(inputs)
    with pytest.raises(error, match=match):
        functional.keypoint_mask(**inputs)


def test_reference_module_is_the_functional_truth():
    inputs = make_inputs(2, 4, 6, 3)
    assert torch.equal(
        functional.keypoint_mask(**inputs, backend="reference"), reference.keypoint_mask(**inputs, scale=1.0)
    )


@pytest.mark.parametrize("scale", ["0.5", 1j, None, [1.0], True], ids=repr)
def test_scale_must_be_a_real_number(scale):
    # float("0.5") would have accepted a string; None and complex gave Python's own cryptic errors.
    with pytest.raises(TypeError, match=r"scale: expected a real number"):
        functional.keypoint_mask(**make_inputs(1, 2, 3, 4), scale=scale)
