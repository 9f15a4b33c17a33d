"""The op tests on a CUDA GPU, compiled (no interpreter): ``pytest -m cuda``. Skipped without a GPU.

Reference parity for every output and input gradient in fp32/fp16/bf16 at the awkward and the papers'
shapes (posemods.testing.OP_CASES), NaN propagation, determinism, torch.compile of every op and every
module, opcheck on three layouts, the launch limits the interpreter ignores (grid axes, 32-bit offsets)
and a second device. ``python -m benchmarks.gpu_check`` times the same ops; it checks nothing of this.
"""

import functools
import os

import pytest
import torch
from conftest import HAS_CUDA, module_cases, requires_triton

from posemods._backend import interpreting
from posemods.testing import OP_CASES, assert_close, op_function, outputs_and_grads, parity_errors

pytestmark = [
    pytest.mark.cuda,
    requires_triton,
    pytest.mark.skipif(not HAS_CUDA, reason="no CUDA device"),
    pytest.mark.skipif(HAS_CUDA and interpreting(), reason="TRITON_INTERPRET is set: run `pytest -m cuda`"),
]
DTYPES = [torch.float32, torch.float16, torch.bfloat16]
# The deformable ops' deterministic backward is the reference's, whose matmuls cuBLAS runs
# deterministically only with a fixed workspace (torch refuses them otherwise under deterministic mode).
os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
CASES = [(op, case) for op, cases in OP_CASES.items() for case in cases]


def on_cuda(inputs, device="cuda"):
    return {k: v.to(device) for k, v in inputs.items()}


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("op, case", CASES, ids=[f"{op}-{case.label}" for op, case in CASES])
def test_parity_with_the_reference(op, case, dtype):
    fn = op_function(op)
    ref, tri = functools.partial(fn, backend="reference"), functools.partial(fn, backend="triton")
    parity_errors(ref, tri, on_cuda(case.make()), dtype=dtype, op=op)


@pytest.mark.parametrize("op", list(OP_CASES))
def test_nan_in_gives_nan_out_where_the_reference_does(op):
    fn = op_function(op)
    inputs = on_cuda(OP_CASES[op][0].make())
    first = next(iter(inputs))
    inputs[first].view(-1)[3] = float("nan")
    if "locations" in inputs:
        inputs["locations"].view(-1)[10] = float("nan")
    results = [outputs_and_grads(functools.partial(fn, backend=b), inputs) for b in ("reference", "triton")]
    (ref_out, ref_grads, _), (tri_out, tri_grads, _) = results
    for r, t in zip(ref_out, tri_out):
        assert torch.equal(r.isnan(), t.isnan())
    for name in ref_grads:  # no NaN scattered where the reference writes none (issue 13, fault 7)
        assert torch.equal(ref_grads[name].isnan(), tri_grads[name].isnan()), name


@pytest.mark.parametrize("op", list(OP_CASES))
def test_two_backward_runs_are_bitwise_equal(op):
    fn = functools.partial(op_function(op), backend="triton")
    inputs = on_cuda(OP_CASES[op][1].make())
    # The deformable ops scatter with atomics: only their deterministic mode promises equal bits.
    deterministic = op.startswith("deformable")
    previous = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(deterministic or previous)
    try:
        runs = [outputs_and_grads(fn, inputs) for _ in range(2)]
    finally:
        torch.use_deterministic_algorithms(previous)
    for a, b in zip(runs[0][0], runs[1][0]):
        assert torch.equal(a, b)
    for name in runs[0][1]:
        assert torch.equal(runs[0][1][name], runs[1][1][name]), name


@pytest.mark.parametrize("op", list(OP_CASES))
def test_compiled_fullgraph_matches_eager(op):
    torch._dynamo.reset()
    fn = functools.partial(op_function(op), backend="triton")
    inputs = on_cuda(OP_CASES[op][0].make())
    eager_out, eager_grads, cot = outputs_and_grads(fn, inputs)
    compiled_out, compiled_grads, _ = outputs_and_grads(torch.compile(fn, fullgraph=True), inputs, cotangents=cot)
    for a, e in zip(compiled_out, eager_out):
        assert_close(a, e)
    for name in eager_grads:
        assert_close(compiled_grads[name], eager_grads[name], name=name)


def _tensors(out) -> list[torch.Tensor]:
    return [t for t in ([out] if isinstance(out, torch.Tensor) else out) if isinstance(t, torch.Tensor)]


@pytest.mark.parametrize("name", [name for name, *_ in module_cases("cuda")])
def test_modules_compiled_fullgraph_match_eager(name):
    # Every module on the fused path, compiled whole: outputs and the first input's gradient.
    torch._dynamo.reset()
    build, make_inputs, kwargs = next(case[1:] for case in module_cases("cuda") if case[0] == name)
    module = build().cuda()
    inputs = make_inputs()
    first = inputs[0].requires_grad_()
    eager = _tensors(module(*inputs, **kwargs))
    compiled = _tensors(torch.compile(module, fullgraph=True)(*inputs, **kwargs))
    for a, e in zip(compiled, eager, strict=True):
        assert_close(a, e, name="output")
    (g_eager,) = torch.autograd.grad(eager[0].square().sum(), first)
    (g_compiled,) = torch.autograd.grad(compiled[0].square().sum(), first)
    assert_close(g_compiled, g_eager, name="grad of the first input")


