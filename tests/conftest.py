"""Test-suite setup.

Triton decides at decoration time whether a kernel is interpreted, so TRITON_INTERPRET=1 is set here,
before any posemods kernel module is imported. "auto" still never picks triton for CPU tensors;
tests opt in with backend="triton".
"""

import os

os.environ.setdefault("TRITON_INTERPRET", "1")

import importlib.util

import pytest
import torch

HAS_TRITON = importlib.util.find_spec("triton") is not None
requires_triton = pytest.mark.skipif(not HAS_TRITON, reason="triton is not installed")

BACKENDS = ["reference", pytest.param("triton", marks=requires_triton)]


# One torch thread per process: the suite runs as `pytest -n 2` on two cores, and a second intra-op thread
# per worker made small convolutions wait on descheduled threads (6x slower wall time, measured).
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


@pytest.fixture(params=BACKENDS)
def backend(request):
    """Both backends; triton runs in the interpreter on CPU tensors."""
    return request.param
