"""Loading local weights: no downloads, ever. Every model and backbone takes ``checkpoint=<path>``."""

from __future__ import annotations

import os
from collections.abc import Mapping

import torch
from torch import nn

from posemods._serialization import DIGEST_KEY, is_safetensors, load_file, read_safetensors, verify_digest

# Keys that wrap a state_dict in common training checkpoints.
_WRAPPERS = ("state_dict", "model", "module", "model_state_dict")


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Read a state_dict from a local file: one saved with ``torch.save``, or a ``.safetensors`` file.

    Unwraps ``{"state_dict": ...}``-style training checkpoints and strips the ``module.`` prefix
    that DataParallel/DDP add. Loads with ``weights_only=True``: a checkpoint is data, not code.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"checkpoint: no such file {os.fspath(path)!r} (weights are never downloaded)")
    # Either reader gives a clear error for an empty, truncated or foreign file.
    state = read_safetensors(path, "checkpoint")[0] if is_safetensors(path) else load_file(path, "checkpoint")
    if isinstance(state, dict) and DIGEST_KEY in state and "format" in state:
        # A posemods training checkpoint carries the digest of its payload: flipped bytes are refused.
        verify_digest(state, os.fspath(path))
    while isinstance(state, Mapping) and not any(isinstance(v, torch.Tensor) for v in state.values()):
        inner = next((state[k] for k in _WRAPPERS if k in state), None)
        if inner is None:
            raise ValueError(f"checkpoint {os.fspath(path)!r}: no tensors and none of the keys {_WRAPPERS}")
        state = inner
    if not isinstance(state, Mapping):
        raise ValueError(f"checkpoint {os.fspath(path)!r}: expected a state_dict, got {type(state).__name__}")
    prefix = "module."
    if all(k.startswith(prefix) for k in state):
        state = {k[len(prefix) :]: v for k, v in state.items()}
    return dict(state)


def load_checkpoint(module: nn.Module, path: str | os.PathLike, ignore_prefixes: tuple[str, ...] = ()) -> nn.Module:
    """Load the local state_dict at ``path`` into ``module`` strictly, and return the module.

    Keys starting with one of ``ignore_prefixes`` are dropped first (e.g. ``"fc."``, a classifier a
    features-only backbone does not have). Every other key must match in name and shape: a partial
    load that silently leaves random weights behind would be worse than an error.
    """
    state = {k: v for k, v in read_state_dict(path).items() if not k.startswith(ignore_prefixes)}
    missing, unexpected = module.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(
            f"checkpoint {os.fspath(path)!r} does not fit {type(module).__name__}: "
            f"missing keys {missing[:5]}{'...' if len(missing) > 5 else ''}, "
            f"unexpected keys {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}"
        )
    return module
