"""What several ops' kernels and launchers share: the dot, the launch rules, the program unfolding.

Helpers that one op alone uses live in that op's kernel module; the deformable kernels' shared sampling
is :mod:`posemods.triton._bilinear`.

Launch rules that the interpreter cannot check, and so every launcher follows through :func:`launch`:

- **Device.** A kernel runs on the *current* CUDA device, not on its tensors' device; tensors on
  ``cuda:1`` while ``cuda:0`` is current would be read through the wrong context (an illegal address, or
  with peer access the wrong GPU and stream). :func:`launch` enters ``torch.cuda.device(tensor.device)``.
- **Grid.** CUDA limits grid axes 1 and 2 to 65,535 programs (axis 0 to 2**31 - 1). Every kernel puts
  all its programs on axis 0 and unfolds (block, batch) from ``tl.program_id(0)`` itself, so no batch
  size can exceed a limit; :func:`launch` refuses a grid that would.
- **Offsets.** Products of a row index and a row length (``rows * P``, ``pos * C``) are formed in int64:
  at 2**31 elements per batch element an int32 product wraps silently on the GPU.
"""

from __future__ import annotations

import contextlib

import torch
import triton
import triton.language as tl

from posemods._backend import interpreting


@triton.jit
def dot(a, b, acc, DOT_PRECISION: tl.constexpr, UPCAST: tl.constexpr):
    """``tl.dot(a, b, acc)`` that upcasts to fp32 when ``UPCAST``.

    Triton's interpreter multiplies the raw bit patterns of bfloat16 ``tl.dot`` operands
    (triton-lang/triton#11584), so launchers set ``UPCAST`` only when interpreting bf16. Compiled
    kernels never take that branch: it is a constexpr and vanishes.
    """
    if UPCAST:
        return tl.dot(a.to(tl.float32), b.to(tl.float32), acc, input_precision="ieee")
    return tl.dot(a, b, acc, input_precision=DOT_PRECISION)


SUPPORTED_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
MAX_GRID_AXIS = (2**31 - 1, 65535, 65535)  # CUDA's per-axis grid limits


def matmul_allows_tf32() -> bool:
    """Whether torch's own fp32 matmul would use TF32, read so that it works with either API.

    Reading the legacy ``torch.backends.cuda.matmul.allow_tf32`` raises "mix of the legacy and new
    APIs" once the new ``fp32_precision`` API has been used, and ``torch.get_float32_matmul_precision()``
    raises likewise. The new API's getter never raises and reflects legacy settings too
    (``allow_tf32 = True`` or ``set_float32_matmul_precision("high")`` read back as "tf32"); its
    "none" means "inherit", from ``torch.backends.fp32_precision``. Torch builds without the new API
    (before 2.9) only have the legacy flag.
    """
    matmul = torch.backends.cuda.matmul
    precision = getattr(matmul, "fp32_precision", None)
    if precision is None:
        return bool(matmul.allow_tf32)
    if precision == "none":
        precision = getattr(torch.backends, "fp32_precision", "none")
    return precision == "tf32"


def dot_config(dtype: torch.dtype) -> dict[str, object]:
    """Constexprs for :func:`dot`. fp32 uses TF32 only if torch's matmul would
    (:func:`matmul_allows_tf32`); fp16/bf16 multiply natively with fp32 accumulation."""
    precision = "tf32" if dtype == torch.float32 and matmul_allows_tf32() else "ieee"
    return {"DOT_PRECISION": precision, "UPCAST": interpreting() and dtype == torch.bfloat16}


def device_guard(tensor: torch.Tensor) -> contextlib.AbstractContextManager:
    """``torch.cuda.device(tensor.device)`` for a CUDA tensor, else a no-op (the interpreter's CPU tensors)."""
    return torch.cuda.device(tensor.device) if tensor.is_cuda else contextlib.nullcontext()


def launch(kernel, grid: tuple[int, ...], device_tensor: torch.Tensor, *args, **kwargs) -> None:
    """``kernel[grid](*args, **kwargs)`` on ``device_tensor``'s device, after checking CUDA's grid limits."""
    for axis, (size, limit) in enumerate(zip(grid, MAX_GRID_AXIS)):
        if size > limit:
            raise RuntimeError(f"{kernel.fn.__name__}: grid axis {axis} has {size} programs, CUDA allows {limit}")
    with device_guard(device_tensor):
        kernel[grid](*args, **kwargs)


@triton.jit
def program_blocks(N, BLOCK: tl.constexpr):
    """(batch element as int64, block of N) of this program: all programs sit on grid axis 0 (CUDA
    allows 2**31 - 1 there but 65,535 on axes 1 and 2), the blocks of one batch element adjacent."""
    pid = tl.program_id(0)
    blocks = tl.cdiv(N, BLOCK)
    return (pid // blocks).to(tl.int64), pid % blocks
