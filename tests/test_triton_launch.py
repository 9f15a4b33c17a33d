"""What Triton's interpreter does not see (issue 13), checked the ways a CPU can.

- the fp32 precision read works whichever torch API set it;
- fakes promise the launchers' strides (``torch.library.opcheck`` on contiguous, strided and
  channels_last inputs);
- every launch runs under a device guard for its tensors, with all programs on grid axis 0;
- pixel positions are rounded like the reference's (no FMA contraction in the compiled PTX) and NaN
  locations are sent off the map explicitly;
- KMM saves its attention in fp32.
"""

import contextlib
import functools
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
import triton
import triton.language as tl
from conftest import module_cases, requires_triton

from posemods import functional
from posemods._ops import deformable_attention as da_op
from posemods._ops import deformable_cross_attention as dca_op
from posemods._ops import keypoint_mask as kpm_op
from posemods._ops import kinematics_attention as kmm_op
from posemods.testing import assert_close, parity_errors
from posemods.triton import _common
from posemods.triton._bilinear import pixel_position

ROOT = Path(__file__).resolve().parents[1]
pytestmark = requires_triton


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def kmm_inputs(batch=2, joints=3, hw=(3, 4), value_hw=(2, 5)):
    g = _gen()
    return {
        "query": torch.rand(batch, joints, *hw, generator=g),
        "key": torch.rand(batch, joints, *hw, generator=g),
        "value": torch.rand(batch, joints, *value_hw, generator=g),
    }


def kpm_inputs(batch=2, tokens=5, positions=7, channels=6):
    g = _gen()
    return {
        "tokens": torch.randn(batch, tokens, channels, generator=g),
        "feats": torch.randn(batch, positions, channels, generator=g),
    }


def dca_inputs(batch=2, queries=5, heads=2, points=3, dim=4, dim_v=6, hw=(4, 3)):
    g = _gen()
    return {
        "query": torch.randn(batch, queries, heads, dim, generator=g),
        "key": torch.randn(batch, *hw, heads, dim, generator=g),
        "value": torch.randn(batch, *hw, heads, dim_v, generator=g),
        "locations": torch.rand(batch, queries, heads, points, 2, generator=g) * 1.2 - 0.1,
    }


def da_inputs(batch=2, queries=5, heads=2, points=3, dim_v=6, hw=(4, 3)):
    g = _gen()
    return {
        "value": torch.randn(batch, *hw, heads, dim_v, generator=g),
        "locations": torch.rand(batch, queries, heads, points, 2, generator=g) * 1.2 - 0.1,
        "attention": torch.rand(batch, queries, heads, points, generator=g).softmax(-1),
    }


OPS = {
    "kinematics_attention": (functional.kinematics_attention, kmm_inputs),
    "keypoint_mask": (functional.keypoint_mask, kpm_inputs),
    "deformable_cross_attention": (functional.deformable_cross_attention, dca_inputs),
    "deformable_attention": (functional.deformable_attention, da_inputs),
}


# --- fault 1: the fp32 precision read ---------------------------------------------------------------


@pytest.fixture
def restore_precision():
    """Undo a precision setting with the API family that made it, so no legacy/new mix outlives the test
    (reading the legacy flag after a mix raises, which would break any later test in this process)."""
    used = []
    yield used
    if "legacy" in used:
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.set_float32_matmul_precision("highest")
    else:
        torch.backends.cuda.matmul.fp32_precision = "none"
        torch.backends.fp32_precision = "none"
    assert torch.backends.cuda.matmul.allow_tf32 is False  # reading it raises if an API mix were left behind


def _set_matmul_api(setting):
    if setting == "matmul-new-api":
        torch.backends.cuda.matmul.fp32_precision = "tf32"
    elif setting == "global-new-api":
        torch.backends.fp32_precision = "tf32"
    elif setting == "legacy-api":
        torch.backends.cuda.matmul.allow_tf32 = True
    elif setting == "matmul-precision-high":
        torch.set_float32_matmul_precision("high")


@pytest.mark.parametrize("setting", ["matmul-new-api", "global-new-api", "legacy-api", "matmul-precision-high"])
def test_fp32_fused_ops_run_whichever_api_allowed_tf32(setting, restore_precision):
    restore_precision.append("legacy" if setting in ("legacy-api", "matmul-precision-high") else "new")
    _set_matmul_api(setting)
    assert _common.matmul_allows_tf32()
    assert _common.dot_config(torch.float32)["DOT_PRECISION"] == "tf32"
    for name in ("kinematics_attention", "keypoint_mask"):  # the two ops with tl.dot
        fn, make = OPS[name]
        inputs = make()
        out = fn(**inputs, backend="triton")
        expected = fn(**inputs, backend="reference")
        for a, e in zip(
            out if isinstance(out, tuple) else (out,), expected if isinstance(expected, tuple) else (expected,)
        ):
            assert_close(a, e, name=name)