@pytest.mark.parametrize("layout", ["contiguous", "strided", "channels_last"])
@pytest.mark.parametrize("op", list(OP_CASES))
def test_opcheck_forward_and_backward(op, layout):
    from test_triton_launch import _backward_opcheck_args, _opcheck_args

    for make_args in (_opcheck_args, _backward_opcheck_args):
        fn, args = make_args(op, layout)
        args = tuple(
            a.detach().cuda().requires_grad_(a.requires_grad) if isinstance(a, torch.Tensor) else a for a in args
        )
        utils = ("test_schema", "test_autograd_registration", "test_faketensor")
        if layout == "contiguous" and make_args is _opcheck_args:  # AOTAutograd, dynamic shapes: once per op
            utils += ("test_aot_dispatch_dynamic",)
        torch.library.opcheck(fn, args, test_utils=utils)


# --- what only a GPU enforces --------------------------------------------------------------------------

BIG_BATCH = {  # more than 65,535 batch elements (B * G for the deformable ops) with tiny maps
    "kinematics_attention": lambda: {"query": torch.rand(70000, 1, 1, 2), "key": torch.rand(70000, 1, 1, 2),
                                     "value": torch.rand(70000, 1, 1, 1)},
    "keypoint_mask": lambda: {"tokens": torch.randn(70000, 1, 2), "feats": torch.randn(70000, 3, 2)},
    "deformable_cross_attention": lambda: {"query": torch.randn(4400, 1, 16, 2), "key": torch.randn(4400, 1, 1, 16, 2),
                                           "value": torch.randn(4400, 1, 1, 16, 2),
                                           "locations": torch.rand(4400, 1, 16, 1, 2)},
    "deformable_attention": lambda: {"value": torch.randn(4400, 1, 1, 16, 2),
                                     "locations": torch.rand(4400, 1, 16, 1, 2),
                                     "attention": torch.rand(4400, 1, 16, 1)},
}  # fmt: skip


@pytest.mark.parametrize("op", list(BIG_BATCH))
def test_batches_beyond_the_grid_axis_limit(op):
    fn = op_function(op)
    inputs = on_cuda(BIG_BATCH[op]())
    parity_errors(functools.partial(fn, backend="reference"), functools.partial(fn, backend="triton"), inputs)


def _free_gib() -> float:
    return torch.cuda.mem_get_info()[0] / 2**30


def test_kmm_offsets_beyond_2_31_elements():
    # rows * P passes 2**31 at the third joint of a 2**30-position map: int32 offsets would wrap. The maps
    # are zero but for their first and last 64 positions, so the logits are short, exact sums.
    if _free_gib() < 40:
        pytest.skip("needs 40 GiB of free GPU memory")
    positions = 2**30 + 16
    g = torch.Generator(device="cuda").manual_seed(0)
    query = torch.zeros(1, 3, 1, positions, device="cuda", dtype=torch.float16)
    key = torch.zeros_like(query)
    ends = (slice(0, 64), slice(positions - 64, positions))
    for t in (query, key):
        for part in ends:
            t[..., part] = torch.rand(1, 3, 1, 64, device="cuda", generator=g).half()
    value = torch.rand(1, 3, 1, 2, device="cuda", generator=g).half()
    pred, attn, _ = torch.ops.posemods.kinematics_attention(query, key, value, 0.5, "softmax")
    q = torch.cat([query[0, :, 0, part] for part in ends], -1).double()
    k = torch.cat([key[0, :, 0, part] for part in ends], -1).double()
    expected = (0.5 * q @ k.T).softmax(-1)
    assert_close(attn[0].double(), expected, torch.float16, name="attn")
    assert_close(pred[0].double(), (expected @ value[0, :, 0].double()).unsqueeze(1), torch.float16, name="pred")


def test_keypoint_mask_offsets_beyond_2_31_elements():
    if _free_gib() < 24:
        pytest.skip("needs 24 GiB of free GPU memory")
    positions, channels = 2**21 + 3, 1024  # pos * C passes 2**31 in the last positions
    g = torch.Generator(device="cuda").manual_seed(0)
    tokens = 0.01 * torch.randn(1, 2, channels, device="cuda", dtype=torch.bfloat16, generator=g)
    feats = 0.01 * torch.randn(1, positions, channels, device="cuda", dtype=torch.bfloat16, generator=g)
    feats[0, -1] = tokens[0, 0] * 300  # the last position stands out for token 0
    inputs = {"tokens": tokens, "feats": feats}
    fn = op_function("keypoint_mask")
    out = fn(**inputs, backend="triton")
    expected = fn(**{k: v.float() for k, v in inputs.items()}, backend="reference")
    assert_close(out, expected, torch.bfloat16)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA devices")
@pytest.mark.parametrize("op", list(OP_CASES))
def test_tensors_on_the_second_device_while_the_first_is_current(op):
    fn = op_function(op)
    inputs = on_cuda(OP_CASES[op][0].make(), "cuda:1")
    with torch.cuda.device(0):
        parity_errors(functools.partial(fn, backend="reference"), functools.partial(fn, backend="triton"), inputs)
