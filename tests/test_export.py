"""torch.export with a dynamic batch (and dynamic H, W for KMM): export once, run at other sizes, match eager.

The shape checks of posemods._shapes must not specialise a traced size (``int(size)`` used to fix every
dim to its example value); a wrong size must still be refused by the exported program.
"""

from __future__ import annotations

import inspect

import pytest
import torch
from torch.export import Dim, export

from posemods import BMD, DCA, HKM, KMM
from posemods.models import get_model_spec
from tests.readme import run_readme_example

BATCH = Dim("batch", min=1, max=64)


def _export(module: torch.nn.Module, args: tuple, kwargs: dict, dynamic: list[dict]):
    names = list(inspect.signature(module.forward).parameters)[: len(args)]
    shapes = dict(zip(names, dynamic))
    # hw is a tuple of two ints: static.
    shapes.update({k: (None, None) for k in kwargs})
    return export(module.eval(), args, kwargs, dynamic_shapes=shapes)


def _first(out):
    return out if isinstance(out, torch.Tensor) else out[0]


MODULES = {
    "kmm": lambda: (KMM(in_channels=8, num_joints=5), ((8, 6, 5), (8, 6, 5), (5, 6, 5)), {}),
    "dca": lambda: (DCA(dim=16, num_heads=2, num_points=2), ((12, 16), (12, 16)), {"hw": (4, 3)}),
    "da": lambda: (DCA(dim=16, num_heads=2, num_points=2, operator="da"), ((12, 16), (12, 16)), {"hw": (4, 3)}),
    "hkm": lambda: (HKM(dim=16, num_joints=5, num_heads=2), ((3, 12, 16),), {"hw": (4, 3)}),
    "bmd": lambda: (BMD(dim=16, num_heads=2, num_points=2), ((3, 12, 16), (12, 16)), {"hw": (4, 3)}),
}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_exports_with_dynamic_batch(name):
    torch.manual_seed(0)
    module, shapes, kwargs = MODULES[name]()
    args = tuple(torch.randn(2, *s) for s in shapes)
    program = _export(module, args, kwargs, [{0: BATCH}] * len(args))
    for batch in (1, 5):
        other = tuple(torch.randn(batch, *s) for s in shapes)
        got = _first(program.module()(*other, **kwargs))
        want = _first(module(*other, **kwargs))
        assert got.shape[0] == batch
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_kmm_exports_with_dynamic_batch_height_and_width():
    torch.manual_seed(0)
    kmm = KMM(in_channels=8, num_joints=5)
    height, width = Dim("height", min=2, max=128), Dim("width", min=2, max=128)
    grid = {0: BATCH, 2: height, 3: width}
    args = (torch.randn(2, 8, 6, 5), torch.randn(2, 8, 6, 5), torch.randn(2, 5, 6, 5))
    program = _export(kmm, args, {}, [grid, grid, grid])
    for b, h, w in ((3, 9, 7), (1, 16, 12)):
        other = (torch.randn(b, 8, h, w), torch.randn(b, 8, h, w), torch.randn(b, 5, h, w))
        torch.testing.assert_close(program.module()(*other), kmm(*other), rtol=1e-5, atol=1e-5)


def test_exported_program_still_checks_shapes():
    """The checks become assertions of the graph: a wrong channel count is refused, not broadcast."""
    kmm = KMM(in_channels=8, num_joints=5)
    args = (torch.randn(2, 8, 6, 5), torch.randn(2, 8, 6, 5), torch.randn(2, 5, 6, 5))
    program = _export(kmm, args, {}, [{0: BATCH}] * 3)
    with pytest.raises(AssertionError, match="feat_cur"):
        program.module()(torch.randn(3, 8, 6, 5), torch.randn(4, 8, 6, 5), torch.randn(3, 5, 6, 5))


def test_eager_shape_errors_unchanged():
    kmm = KMM(in_channels=8, num_joints=5)
    with pytest.raises(ValueError, match=r"feat_cur: expected shape \(B, C, H, W\) with B=2"):
        kmm(torch.randn(2, 8, 6, 5), torch.randn(3, 8, 6, 5), torch.randn(2, 5, 6, 5))


@pytest.mark.parametrize(
    ("model", "variant"), [("kimnet", "kmm"), ("rpstn", "original"), ("dkd", "original"), ("lstmpm", "kmm")]
)
def test_clip_models_export_with_dynamic_batch(model, variant):
    torch.manual_seed(0)
    spec = get_model_spec(model)
    size = (32, 32) if model != "lstmpm" else (40, 40)
    net = spec.create(4, variant, "tiny", size, 2)
    video = torch.randn(2, 2, 3, *size)
    program = export(net.eval(), (video,), dynamic_shapes={"video": {0: BATCH}})
    other = torch.randn(3, 2, 3, *size)
    torch.testing.assert_close(program.module()(other), net(other), rtol=1e-4, atol=1e-5)


def test_vremd_exports_with_dynamic_batch():
    torch.manual_seed(0)
    net = get_model_spec("vremd").create(4, "hkm+bmd", "tiny", (32, 32), 3)
    video = torch.randn(2, 3, 3, 32, 32)
    program = export(net.eval(), (video,), dynamic_shapes={"video": {0: BATCH}})
    other = torch.randn(3, 3, 3, 32, 32)
    torch.testing.assert_close(program.module()(other), net(other), rtol=1e-4, atol=1e-5)


def test_readme_export_example_runs():
    """The README's export example is run as written (the block after its marker comment)."""
    run_readme_example("export-example")