def test_fp32_dots_stay_ieee_by_default_and_after_the_new_api_says_ieee(restore_precision):
    restore_precision.append("new")
    assert not _common.matmul_allows_tf32()
    torch.backends.cuda.matmul.fp32_precision = "ieee"
    torch.backends.fp32_precision = "tf32"  # the matmul-level setting wins over the global one
    assert _common.dot_config(torch.float32)["DOT_PRECISION"] == "ieee"
    assert _common.dot_config(torch.bfloat16)["DOT_PRECISION"] == "ieee"


# --- fault 2: fakes promise the launchers' strides ---------------------------------------------------


def _layout(tensor, layout):
    """The same values in another memory layout: transposed strides, or channels_last(_3d)."""
    if layout == "contiguous":
        return tensor.contiguous()
    if layout == "strided" or tensor.dim() < 3:  # last two dims swapped in memory
        return tensor.transpose(-1, -2).contiguous().transpose(-1, -2)
    fmt = {4: torch.channels_last, 5: torch.channels_last_3d}.get(tensor.dim())
    if fmt is None:  # 3-D: channels-last's analogue, the channel dim outermost in memory
        return tensor.permute(0, 2, 1).contiguous().permute(0, 2, 1)
    return tensor.contiguous(memory_format=fmt)


def _opcheck_args(name, layout):
    _, make = OPS[name]
    inputs = {k: _layout(v, layout).requires_grad_() for k, v in make().items()}
    if name == "kinematics_attention":
        return kmm_op.kinematics_attention, (*inputs.values(), 0.5, "softmax")
    if name == "keypoint_mask":
        return kpm_op.keypoint_mask, (*inputs.values(), 0.5)
    if name == "deformable_cross_attention":
        return dca_op.deformable_cross_attention_forward, (*inputs.values(), 0.5)
    return da_op.deformable_attention, tuple(inputs.values())


@pytest.mark.parametrize("layout", ["contiguous", "strided", "channels_last"])
@pytest.mark.parametrize("name", list(OPS))
def test_opcheck_with_every_layout(name, layout):
    op, args = _opcheck_args(name, layout)
    torch.library.opcheck(op, args, test_utils=("test_schema", "test_autograd_registration", "test_faketensor"))


@pytest.mark.parametrize("name", list(OPS))
def test_opcheck_through_aot_autograd_with_dynamic_shapes(name):
    # The util the layout test leaves out (it costs a few seconds per op): the op traced through
    # AOTAutograd with dynamic shapes, fakes and backward included, as torch.compile runs it.
    op, args = _opcheck_args(name, "contiguous")
    torch.library.opcheck(op, args, test_utils=("test_aot_dispatch_dynamic",))


def _backward_opcheck_args(name, layout):
    """The backward custom op and its arguments, every tensor (incoming gradients too) in ``layout``."""
    op, args = _opcheck_args(name, layout)
    args = tuple(a.detach() if isinstance(a, torch.Tensor) else a for a in args)
    with torch.no_grad():
        outputs = op(*args)
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    grad = _layout(torch.randn(outputs[0].shape, generator=_gen(1)), layout)
    if name == "kinematics_attention":
        q, k, v, scale, normalization = args
        _, attn, norm = outputs
        grad_attn = _layout(torch.randn(attn.shape, generator=_gen(2)), layout)
        return kmm_op.kinematics_attention_backward, (grad, grad_attn, q, k, v, attn, norm, scale, normalization)
    if name == "keypoint_mask":
        tokens, feats, scale = args
        return kpm_op.keypoint_mask_backward, (grad, tokens, feats, outputs[1], scale)
    if name == "deformable_cross_attention":
        q, k, v, loc, scale = args
        return dca_op.deformable_cross_attention_backward, (grad, q, k, v, loc, *outputs, scale)
    return da_op.deformable_attention_backward, (grad, *args)


@pytest.mark.parametrize("layout", ["strided", "channels_last"])
@pytest.mark.parametrize("name", list(OPS))
def test_backward_fakes_promise_the_launchers_strides(name, layout):
    # The backward ops' fakes used empty_like (the input's layout) while the launchers return
    # contiguous gradients: torch.compile then stops at a stride assertion in the backward graph.
    op, args = _backward_opcheck_args(name, layout)
    torch.library.opcheck(op, args, test_utils=("test_schema", "test_faketensor"))


# --- faults 3 and 4: device guard and grid axes -------------------------------------------------------


