"""``posemods::kinematics_attention``: the fused kernels as a torch.library custom op.

The op is opaque to torch.compile: ``register_fake`` gives it shapes and ``register_autograd`` routes
its backward to a second custom op, so a compiled graph calls the Triton kernels as-is.
The kernel module is imported on first use, so ``import posemods`` never needs triton.
"""

from __future__ import annotations

import torch


def _kernels():
    from posemods.triton import kinematics_attention

    return kinematics_attention


@torch.library.custom_op("posemods::kinematics_attention", mutates_args=())
def kinematics_attention(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, scale: float
) -> tuple[torch.Tensor, torch.Tensor]:
    return _kernels().forward(query, key, value, scale)


@kinematics_attention.register_fake
def _(query, key, value, scale):
    batch, joints = query.shape[:2]
    return torch.empty_like(value), query.new_empty((batch, joints, joints))


@torch.library.custom_op("posemods::kinematics_attention_backward", mutates_args=())
def kinematics_attention_backward(
    grad_pred: torch.Tensor,
    grad_attn: torch.Tensor | None,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attn: torch.Tensor,
    scale: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return _kernels().backward(grad_pred, grad_attn, query, key, value, attn, scale)


@kinematics_attention_backward.register_fake
def _(grad_pred, grad_attn, query, key, value, attn, scale):
    return torch.empty_like(query), torch.empty_like(key), torch.empty_like(value)


def _setup_context(ctx, inputs, output):
    query, key, value, scale = inputs
    ctx.save_for_backward(query, key, value, output[1])
    ctx.scale = scale


def _backward(ctx, grad_pred, grad_attn):
    query, key, value, attn = ctx.saved_tensors
    grads = kinematics_attention_backward(grad_pred, grad_attn, query, key, value, attn, ctx.scale)
    return *grads, None


kinematics_attention.register_autograd(_backward, setup_context=_setup_context)
