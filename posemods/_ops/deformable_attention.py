"""``posemods::deformable_attention``: the fused plain deformable attention kernels as a custom op.

Opaque to torch.compile (``register_fake``), with its backward a second custom op. The fused backward
scatters value gradients with atomics; under ``torch.use_deterministic_algorithms(True)`` the
reference backward runs instead.
"""

from __future__ import annotations

import logging

import torch

logger = logging.getLogger("posemods")


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


def _reference_backward(grad_out, value, locations, attention):
    from posemods.reference import deformable_attention as reference

    inputs = [t.detach().requires_grad_() for t in (value, locations, attention)]
    with torch.enable_grad():
        out = reference(*inputs)
    return torch.autograd.grad(out, inputs, grad_out)


def _backward(ctx, grad_out):
    value, locations, attention = ctx.saved_tensors
    if torch.are_deterministic_algorithms_enabled():
        if not torch.compiler.is_compiling():  # dynamo cannot trace logging calls
            logger.debug(
                "posemods.deformable_attention: deterministic algorithms are on and the fused backward "
                "scatters with atomics; running the reference backward"
            )
        return _reference_backward(grad_out, value, locations, attention)
    return deformable_attention_backward(grad_out, value, locations, attention)


deformable_attention.register_autograd(_backward, setup_context=_setup_context)
