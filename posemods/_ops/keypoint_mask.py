"""``posemods::keypoint_mask``: the fused keypoint-mask kernels as a torch.library custom op.

The op is opaque to torch.compile: ``register_fake`` gives it shapes and ``register_autograd`` routes
its backward to a second custom op. The forward also returns each token's log-sum-exp (B, J), the
only state the backward keeps besides the inputs; :func:`posemods.functional.keypoint_mask` drops it.
The kernel module is imported on first use, so ``import posemods`` never needs triton.

The op allocates its outputs with :func:`forward_outputs` / :func:`backward_outputs` and hands them to
the kernel launchers, and the fakes return the same allocation, so the strides a fake promises to
``torch.compile`` are the ones the kernels write (contiguous, whatever the inputs' layout).
"""

from __future__ import annotations

from types import ModuleType

import torch

from posemods import reference
from posemods._ops._record import OpRecord


def _load_kernels() -> ModuleType:
    import posemods.triton.keypoint_mask as kernels  # imports triton, so only on first use

    return kernels


def forward_outputs(tokens: torch.Tensor, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Uninitialised, contiguous ``mask`` (B, L) in the features' dtype and ``lse`` (B, J) in fp32."""
    batch, joints = tokens.shape[:2]
    return feats.new_empty((batch, feats.shape[1])), tokens.new_empty((batch, joints), dtype=torch.float32)


def backward_outputs(tokens: torch.Tensor, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Uninitialised, contiguous gradients for tokens and feats (new_empty, not empty_like's layout)."""
    return tokens.new_empty(tokens.shape), feats.new_empty(feats.shape)


@torch.library.custom_op("posemods::keypoint_mask", mutates_args=())
def keypoint_mask(tokens: torch.Tensor, feats: torch.Tensor, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    mask, lse = forward_outputs(tokens, feats)
    RECORD.kernels().forward(tokens, feats, scale, mask=mask, lse=lse)
    return mask, lse


@keypoint_mask.register_fake
def _(tokens, feats, scale):
    return forward_outputs(tokens, feats)


@torch.library.custom_op("posemods::keypoint_mask_backward", mutates_args=())
def keypoint_mask_backward(
    grad_mask: torch.Tensor, tokens: torch.Tensor, feats: torch.Tensor, lse: torch.Tensor, scale: float
) -> tuple[torch.Tensor, torch.Tensor]:
    grad_tokens, grad_feats = backward_outputs(tokens, feats)
    RECORD.kernels().backward(grad_mask, tokens, feats, lse, scale, grad_tokens=grad_tokens, grad_feats=grad_feats)
    return grad_tokens, grad_feats


@keypoint_mask_backward.register_fake
def _(grad_mask, tokens, feats, lse, scale):
    return backward_outputs(tokens, feats)


def _setup_context(ctx, inputs, output):
    tokens, feats, scale = inputs
    ctx.save_for_backward(tokens, feats, output[1])
    ctx.scale = scale
    ctx.mark_non_differentiable(output[1])


def _backward(ctx, grad_mask, _grad_lse):
    tokens, feats, lse = ctx.saved_tensors
    grad_tokens, grad_feats = keypoint_mask_backward(grad_mask, tokens, feats, lse, ctx.scale)
    return grad_tokens, grad_feats, None


keypoint_mask.register_autograd(_backward, setup_context=_setup_context)


def fused(tokens: torch.Tensor, feats: torch.Tensor, scale: float) -> torch.Tensor:
    """The fused op with the reference's signature and output: the mask (the log-sum-exp stays with
    the backward)."""
    return keypoint_mask(tokens, feats, scale)[0]


RECORD = OpRecord(
    name="keypoint_mask",
    reference=reference.keypoint_mask,
    fused=fused,
    load_kernels=_load_kernels,
)
