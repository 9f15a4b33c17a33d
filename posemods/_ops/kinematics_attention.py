"""``posemods::kinematics_attention``: the fused kernels as a torch.library custom op.

The op is opaque to torch.compile: ``register_fake`` gives it shapes and ``register_autograd`` routes
its backward to a second custom op, so a compiled graph calls the Triton kernels as-is.
The kernel module is imported on first use, so ``import posemods`` never needs triton.

The op allocates its outputs with :func:`forward_outputs` / :func:`backward_outputs` and hands them to
the kernel launchers, and the fakes return the same allocation, so the strides a fake promises to
``torch.compile`` are the strides the kernels write: contiguous, whatever the inputs' layout.

The forward returns the attention in fp32 and each row's normaliser (fp32), both saved for the
backward; :func:`posemods.functional.kinematics_attention` casts the attention to the inputs' dtype.
"""

from __future__ import annotations

from types import ModuleType

import torch

from posemods import reference
from posemods._ops._record import OpRecord


def _load_kernels() -> ModuleType:
    import posemods.triton.kinematics_attention as kernels  # imports triton, so only on first use

    return kernels


def forward_outputs(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Uninitialised, contiguous ``pred`` (value's shape and dtype), ``attn`` (B, J, J) fp32 and the
    row normalisers (B, J) fp32: what the forward kernel writes, and what the fake returns."""
    batch, joints = query.shape[:2]
    pred = value.new_empty(value.shape)  # new_empty: contiguous, unlike empty_like's preserve_format
    attn = query.new_empty((batch, joints, joints), dtype=torch.float32)
    norm = query.new_empty((batch, joints), dtype=torch.float32)
    return pred, attn, norm


def backward_outputs(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Uninitialised, contiguous gradients for query, key and value."""
    return query.new_empty(query.shape), key.new_empty(key.shape), value.new_empty(value.shape)


@torch.library.custom_op("posemods::kinematics_attention", mutates_args=())
def kinematics_attention(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, scale: float, normalization: str = "softmax"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    pred, attn, norm = forward_outputs(query, key, value)
    RECORD.kernels().forward(query, key, value, scale, normalization, pred=pred, attn=attn, norm=norm)
    return pred, attn, norm


@kinematics_attention.register_fake
def _(query, key, value, scale, normalization="softmax"):
    return forward_outputs(query, key, value)


@torch.library.custom_op("posemods::kinematics_attention_backward", mutates_args=())
def kinematics_attention_backward(
    grad_pred: torch.Tensor,
    grad_attn: torch.Tensor | None,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attn: torch.Tensor,
    norm: torch.Tensor,
    scale: float,
    normalization: str = "softmax",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    grad_q, grad_k, grad_v = backward_outputs(query, key, value)
    RECORD.kernels().backward(
        grad_pred, grad_attn, query, key, value, attn, norm, scale, normalization,
        grad_q=grad_q, grad_k=grad_k, grad_v=grad_v,
    )  # fmt: skip
    return grad_q, grad_k, grad_v


@kinematics_attention_backward.register_fake
def _(grad_pred, grad_attn, query, key, value, attn, norm, scale, normalization="softmax"):
    return backward_outputs(query, key, value)


def _setup_context(ctx, inputs, output):
    query, key, value, scale, normalization = inputs
    _, attn, norm = output
    ctx.save_for_backward(query, key, value, attn, norm)
    ctx.scale = scale
    ctx.normalization = normalization
    ctx.mark_non_differentiable(norm)


def _backward(ctx, grad_pred, grad_attn, _grad_norm):
    query, key, value, attn, norm = ctx.saved_tensors
    grads = kinematics_attention_backward(
        grad_pred, grad_attn, query, key, value, attn, norm, ctx.scale, ctx.normalization
    )
    return *grads, None, None


kinematics_attention.register_autograd(_backward, setup_context=_setup_context)


def fused(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, scale: float, normalization: str = "softmax"
) -> tuple[torch.Tensor, torch.Tensor]:
    """The fused op with the reference's signature and outputs: ``pred`` and ``attn`` in the inputs'
    dtype (the op keeps its fp32 attention and the row normalisers for the backward)."""
    pred, attn, _ = kinematics_attention(query, key, value, scale, normalization)
    return pred, attn.to(query.dtype)


RECORD = OpRecord(
    name="kinematics_attention",
    reference=reference.kinematics_attention,
    fused=fused,
    load_kernels=_load_kernels,
)
