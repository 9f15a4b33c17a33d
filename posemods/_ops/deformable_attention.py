"""``posemods::deformable_attention``: the fused plain deformable attention kernels as a custom op.

Opaque to torch.compile (``register_fake``), with its backward a second custom op. The fused backward
scatters value gradients with atomics; under ``torch.use_deterministic_algorithms(True)`` the
reference backward runs instead.
"""

from __future__ import annotations

import torch

from posemods._ops._deterministic import deterministic_fallback, reference_gradients


def _kernels():
    from posemods.triton import deformable_attention

    return deformable_attention


@torch.library.custom_op("posemods::deformable_attention", mutates_args=())
def deformable_attention(value: torch.Tensor, locations: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
    return _kernels().forward(value, locations, attention)


@deformable_attention.register_fake
def _(value, locations, attention):
    batch, queries, heads, _ = attention.shape
    return value.new_empty((batch, queries, heads, value.shape[-1]))


@torch.library.custom_op("posemods::deformable_attention_backward", mutates_args=())
def deformable_attention_backward(
    grad_out: torch.Tensor, value: torch.Tensor, locations: torch.Tensor, attention: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return _kernels().backward(grad_out, value, locations, attention)


@deformable_attention_backward.register_fake
def _(grad_out, value, locations, attention):
    return torch.empty_like(value), torch.empty_like(locations), torch.empty_like(attention)


def _setup_context(ctx, inputs, output):
    ctx.save_for_backward(*inputs)


def _backward(ctx, grad_out):
    value, locations, attention = ctx.saved_tensors
    if deterministic_fallback("posemods.deformable_attention"):
        from posemods.reference import deformable_attention as reference

        return reference_gradients(reference, (value, locations, attention), grad_out)
    return deformable_attention_backward(grad_out, value, locations, attention)


deformable_attention.register_autograd(_backward, setup_context=_setup_context)