@pytest.fixture
def launches(monkeypatch):
    """Record every kernel launch: its grid and the devices whose guard is active around it."""
    active, records = [], []
    real_guard = _common.device_guard

    @contextlib.contextmanager
    def recording_guard(tensor):
        active.append(tensor.device)
        try:
            with real_guard(tensor):
                yield
        finally:
            active.pop()

    monkeypatch.setattr(_common, "device_guard", recording_guard)
    kernel_type = type(kmm_op.RECORD.kernels()._forward_kernel)
    real_getitem = kernel_type.__getitem__

    def recording_getitem(self, grid):
        records.append((self.fn.__name__, tuple(grid), list(active)))
        return real_getitem(self, grid)

    monkeypatch.setattr(kernel_type, "__getitem__", recording_getitem)
    return records


@pytest.mark.parametrize("name", list(OPS))
def test_every_launch_is_guarded_and_keeps_the_batch_off_grid_axes_1_and_2(name, launches):
    fn, make = OPS[name]
    grids = {}
    for batch in (1, 4):
        inputs = make(batch=batch)
        # Several blocks per batch element where a kernel tiles joints, tokens or queries, so the
        # unfolding of (batch, block) from program 0 is exercised, and checked against the reference.
        parity_errors(functools.partial(fn, backend="reference"), functools.partial(fn, backend="triton"), inputs)
        grids[batch] = [grid for _, grid, _ in launches]
        assert launches, "no kernel launched"
        for kernel, grid, guards in launches:
            assert guards == [torch.device("cpu")], (kernel, guards)
            assert all(size == 1 for size in grid[1:]), (kernel, grid)
        launches.clear()
    assert [g[0] for g in grids[4]] != [g[0] for g in grids[1]]  # the batch went onto axis 0


def test_launch_refuses_a_grid_beyond_cudas_limits():
    kernel = kmm_op.RECORD.kernels()._forward_kernel
    with pytest.raises(RuntimeError, match=r"_forward_kernel: grid axis 1 has 65536 programs, CUDA allows 65535"):
        _common.launch(kernel, (1, 65536), torch.empty(0))


def test_many_joint_blocks_and_batches_unfold_correctly():
    # J = 40 is 3 blocks of 16 joints, B = 3: nine programs, each must find its own (batch, block).
    inputs = kmm_inputs(batch=3, joints=40, hw=(2, 3), value_hw=(3, 2))
    fn = functional.kinematics_attention
    parity_errors(functools.partial(fn, backend="reference"), functools.partial(fn, backend="triton"), inputs)
    inputs = kpm_inputs(batch=3, tokens=35, positions=70, channels=130)  # 3 x 3 x 2 grad programs per batch
    fn = functional.keypoint_mask
    parity_errors(functools.partial(fn, backend="reference"), functools.partial(fn, backend="triton"), inputs)


# --- faults 6 and 7: pixel positions ----------------------------------------------------------------


@triton.jit
def _pixel_position_kernel(loc_ptr, out_ptr, H, W, BLOCK: tl.constexpr):
    offs = tl.arange(0, BLOCK)
    x0, y0, fx, fy = pixel_position(loc_ptr + offs * 2, offs < BLOCK, H, W)
    tl.store(out_ptr + offs * 4, x0.to(tl.float32))
    tl.store(out_ptr + offs * 4 + 1, y0.to(tl.float32))
    tl.store(out_ptr + offs * 4 + 2, fx)
    tl.store(out_ptr + offs * 4 + 3, fy)


def test_nan_locations_are_sent_off_the_map_explicitly():
    nan = float("nan")
    loc = torch.tensor([[nan, 0.5], [0.5, nan], [nan, nan], [0.5, 0.5]] * 4, dtype=torch.float32)
    out = torch.empty(16, 4)
    _pixel_position_kernel[(1,)](loc, out, 6, 8, BLOCK=16)
    # x0 = y0 = -2 for a NaN coordinate: all four neighbours are outside, so nothing is gathered or
    # scattered; the fraction of the NaN coordinate stays NaN, so the weights are NaN as in the reference.
    for row, expect_fx_nan, expect_fy_nan in ((0, True, False), (1, False, True), (2, True, True)):
        assert out[row, 0] == -2 and out[row, 1] == -2, out[row]
        assert out[row, 2].isnan() == expect_fx_nan and out[row, 3].isnan() == expect_fy_nan
    assert out[3].tolist() == [3.0, 2.0, 0.5, 0.5]  # (0.5 * 8 - 0.5, 0.5 * 6 - 0.5) = (3.5, 2.5)


