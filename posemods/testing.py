"""Tolerances and comparison helpers shared by the tests and the benchmarks.

This is the one tolerance table. A comparison passes when, elementwise,

    |actual - expected| <= atol * max(1, max|expected|) + rtol * |expected|

so gradients of large magnitude are judged relative to their own scale, and, over the whole tensor,

    ||actual - expected||_2 <= rnorm * ||expected||_2 + atol * max(1, max|expected|) * sqrt(numel)

which catches an error spread thinly over many elements (each within the elementwise bound, together
far from it); its floor lets a near-zero tensor's error be atol in root-mean-square. Low-precision
results are compared against the reference run in float32 on the same (already rounded) inputs.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence

import torch


@dataclasses.dataclass(frozen=True)
class Tolerance:
    atol: float
    rtol: float
    rnorm: float  # relative L2 error of the whole tensor


TOLERANCES: dict[torch.dtype, Tolerance] = {
    # The reference against the float64 loop oracles: only summation order differs.
    torch.float64: Tolerance(atol=1e-10, rtol=1e-8, rnorm=1e-10),
    # Fused against reference: fp32 accumulation in a different order. rnorm leaves room for peaked
    # softmaxes, whose gradients amplify the logits' rounding (5e-5 measured at logits ~ 160).
    torch.float32: Tolerance(atol=2e-5, rtol=2e-4, rnorm=1e-4),
    # Fused in half precision against the float32 reference: inputs and outputs are rounded to
    # 11 (fp16) or 8 (bf16) significant bits, and the kernels round attention weights before the
    # weighted sums as flash attention does. rnorm is about 10x the unit roundoff (2^-11, 2^-8).
    torch.float16: Tolerance(atol=4e-3, rtol=1e-2, rnorm=5e-3),
    torch.bfloat16: Tolerance(atol=3e-2, rtol=5e-2, rnorm=4e-2),
}


# Per-op exceptions to the table above, each with the reason it needs one: {(op, dtype): Tolerance}.
OP_TOLERANCES: dict[tuple[str, torch.dtype], Tolerance] = {}


def tolerance(dtype: torch.dtype, op: str | None = None) -> Tolerance:
    return OP_TOLERANCES.get((op, dtype), TOLERANCES[dtype])


def max_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """Largest absolute difference, in float64. NaNs at the same places count as equal."""
    actual, expected = actual.detach().double(), expected.detach().double()
    both_nan = actual.isnan() & expected.isnan()
    diff = (actual - expected).abs().masked_fill(both_nan, 0)
    return float(diff.max()) if diff.numel() else 0.0


def assert_close(
    actual: torch.Tensor,
    expected: torch.Tensor,
    dtype: torch.dtype | None = None,
    name: str = "",
    op: str | None = None,
) -> None:
    """Assert ``actual`` matches ``expected`` within the tolerance for ``dtype`` (default: actual's)."""
    tol = tolerance(dtype or actual.dtype, op)
    if actual.shape != expected.shape:
        raise AssertionError(f"{name}: shape {tuple(actual.shape)} != expected {tuple(expected.shape)}")
    a, e = actual.detach().double().cpu(), expected.detach().double().cpu()
    if not torch.equal(a.isnan(), e.isnan()):
        raise AssertionError(f"{name}: NaNs at different places")
    a, e = a.nan_to_num(0.0), e.nan_to_num(0.0)
    scale = max(1.0, float(e.abs().max())) if e.numel() else 1.0
    allowed = tol.atol * scale + tol.rtol * e.abs()
    excess = (a - e).abs() - allowed
    if excess.numel() and float(excess.max()) > 0:
        worst = int(excess.argmax())
        raise AssertionError(
            f"{name}: max abs error {max_error(a, e):.3e} exceeds {tol} at flat index {worst} "
            f"(actual {float(a.flatten()[worst]):.6g}, expected {float(e.flatten()[worst]):.6g}, scale {scale:.3g})"
        )
    error_norm, expected_norm = float(torch.linalg.vector_norm(a - e)), float(torch.linalg.vector_norm(e))
    if error_norm > tol.rnorm * expected_norm + tol.atol * scale * math.sqrt(e.numel()):
        relative = f"{error_norm / expected_norm:.3e}" if expected_norm > 0 else "inf (expected is all zeros)"
        raise AssertionError(
            f"{name}: relative L2 error {relative} exceeds rnorm={tol.rnorm} "
            f"(||error|| {error_norm:.3e}, ||expected|| {expected_norm:.3e}, scale {scale:.3g})"
        )


def outputs_and_grads(
    fn: Callable[..., torch.Tensor | Sequence[torch.Tensor]],
    inputs: Mapping[str, torch.Tensor],
    cotangents: Sequence[torch.Tensor] | None = None,
    dtype: torch.dtype | None = None,
    seed: int = 0,
) -> tuple[list[torch.Tensor], dict[str, torch.Tensor], list[torch.Tensor]]:
    """Run ``fn(**inputs)`` on fresh leaf copies (cast to ``dtype``) and backpropagate cotangents.

    Floating-point inputs become leaves that require grad. Returns ``(outputs, grads, cotangents)``;
    cotangents are drawn from ``seed`` unless given, so two calls can share them.
    """
    leaves = {}
    for name, value in inputs.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point():
            value = value.detach().to(dtype or value.dtype).requires_grad_(True)
        leaves[name] = value
    out = fn(**leaves)
    outputs = [out] if isinstance(out, torch.Tensor) else list(out)
    if cotangents is None:
        gen = torch.Generator().manual_seed(seed)
        cotangents = [torch.randn(o.shape, generator=gen, dtype=torch.float64).to(o.device) for o in outputs]
    total = sum((o * c.to(o.dtype)).sum() for o, c in zip(outputs, cotangents))
    differentiable = {n: v for n, v in leaves.items() if isinstance(v, torch.Tensor) and v.requires_grad}
    grads = torch.autograd.grad(total, list(differentiable.values()), allow_unused=True)
    grad_map = {n: (g if g is not None else torch.zeros_like(v)) for (n, v), g in zip(differentiable.items(), grads)}
    return [o.detach() for o in outputs], grad_map, list(cotangents)


def parity_errors(
    reference_fn: Callable[..., torch.Tensor | Sequence[torch.Tensor]],
    test_fn: Callable[..., torch.Tensor | Sequence[torch.Tensor]],
    inputs: Mapping[str, torch.Tensor],
    dtype: torch.dtype = torch.float32,
    check: bool = True,
    op: str | None = None,
) -> dict[str, float]:
    """Compare ``test_fn`` (run in ``dtype``) with ``reference_fn`` (run in float32 or float64).

    Checks every output and the gradient of every floating-point input against the tolerance table
    when ``check`` is set, and returns the max absolute errors, e.g. ``{"out0": 3e-7, "grad_query": ...}``.
    """
    ref_dtype = torch.float64 if dtype == torch.float64 else torch.float32
    # Round inputs to the test dtype first, so both sides see the same values.
    rounded = {
        n: (v.to(dtype) if isinstance(v, torch.Tensor) and v.is_floating_point() else v) for n, v in inputs.items()
    }
    test_out, test_grads, cot = outputs_and_grads(test_fn, rounded, dtype=dtype)
    ref_out, ref_grads, _ = outputs_and_grads(reference_fn, rounded, cotangents=cot, dtype=ref_dtype)
    errors: dict[str, float] = {}
    for i, (a, e) in enumerate(zip(test_out, ref_out)):
        if check:
            assert_close(a, e, dtype, name=f"output {i}", op=op)
        errors[f"out{i}"] = max_error(a, e)
    for name in ref_grads:
        if check:
            assert_close(test_grads[name], ref_grads[name], dtype, name=f"grad of {name}", op=op)
        errors[f"grad_{name}"] = max_error(test_grads[name], ref_grads[name])
    return errors


# --- one source of inputs and shapes per op: the tests, benchmarks.parity and benchmarks.gpu_check ------


def kinematics_attention_inputs(batch, joints, hw, value_hw=None, seed=0) -> dict[str, torch.Tensor]:
    """KMM's maps: query and key non-negative (sigma is a ReLU), value heatmaps in [0, 1)."""
    gen = torch.Generator().manual_seed(seed)
    return {
        "query": torch.randn(batch, joints, *hw, generator=gen).relu(),
        "key": torch.randn(batch, joints, *hw, generator=gen).relu(),
        "value": torch.rand(batch, joints, *(value_hw or hw), generator=gen),
    }


def keypoint_mask_inputs(batch, tokens, positions, channels, spread=0.5, seed=0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {
        "tokens": spread * torch.randn(batch, tokens, channels, generator=gen),
        "feats": spread * torch.randn(batch, positions, channels, generator=gen),
    }


def deformable_cross_attention_inputs(batch, queries, heads, points, dim, dim_v, hw, seed=0) -> dict[str, torch.Tensor]:
    """Locations in [-0.25, 1.25] (some corners off the map), every fifth on a pixel centre (a kink of
    the bilinear weights), every seventh far outside."""
    height, width = hw
    gen = torch.Generator().manual_seed(seed)
    locations = torch.rand(batch, queries, heads, points, 2, generator=gen) * 1.5 - 0.25
    flat = locations.view(-1, 2)
    flat[0::5, 0] = (torch.randint(0, width, flat[0::5, 0].shape, generator=gen) + 0.5) / width
    flat[0::5, 1] = (torch.randint(0, height, flat[0::5, 1].shape, generator=gen) + 0.5) / height
    flat[3::7] = torch.tensor([-3.0, 4.5])
    return {
        "query": torch.randn(batch, queries, heads, dim, generator=gen),
        "key": torch.randn(batch, height, width, heads, dim, generator=gen),
        "value": torch.randn(batch, height, width, heads, dim_v, generator=gen),
        "locations": locations,
    }


def deformable_attention_inputs(*sizes, seed=0) -> dict[str, torch.Tensor]:
    inputs = deformable_cross_attention_inputs(*sizes, seed=seed)
    gen = torch.Generator().manual_seed(seed + 1)
    weights = torch.randn(inputs["locations"].shape[:-1], generator=gen).softmax(-1)
    return {"value": inputs["value"], "locations": inputs["locations"], "attention": weights}


DEFORMABLE_SHAPES = [  # (B, Lq, G, N, D, Dv, (H, W)): awkward sizes (padding, 1 x 1 maps, many heads)
    (2, 5, 2, 4, 8, 8, (16, 12)),
    (1, 9, 3, 9, 48, 24, (7, 5)),
    (2, 3, 1, 1, 32, 32, (1, 1)),
    (1, 6, 2, 4, 64, 64, (64, 48)),
    (1, 20, 16, 16, 32, 32, (16, 12)),
]


def _deformable_label(b, lq, g, n, d, dv, hw):
    return f"B={b} Lq={lq} G={g} N={n} D={d} Dv={dv} {hw[0]}x{hw[1]}"


@dataclasses.dataclass(frozen=True)
class OpCase:
    """One op at one shape: ``make()`` builds its inputs (CPU, float32, seeded)."""

    label: str
    make: Callable[[], dict[str, torch.Tensor]]
    paper: bool = False  # one of the papers' shapes (large: for GPUs, not the interpreter)


def _case(label, maker, *args, paper=False, **kwargs) -> OpCase:
    return OpCase(label, lambda: maker(*args, **kwargs), paper)


# op -> output names and cases. Paper shapes: KIMNet's B=8 J=17 64x48 maps (KMM on 256-channel features),
# VREMD's 51 tokens x 576 positions x C=1,024 keypoint mask and B=8 C=256 G=8 N=4 64x48 DCA.
OP_OUTPUTS = {
    "kinematics_attention": ("pred", "attn"),
    "keypoint_mask": ("mask",),
    "deformable_cross_attention": ("out",),
    "deformable_attention": ("out",),
}
OP_CASES: dict[str, list[OpCase]] = {
    "kinematics_attention": [
        _case("B=2 J=13 7x5", kinematics_attention_inputs, 2, 13, (7, 5)),
        _case("B=1 J=17 64x48, value 32x24", kinematics_attention_inputs, 1, 17, (64, 48), (32, 24)),
        _case("B=2 J=15 46x46", kinematics_attention_inputs, 2, 15, (46, 46)),
        _case("B=1 J=133 7x5, value 9x3", kinematics_attention_inputs, 1, 133, (7, 5), (9, 3)),
        _case("B=8 J=17 64x48 (KIMNet)", kinematics_attention_inputs, 8, 17, (64, 48), paper=True),
    ],
    "keypoint_mask": [
        _case("B=2 T*J=51 T*L=192 C=64", keypoint_mask_inputs, 2, 51, 192, 64),
        _case("B=1 T*J=51 T*L=576 C=96 (VREMD 16x12, T=3)", keypoint_mask_inputs, 1, 51, 576, 96),
        _case("B=2 J=17 L=100 C=40, peaked softmax", keypoint_mask_inputs, 2, 17, 100, 40, spread=2.0),
        _case("B=8 T*J=51 T*L=576 C=1024 (VREMD)", keypoint_mask_inputs, 8, 51, 576, 1024, spread=0.05, paper=True),
    ],
    "deformable_cross_attention": [
        *(_case(_deformable_label(*s), deformable_cross_attention_inputs, *s) for s in DEFORMABLE_SHAPES),
        _case(
            "B=8 Lq=3072 G=8 N=4 D=32 Dv=32 64x48 (VREMD)",
            deformable_cross_attention_inputs,
            8,
            3072,
            8,
            4,
            32,
            32,
            (64, 48),
            paper=True,
        ),
    ],
    "deformable_attention": [
        *(_case(_deformable_label(*s), deformable_attention_inputs, *s) for s in DEFORMABLE_SHAPES),
        _case(
            "B=8 Lq=3072 G=8 N=4 Dv=32 64x48 (VREMD)",
            deformable_attention_inputs,
            8,
            3072,
            8,
            4,
            32,
            32,
            (64, 48),
            paper=True,
        ),
    ],
}


def op_function(op: str) -> Callable[..., torch.Tensor | Sequence[torch.Tensor]]:
    """``fn(backend=..., **inputs)`` for ``op``. The deformable ops' reference uses the gather sampler,
    whose ``px = x * W - 0.5`` arithmetic the kernels share exactly (grid_sample computes the position
    its own way, and may round to the other side of a kink at points planted on pixel centres)."""
    from posemods import functional, reference

    if op in ("kinematics_attention", "keypoint_mask"):
        return getattr(functional, op)

    def fn(backend="auto", **inputs):
        if backend != "reference":
            return getattr(functional, op)(**inputs, backend=backend)
        if op == "deformable_attention":
            return reference.deformable_attention(**inputs, sampler="gather")
        return reference.deformable_cross_attention(**inputs, scale=inputs["query"].shape[-1] ** -0.5, sampler="gather")

    return fn
