"""Test-suite setup.

Triton decides at decoration time whether a kernel is interpreted, so TRITON_INTERPRET is settled in
``pytest_configure``, before any test module (and with it any posemods kernel module) is imported:

- by default it is set to 1, and the op tests run the kernels in Triton's CPU interpreter;
- ``pytest -m cuda`` on a machine with a CUDA GPU leaves it unset, so the ``cuda``-marked tests
  (tests/test_triton_cuda.py, and the op tests' ``device="cuda"`` cases) run the compiled kernels;
  without a GPU they skip (test_triton_cuda.py) or are not collected (the ``device`` cases).

"auto" still never picks triton for CPU tensors; tests opt in with backend="triton".
"""

import importlib.util
import itertools
import os

import pytest
import torch

import posemods

HAS_TRITON = importlib.util.find_spec("triton") is not None
HAS_CUDA = torch.cuda.is_available()


def cuda_run(markexpr: str) -> bool:
    """Whether ``-m markexpr`` asks for the CUDA tests (and not their negation)."""
    words = markexpr.replace("(", " ").replace(")", " ").split()
    return "cuda" in words and not any(a == "not" and b == "cuda" for a, b in itertools.pairwise(words))


def pytest_configure(config):
    config.addinivalue_line("markers", "cuda: runs compiled kernels on a CUDA GPU (pytest -m cuda); skips without one")
    if not (HAS_CUDA and cuda_run(config.getoption("markexpr", "") or "")):
        os.environ.setdefault("TRITON_INTERPRET", "1")


requires_cuda = pytest.mark.skipif(not HAS_CUDA, reason="no CUDA device")
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


# The op tests' devices: CPU always, and CUDA (marked ``cuda``) on a machine that has a GPU.
DEVICES = ["cpu", *([pytest.param("cuda", marks=pytest.mark.cuda)] if HAS_CUDA else [])]


@pytest.fixture(params=DEVICES)
def device(request):
    """The device an op test builds its tensors on: ``"cpu"``, where ``backend="triton"`` runs the kernels in
    Triton's interpreter, and, when a GPU exists, ``"cuda"``, where ``pytest -m cuda`` runs the compiled
    kernels. A default run on a GPU machine interprets (TRITON_INTERPRET=1, see ``pytest_configure``) and
    skips the CUDA case: the interpreter would copy the tensors to the host and test nothing new."""
    if request.param == "cuda":
        from posemods._backend import interpreting

        if interpreting():
            pytest.skip("TRITON_INTERPRET is set: run `pytest -m cuda` for the compiled kernels")
    return torch.device(request.param)


def to_device(inputs: dict, device) -> dict:
    """``inputs`` (name -> CPU tensor, built by a seeded CPU generator) on ``device``."""
    return {name: tensor.to(device) for name, tensor in inputs.items()}


def randomise_offsets(module, seed=1):
    """For the deformable-motion tests (DCA, DA, DC and the BMD blocks built from them): give the offset
    predictors non-zero weights so the offsets depend on the input (at init they do not): θ of DCA and
    DA, DCA's reference-point map, DC's offset conv; and the q/v projections non-zero biases."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for sub in module.modules():
            if isinstance(sub, posemods.DeformableConvMotion):
                sub.offsets.weight.copy_(torch.randn(sub.offsets.weight.shape, generator=gen) * 0.3)
                sub.offsets.bias.copy_(torch.randn(sub.offsets.bias.shape, generator=gen))
            elif isinstance(sub, posemods.DeformableCrossAttention):
                theta = sub.offsets.theta
                theta.weight.copy_(torch.randn(theta.weight.shape, generator=gen) * 0.5)
                theta.bias.add_(torch.randn(theta.bias.shape, generator=gen))
                if hasattr(sub, "reference_proj"):
                    sub.reference_proj.weight.copy_(torch.randn(sub.reference_proj.weight.shape, generator=gen))
                    sub.reference_proj.bias.copy_(torch.randn(2, generator=gen))
                for proj in (getattr(sub, "v_proj", None), getattr(sub, "q_proj", None)):
                    if proj is not None and proj.bias is not None:
                        proj.bias.copy_(torch.randn(proj.bias.shape, generator=gen))
    return module


def module_cases(device, hw=(16, 12), backend="triton") -> list:
    """(name, build, make_inputs, kwargs) for every posemods module on ``backend`` on an H x W grid: the
    modules ``pytest -m cuda`` compiles with fullgraph=True on the fused path (tests/test_triton_cuda.py),
    run eagerly on CPU first by tests/test_triton_launch.py."""

    def randn(*shape, positive=False):
        t = torch.randn(*shape, generator=torch.Generator().manual_seed(len(shape))).to(device)
        return t.abs() if positive else t

    length = hw[0] * hw[1]
    return [
        ("KMM", lambda: posemods.KMM(32, 13, backend=backend),
         lambda: (randn(2, 32, *hw), randn(2, 32, *hw), randn(2, 13, *hw, positive=True)), {}),
        ("DCA", lambda: posemods.DCA(64, num_heads=4, num_points=4, backend=backend),
         lambda: (randn(2, length, 64), randn(2, length, 64), hw), {}),
        ("DCA operator='da' (DA)", lambda: posemods.DCA(64, num_heads=4, num_points=4, operator="da",
                                                         backend=backend),
         lambda: (randn(2, length, 64), randn(2, length, 64), hw), {}),
        ("HKM", lambda: posemods.HKM(64, 5, num_heads=4, backend=backend), lambda: (randn(2, 3, length, 64),),
         {"hw": hw}),
        ("BMD", lambda: posemods.BMD(64, num_heads=4, num_points=4, depth=1, backend=backend),
         lambda: (randn(2, 3, length, 64), randn(2, length, 64), hw), {}),
    ]  # fmt: skip