def test_infinite_locations_are_sent_off_the_map_with_a_nan_fraction_like_nan():
    # The reference's fraction px - floor(px) is NaN at +-inf, so +-inf must behave as NaN: no neighbour
    # on the map and a NaN weight, never a clamped finite position with fraction 0.
    inf = float("inf")
    loc = torch.tensor([[inf, 0.5], [0.5, -inf], [-inf, inf], [0.5, 0.5]] * 4, dtype=torch.float32)
    out = torch.empty(16, 4)
    _pixel_position_kernel[(1,)](loc, out, 6, 8, BLOCK=16)
    for row, expect_fx_nan, expect_fy_nan in ((0, True, False), (1, False, True), (2, True, True)):
        assert out[row, 0] == -2 and out[row, 1] == -2, out[row]
        assert out[row, 2].isnan() == expect_fx_nan and out[row, 3].isnan() == expect_fy_nan, out[row]
    assert out[3].tolist() == [3.0, 2.0, 0.5, 0.5]


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")], ids=str)
@pytest.mark.parametrize("op", ["deformable_cross_attention", "deformable_attention"])
def test_nan_location_gradients_stay_where_the_reference_puts_them(op, bad):
    # An infinite coordinate is as broken as a NaN one (a diverged offset head): the reference's
    # ``fx = px - floor(px)`` is inf - inf = NaN, so its output is NaN there, and the fused path must
    # not quietly clamp it to a finite zero sample (i13 review, finding 3).
    fn, make = OPS[op]
    inputs = make(batch=1)
    inputs["locations"][0, 1, 0, 0, 0] = bad
    results = {}
    for backend in ("reference", "triton"):
        leaves = {k: v.clone().requires_grad_() for k, v in inputs.items()}
        fn(**leaves, backend=backend).sum().backward()
        results[backend] = {k: v.grad for k, v in leaves.items()}
    assert results["reference"]["locations"].isnan().any()  # the premise: the reference does give NaN
    for name, grad in results["triton"].items():
        assert torch.equal(grad.isnan(), results["reference"][name].isnan()), name
    if op == "deformable_attention":  # the NaN point's own weights are NaN, and it gathers nothing
        assert not results["triton"]["value"].isnan().any()


_COMPILE_SCRIPT = """
import triton
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource
import test_triton_launch as t

src = ASTSource(fn=t._pixel_position_kernel, signature={"loc_ptr": "*fp32", "out_ptr": "*fp32", "H": "i32",
                "W": "i32", "BLOCK": "constexpr"}, constexprs={"BLOCK": 128})
print(triton.compile(src, target=GPUTarget("cuda", 90, 32)).asm["ptx"])
"""


def test_compiled_pixel_position_rounds_the_product_like_the_reference():
    # On the GPU ``x * W - 0.5`` would contract into one fma.rn.f32 (rounded once) while the reference
    # and the interpreter round the product and the difference separately; at a pixel centre the floor,
    # and with it the neighbours and the one-sided gradient, can then differ. The PTX must hold an
    # explicitly rounded multiply (mul.rn, which ptxas never fuses) and no fma at all.
    env = {**os.environ, "TRITON_INTERPRET": "0", "PYTHONPATH": f"{ROOT / 'tests'}{os.pathsep}{ROOT}"}
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(_COMPILE_SCRIPT)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    ptx = proc.stdout
    assert "mul.rn.f32" in ptx
    assert "fma" not in ptx
    # The NaN/inf test ``px - px != 0`` must survive compilation (no fast-math folding of x - x to 0).
    assert re.search(r"sub\.f32\s+%\w+, (%\w+), \1;", ptx), "px - px was folded away"


# --- fault 8: KMM's saved attention ----------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
def test_kmm_saves_its_attention_in_fp32(dtype):
    inputs = {k: v.to(dtype).requires_grad_() for k, v in kmm_inputs().items()}
    saved = []

    def pack(tensor):
        saved.append((tuple(tensor.shape), tensor.dtype))
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        _, attn = functional.kinematics_attention(**inputs, backend="triton")
    assert attn.dtype == dtype  # the API's output stays in the inputs' dtype
    assert ((2, 3, 3), torch.float32) in saved
    assert ((2, 3, 3), dtype) not in saved


# --- the CUDA tests' module cases ------------------------------------------------------------------


def test_the_cuda_tests_module_cases_build_and_run_here():
    # tests/test_triton_cuda.py compiles these on a GPU; run once eagerly (reference backend) here, a
    # signature drift in a module shows up on CPU rather than in GPU time.
    names = []
    for name, build, make_inputs, kwargs in module_cases("cpu", (3, 2), "reference"):
        out = build()(*make_inputs(), **kwargs)
        outputs = [out] if isinstance(out, torch.Tensor) else list(out)
        assert all(t.isfinite().all() for t in outputs if isinstance(t, torch.Tensor)), name
        names.append(name.split()[0])
    assert set(names) == {"KMM", "DCA", "HKM", "BMD"}
