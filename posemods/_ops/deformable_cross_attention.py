"""``posemods::deformable_cross_attention``: the fused kernels as a torch.library custom op.

The op is opaque to torch.compile: ``register_fake`` gives it shapes and ``register_autograd`` routes
its backward to a second custom op. The kernel module is imported on first use, so
``import posemods`` never needs triton. The ops allocate their outputs (:func:`forward_outputs`,
:func:`backward_outputs`) and hand them to the launchers; the fakes return the same allocation.

The fused backward scatters key and value gradients with atomics, whose order (and so the rounding)
changes between runs. Under ``torch.use_deterministic_algorithms(True)`` the backward op recomputes
the reference instead and differentiates it; the forward stays fused.
"""

from __future__ import annotations

from types import ModuleType

import torch

from posemods import reference
from posemods._ops._deterministic import deterministic_fallback, reference_gradients
from posemods._ops._record import OpRecord


def _load_kernels() -> ModuleType:
    import posemods.triton.deformable_cross_attention as kernels  # imports triton, so only on first use

    return kernels


def forward_outputs(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, locations: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Uninitialised, contiguous output (B, Lq, G, Dv) and logsumexp (B, Lq, G) fp32: what the forward
    kernel writes, and what the fake promises (new_empty, never empty_like's preserved layout)."""
    batch, queries, heads, _ = query.shape
    out = query.new_empty((batch, queries, heads, value.shape[-1]))
    return out, query.new_empty((batch, queries, heads), dtype=torch.float32)


def backward_outputs(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, locations: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Uninitialised, contiguous gradients: query's and locations' in their dtypes, key's and value's in
    fp32 (the atomics' accumulators; the op returns them cast to the maps' dtypes)."""
    return (
        query.new_empty(query.shape),
        key.new_empty(key.shape, dtype=torch.float32),
        value.new_empty(value.shape, dtype=torch.float32),
        locations.new_empty(locations.shape),
    )


def _in_input_dtypes(
    grads: tuple[torch.Tensor, ...], key: torch.Tensor, value: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The backward op's outputs: :func:`backward_outputs` with the fp32 accumulators cast to the maps' dtypes."""
    grad_q, grad_k, grad_v, grad_loc = grads
    return grad_q, grad_k.to(key.dtype), grad_v.to(value.dtype), grad_loc


@torch.library.custom_op("posemods::deformable_cross_attention", mutates_args=())
def deformable_cross_attention_forward(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, locations: torch.Tensor, scale: float
) -> tuple[torch.Tensor, torch.Tensor]:
    out, lse = forward_outputs(query, key, value, locations)
    RECORD.kernels().forward(query, key, value, locations, scale, out=out, lse=lse)
    return out, lse


@deformable_cross_attention_forward.register_fake
def _(query, key, value, locations, scale):
    return forward_outputs(query, key, value, locations)


@torch.library.custom_op("posemods::deformable_cross_attention_backward", mutates_args=())
def deformable_cross_attention_backward(
    grad_out: torch.Tensor,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    locations: torch.Tensor,
    out: torch.Tensor,
    lse: torch.Tensor,
    scale: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    grad_q, grad_k, grad_v, grad_loc = grads = backward_outputs(query, key, value, locations)
    RECORD.kernels().backward(
        grad_out, query, key, value, locations, out, lse, scale,
        grad_q=grad_q, grad_k=grad_k, grad_v=grad_v, grad_loc=grad_loc,
    )  # fmt: skip
    return _in_input_dtypes(grads, key, value)


@deformable_cross_attention_backward.register_fake
def _(grad_out, query, key, value, locations, out, lse, scale):
    return _in_input_dtypes(backward_outputs(query, key, value, locations), key, value)


def _setup_context(ctx, inputs, output):
    query, key, value, locations, scale = inputs
    out, lse = output
    ctx.save_for_backward(query, key, value, locations, out, lse)
    ctx.scale = scale


def _backward(ctx, grad_out, grad_lse):
    # lse is an internal output (functional returns only ``out``), so grad_lse is never used.
    query, key, value, locations, out, lse = ctx.saved_tensors
    if deterministic_fallback("posemods.deformable_cross_attention"):
        return *reference_gradients(RECORD.reference, (query, key, value, locations), grad_out, ctx.scale), None
    return *deformable_cross_attention_backward(grad_out, query, key, value, locations, out, lse, ctx.scale), None


deformable_cross_attention_forward.register_autograd(_backward, setup_context=_setup_context)


def fused(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, locations: torch.Tensor, scale: float
) -> torch.Tensor:
    """The fused op's output (B, Lq, G, Dv); the logsumexp it also returns is kept for backward only."""
    return deformable_cross_attention_forward(query, key, value, locations, scale)[0]


RECORD = OpRecord(
    name="deformable_cross_attention",
    reference=reference.deformable_cross_attention,
    fused=fused,
    load_kernels=_load_kernels,
)
