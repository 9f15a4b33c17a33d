"""Choosing the backend that runs an op: ``"auto"``, ``"reference"`` or ``"triton"``.

Precedence, highest first:

1. an explicit ``backend="reference"`` / ``"triton"`` on the call or the module;
2. the innermost :func:`use_backend` context;
3. the ``POSEMODS_BACKEND`` environment variable;
4. ``"auto"``: triton when it imports, the tensors are on CUDA and the op supports the dtype and
   shape; otherwise the reference. Each fallback is logged at DEBUG on ``logging.getLogger("posemods")``.

An explicit ``"triton"`` that cannot run raises ``RuntimeError`` with the reason. With
``TRITON_INTERPRET=1`` in the environment before the kernels are first used, an explicit ``"triton"``
runs on CPU tensors through Triton's interpreter; that is how the test-suite checks the kernels.
``"auto"`` never picks the interpreter: it is far too slow to be a sensible default.

Under ``torch.compile`` the choice is made while tracing. The context manager is guarded (leaving it
recompiles); the environment variables are read when tracing, so set them before compiling.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import logging
import os
from collections.abc import Callable, Iterator

import torch

from posemods._shapes import expect_choice

BACKENDS = ("auto", "reference", "triton")
ENV_VAR = "POSEMODS_BACKEND"

logger = logging.getLogger("posemods")

# The innermost use_backend() value. A plain module global, because dynamo guards on it.
_context_backend: str | None = None


@contextlib.contextmanager
def use_backend(backend: str) -> Iterator[None]:
    """Run the ops inside the ``with`` block on ``backend`` unless a call names one explicitly.

    >>> with posemods.use_backend("reference"):
    ...     out = module(x)
    """
    global _context_backend
    expect_choice("backend", backend, BACKENDS)
    previous, _context_backend = _context_backend, backend
    try:
        yield
    finally:
        _context_backend = previous


def _env_backend() -> str:
    # Dynamo evaluates os.environ reads while tracing, so this needs no special casing.
    value = os.environ.get(ENV_VAR, "").strip().lower()
    if value and value not in BACKENDS:
        raise ValueError(f"{ENV_VAR}: expected one of {BACKENDS}, got {value!r}")
    return value


def interpreting() -> bool:
    """Whether Triton runs kernels in its CPU interpreter: the one rule for ``TRITON_INTERPRET`` in
    posemods (Triton's own truthy strings, "1", "true", "on", "yes"), used by dispatch, the launchers and
    the benchmarks."""
    return os.environ.get("TRITON_INTERPRET", "0").strip().lower() in ("1", "true", "on", "yes")


# Whether triton is installed is cheap to know; importing it (about a second) waits for first use.
_TRITON_INSTALLED = importlib.util.find_spec("triton") is not None
_triton_error: str | None = None


def triton_import_error() -> str:
    """Why ``import triton`` fails here, or ``""`` when it works. Imports once, on first need."""
    global _triton_error
    if _triton_error is None:
        if torch.compiler.is_compiling():  # no imports while tracing; the eager call settles it later
            return "" if _TRITON_INSTALLED else "triton is not installed"
        try:
            importlib.import_module("triton")
            _triton_error = ""
        except Exception as exc:  # ImportError, or a broken install raising anything at import
            _triton_error = f"triton is not importable ({type(exc).__name__}: {exc})"
    return _triton_error


def requested_backend(backend: str) -> str:
    """Resolve precedence (argument > context > environment) without looking at any tensor."""
    expect_choice("backend", backend, BACKENDS)
    if backend != "auto":
        return backend
    if _context_backend is not None:  # use_backend("auto") too: it overrides the environment variable
        return _context_backend
    return _env_backend() or "auto"


def select_backend(
    op: str,
    backend: str,
    tensors: tuple[torch.Tensor, ...],
    triton_unsupported: Callable[..., str],
) -> str:
    """Return ``"reference"`` or ``"triton"`` for one call of ``op``.

    ``triton_unsupported(*tensors)`` returns ``""`` when the op's kernels handle these inputs, or the
    reason they do not (dtype, shape limits, determinism); it is only called when triton imports.
    """
    choice = requested_backend(backend)
    if choice == "reference":
        return "reference"

    device = tensors[0].device
    reason = ""
    if device.type != "cuda":
        if choice == "auto":  # checked first, so CPU users never pay for importing triton
            reason = f"tensors are on {device.type}; auto only picks triton for CUDA tensors"
        elif not interpreting():
            reason = (
                f"tensors are on {device.type}; triton kernels need CUDA tensors, or "
                "TRITON_INTERPRET=1 set before first use to run them in Triton's CPU interpreter"
            )
    if not reason:
        reason = triton_import_error()
    if not reason:
        reason = triton_unsupported(*tensors)

    if choice == "triton":
        if reason:
            raise RuntimeError(f"posemods.{op}: backend='triton' cannot run: {reason}")
        return "triton"
    if reason:
        if not torch.compiler.is_compiling():  # dynamo cannot trace logging calls
            logger.debug("posemods.%s: backend 'auto' falls back to the reference: %s", op, reason)
        return "reference"
    return "triton"
