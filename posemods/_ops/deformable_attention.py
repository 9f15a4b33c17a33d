"""``posemods::deformable_attention``: the fused plain deformable attention kernels as a custom op.

Opaque to torch.compile (``register_fake``), with its backward a second custom op. The ops allocate their
outputs (:func:`forward_outputs`, :func:`backward_outputs`) and hand them to the launchers; the fakes
return the same allocation. The fused backward scatters value gradients with atomics; under
``torch.use_deterministic_algorithms(True)`` the reference backward runs instead.
"""

from __future__ import annotations

from types import ModuleType

import torch

from posemods import reference
from posemods._ops._deterministic import deterministic_fallback, reference_gradients
from posemods._ops._record import OpRecord


def _load_kernels() -> ModuleType:
    import posemods.triton.deformable_attention as kernels  # imports triton, so only on first use

    return kernels


def forward_outputs(value: torch.Tensor, locations: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
    """Uninitialised, contiguous output (B, Lq, G, Dv): the launcher's allocation and the fake's."""
    batch, queries, heads, _ = attention.shape
    return value.new_empty((batch, queries, heads, value.shape[-1]))


def backward_outputs(
    value: torch.Tensor, locations: torch.Tensor, attention: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Uninitialised, contiguous gradients; value's in fp32 (the atomics' accumulator, cast on return)."""
    return (
        value.new_empty(value.shape, dtype=torch.float32),
        locations.new_empty(locations.shape),
        attention.new_empty(attention.shape),
    )


@torch.library.custom_op("posemods::deformable_attention", mutates_args=())
def deformable_attention(value: torch.Tensor, locations: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
    out = forward_outputs(value, locations, attention)
    RECORD.kernels().forward(value, locations, attention, out=out)
    return out


@deformable_attention.register_fake
def _(value, locations, attention):
    return forward_outputs(value, locations, attention)


@torch.library.custom_op("posemods::deformable_attention_backward", mutates_args=())
def deformable_attention_backward(
    grad_out: torch.Tensor, value: torch.Tensor, locations: torch.Tensor, attention: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    grad_v, grad_loc, grad_attn = backward_outputs(value, locations, attention)
    RECORD.kernels().backward(grad_out, value, locations, attention, grad_v=grad_v, grad_loc=grad_loc,
                              grad_attn=grad_attn)  # fmt: skip
    return grad_v.to(value.dtype), grad_loc, grad_attn


@deformable_attention_backward.register_fake
def _(grad_out, value, locations, attention):
    grad_v, grad_loc, grad_attn = backward_outputs(value, locations, attention)
    return grad_v.to(value.dtype), grad_loc, grad_attn


def _setup_context(ctx, inputs, output):
    ctx.save_for_backward(*inputs)


def _backward(ctx, grad_out):
    value, locations, attention = ctx.saved_tensors
    if deterministic_fallback("posemods.deformable_attention"):
        return reference_gradients(RECORD.reference, (value, locations, attention), grad_out)
    return deformable_attention_backward(grad_out, value, locations, attention)


deformable_attention.register_autograd(_backward, setup_context=_setup_context)


RECORD = OpRecord(
    name="deformable_attention",
    reference=reference.deformable_attention,
    fused=deformable_attention,
    load_kernels=_load_kernels,
)
