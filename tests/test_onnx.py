"""ONNX export of KMM, DCA, HKM and BMD with both of torch's exporters, checked in onnxruntime.

Needs the ``onnx`` extra (``pip install posemods[onnx]``: onnx, onnxscript, onnxruntime); without it
these tests skip. Each module is exported with a dynamic batch and run by onnxruntime at the example's
batch and at another one, against the eager module.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

from posemods import BMD, DCA, HKM, KMM

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

# (module, shapes of the tensor inputs without the batch, non-tensor keyword arguments)
MODULES = {
    "kmm": lambda: (KMM(in_channels=8, num_joints=5), ((8, 6, 5), (8, 6, 5), (5, 6, 5)), {}),
    "dca": lambda: (DCA(dim=16, num_heads=2, num_points=2), ((12, 16), (12, 16)), {"hw": (4, 3)}),
    "hkm": lambda: (HKM(dim=16, num_joints=5, num_heads=2), ((3, 12, 16),), {"hw": (4, 3)}),
    "bmd": lambda: (BMD(dim=16, num_heads=2, num_points=2), ((3, 12, 16), (12, 16)), {"hw": (4, 3)}),
}


class _Positional(torch.nn.Module):
    """``module(*tensors, **fixed)``: the non-tensor arguments (``hw``) become constants of the graph."""

    def __init__(self, module: torch.nn.Module, fixed: dict) -> None:
        super().__init__()
        self.module, self.fixed = module, fixed

    def forward(self, *tensors: torch.Tensor):
        return self.module(*tensors, **self.fixed)


def _outputs(out) -> list[torch.Tensor]:
    return [out] if isinstance(out, torch.Tensor) else list(out)


def _export(name: str, exporter: str, path) -> tuple[torch.nn.Module, tuple[tuple[int, ...], ...]]:
    torch.manual_seed(0)
    module, shapes, fixed = MODULES[name]()
    wrapped = _Positional(module.eval(), fixed).eval()
    args = tuple(torch.randn(2, *s) for s in shapes)
    names = [f"input{i}" for i in range(len(args))]
    if exporter == "dynamo":
        pytest.importorskip("onnxscript")
        dynamic = {"tensors": tuple({0: torch.export.Dim.DYNAMIC} for _ in args)}
        program = torch.onnx.export(
            wrapped, args, input_names=names, dynamic_shapes=dynamic, dynamo=True, verbose=False
        )
        program.save(str(path))
    else:
        outputs = [f"output{i}" for i in range(len(_outputs(wrapped(*args))))]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # "You are using the legacy ... exporter"
            torch.onnx.export(
                wrapped,
                args,
                str(path),
                input_names=names,
                output_names=outputs,
                dynamic_axes={n: {0: "batch"} for n in names + outputs},
                dynamo=False,
            )
    return wrapped, shapes


@pytest.mark.parametrize("exporter", ["dynamo", "legacy"])
@pytest.mark.parametrize("name", sorted(MODULES))
def test_onnxruntime_matches_eager(name, exporter, tmp_path):
    path = tmp_path / f"{name}.onnx"
    wrapped, shapes = _export(name, exporter, path)
    onnx.checker.check_model(str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (2, 3):
        inputs = tuple(torch.randn(batch, *s) for s in shapes)
        feed = {i.name: x.numpy() for i, x in zip(session.get_inputs(), inputs)}
        got = session.run(None, feed)
        with torch.no_grad():
            want = _outputs(wrapped(*inputs))
        assert len(got) == len(want)
        for g, w in zip(got, want):
            torch.testing.assert_close(torch.from_numpy(g), w, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_legacy_exporter_gets_no_tracer_warning_from_posemods(name, tmp_path):
    """torch.jit.trace hands sizes (and defaulted arguments) over as 0-d tensors; posemods reads them
    without the "might not generalize" TracerWarning, which would otherwise bury a user's own."""
    torch.manual_seed(0)
    module, shapes, fixed = MODULES[name]()
    args = tuple(torch.randn(2, *s) for s in shapes)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.filterwarnings("error", category=torch.jit.TracerWarning, module=r"posemods(\.|$)")
        torch.onnx.export(module.eval(), args, str(tmp_path / f"{name}.onnx"), kwargs=fixed, dynamo=False)


@pytest.mark.parametrize("exporter", ["dynamo", "legacy"])
def test_kmm_exports_with_dynamic_height_and_width(exporter, tmp_path):
    """KMM's logit scale 1 / sqrt(H * W) follows the grid in the exported graph: fixed to the example's
    H * W, a 9 x 7 grid would be scaled as a 6 x 5 one."""
    torch.manual_seed(0)
    kmm = KMM(in_channels=8, num_joints=5).eval()
    args = (torch.randn(2, 8, 6, 5), torch.randn(2, 8, 6, 5), torch.randn(2, 5, 6, 5))
    names, path = ["feat_prev", "feat_cur", "heatmap_prev"], tmp_path / "kmm.onnx"
    if exporter == "dynamo":
        pytest.importorskip("onnxscript")
        grid = {0: torch.export.Dim.DYNAMIC, 2: torch.export.Dim.DYNAMIC, 3: torch.export.Dim.DYNAMIC}
        torch.onnx.export(kmm, args, dynamic_shapes=(grid, grid, grid), dynamo=True, verbose=False).save(str(path))
    else:
        grid = {0: "batch", 2: "height", 3: "width"}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                kmm, args, str(path), input_names=names, output_names=["prior"],
                dynamic_axes={**dict.fromkeys(names, grid), "prior": grid}, dynamo=False,
            )  # fmt: skip
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    other = (torch.randn(3, 8, 9, 7), torch.randn(3, 8, 9, 7), torch.randn(3, 5, 9, 7))
    (got,) = session.run(None, {i.name: x.numpy() for i, x in zip(session.get_inputs(), other)})
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(got), kmm(*other), rtol=1e-5, atol=1e-5)


# torch.onnx notes that hw (a constant of the graph, not an input) has no dynamic axis to rename.
@pytest.mark.filterwarnings("ignore:# ONNX model has different number of inputs:UserWarning")
def test_readme_onnx_example_runs(tmp_path, monkeypatch):
    """The README's ONNX example is run as written (the block after its marker comment)."""
    pytest.importorskip("onnxscript")
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    after = readme.split("<!-- onnx-example: tests/test_onnx.py runs this block -->", 1)[1]
    code = after.split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(tmp_path)  # it writes dca.onnx
    exec(compile(code, "README.md", "exec"), {})
