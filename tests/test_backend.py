"""Backend choice: precedence, auto fallback with logged reasons, explicit errors."""

import dataclasses
import logging
import types

import pytest
import torch
from conftest import requires_triton

import posemods
from posemods import _backend, functional


def inputs(dtype=torch.float32):
    return torch.rand(1, 2, 3, 3, dtype=dtype), torch.rand(1, 2, 3, 3, dtype=dtype), torch.rand(1, 2, 3, 3, dtype=dtype)


def choose(backend="auto", tensors=None, unsupported=lambda *t: ""):
    return _backend.select_backend("op", backend, tensors or inputs(), unsupported)


def test_auto_on_cpu_falls_back_and_logs_why(caplog):
    with caplog.at_level(logging.DEBUG, logger="posemods"):
        assert choose() == "reference"
    assert "auto only picks triton for CUDA tensors" in caplog.text


def test_fallback_is_silent_at_default_log_level(capsys, caplog):
    with caplog.at_level(logging.INFO, logger="posemods"):
        choose()
    assert caplog.text == "" and capsys.readouterr() == ("", "")


@requires_triton
def test_explicit_triton_on_cpu_without_interpreter_says_why(monkeypatch):
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    with pytest.raises(RuntimeError, match=r"backend='triton' cannot run: tensors are on cpu.*TRITON_INTERPRET=1"):
        choose("triton")


@requires_triton
def test_explicit_triton_reports_unsupported_dtype():
    with pytest.raises(RuntimeError, match=r"cannot run: dtype torch.float64"):
        functional.kinematics_attention(*inputs(torch.float64), backend="triton")


def test_explicit_triton_without_triton_says_why(monkeypatch):
    monkeypatch.setattr(_backend, "_triton_error", "triton is not importable (ImportError: nope)")
    with pytest.raises(RuntimeError, match="triton is not importable"):
        choose("triton")
    on_cuda = (types.SimpleNamespace(device=torch.device("cuda", 0)),)
    assert _backend.select_backend("op", "auto", on_cuda, lambda *t: "") == "reference"


def test_unknown_backend_names_the_choices(monkeypatch):
    with pytest.raises(ValueError, match=r"backend: expected one of \('auto', 'reference', 'triton'\), got 'cuda'"):
        choose("cuda")
    monkeypatch.setenv("POSEMODS_BACKEND", "fast")
    with pytest.raises(ValueError, match="POSEMODS_BACKEND"):
        choose()


@requires_triton
def test_precedence_argument_over_context_over_env(monkeypatch):
    unsupported = lambda *t: ""
    monkeypatch.setenv("POSEMODS_BACKEND", "triton")
    assert choose(unsupported=unsupported) == "triton"  # env beats auto
    with posemods.use_backend("reference"):
        assert choose(unsupported=unsupported) == "reference"  # context beats env
        assert choose("triton", unsupported=unsupported) == "triton"  # argument beats context
        with posemods.use_backend("triton"):
            assert choose(unsupported=unsupported) == "triton"  # innermost context wins
        assert choose(unsupported=unsupported) == "reference"  # and is restored on exit
    with posemods.use_backend("auto"):
        assert choose(unsupported=unsupported) == "reference"  # an "auto" context beats env too: CPU
    monkeypatch.delenv("POSEMODS_BACKEND")
    assert choose(unsupported=unsupported) == "reference"  # plain auto on CPU


def test_context_is_restored_after_an_exception():
    with pytest.raises(KeyError), posemods.use_backend("triton"):
        raise KeyError
    assert _backend._context_backend is None


@requires_triton
def test_auto_falls_back_when_the_kernel_cannot_take_the_input(caplog):
    # select_backend only reads .device, so a stand-in "CUDA tensor" isolates the op's own limits.
    on_cuda = (types.SimpleNamespace(device=torch.device("cuda", 0)),)
    with caplog.at_level(logging.DEBUG, logger="posemods"):
        assert _backend.select_backend("op", "auto", on_cuda, lambda *t: "J=300 is too many") == "reference"
        assert _backend.select_backend("op", "auto", on_cuda, lambda *t: "") == "triton"
    assert "J=300 is too many" in caplog.text


@requires_triton
def test_every_public_op_has_one_record_naming_its_reference_custom_op_and_kernels():
    from posemods import reference
    from posemods._ops.registry import OPS
    from posemods.testing import OP_CASES, OP_OUTPUTS

    assert sorted(OPS) == sorted(functional.__all__)
    assert sorted(OP_CASES) == sorted(OP_OUTPUTS) == sorted(OPS)  # the tests' and benchmarks' inputs too
    for name, record in OPS.items():
        assert record.name == name
        assert record.reference is getattr(reference, name)
        assert hasattr(torch.ops.posemods, name) and hasattr(torch.ops.posemods, f"{name}_backward")
        assert record.kernels().__name__ == f"posemods.triton.{name}"


@requires_triton
def test_record_dispatch_consults_its_kernel_modules_capability_check(monkeypatch, caplog):
    # A record whose kernel module is a stand-in: dispatch must ask that module's unsupported_reason,
    # run ``fused`` when it says "", and the reference (logging the reason) when it does not.
    from posemods._ops._record import OpRecord

    kernels = types.ModuleType("posemods_test_kernels")
    kernels.unsupported_reason = lambda x: "" if x.ok else "x is not ok"
    record = OpRecord("op", lambda x, s: ("reference", s), lambda x, s: ("fused", s), lambda: kernels)
    cuda = torch.device("cuda", 0)
    ok, not_ok = types.SimpleNamespace(device=cuda, ok=True), types.SimpleNamespace(device=cuda, ok=False)
    with caplog.at_level(logging.DEBUG, logger="posemods"):
        assert record.dispatch("auto", (ok,), 2.0) == ("fused", 2.0)
        assert record.dispatch("auto", (not_ok,), 2.0) == ("reference", 2.0)
        assert record.dispatch("reference", (ok,), 2.0) == ("reference", 2.0)
    assert "posemods.op: backend 'auto' falls back to the reference: x is not ok" in caplog.text
    with pytest.raises(RuntimeError, match="backend='triton' cannot run: x is not ok"):
        record.dispatch("triton", (not_ok,), 2.0)


def test_records_are_frozen():
    from posemods._ops.registry import OPS

    with pytest.raises(dataclasses.FrozenInstanceError):
        OPS["keypoint_mask"].fused = None
    with pytest.raises(TypeError):
        OPS["keypoint_mask"] = None
