"""The deterministic fallback shared by the ops whose fused backward scatters with atomics.

Atomic adds land in a different order each run, so the rounding changes. Under
``torch.use_deterministic_algorithms(True)`` those ops differentiate their reference instead; the
forward stays fused.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import torch

logger = logging.getLogger("posemods")


def deterministic_fallback(op: str) -> bool:
    """True (and logged at DEBUG) when deterministic algorithms are on, so ``op`` must not use atomics."""
    if not torch.are_deterministic_algorithms_enabled():
        return False
    if not torch.compiler.is_compiling():  # dynamo cannot trace logging calls
        logger.debug(
            "%s: deterministic algorithms are on and the fused backward scatters with atomics; "
            "running the reference backward",
            op,
        )
    return True


def reference_gradients(
    reference: Callable[..., torch.Tensor], inputs: Sequence[torch.Tensor], grad_out: torch.Tensor, *args
) -> tuple[torch.Tensor, ...]:
    """The gradients of ``reference(*inputs, *args)`` with respect to ``inputs``, for ``grad_out``."""
    leaves = [t.detach().requires_grad_() for t in inputs]
    with torch.enable_grad():
        out = reference(*leaves, *args)
    return torch.autograd.grad(out, leaves, grad_out)
