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
