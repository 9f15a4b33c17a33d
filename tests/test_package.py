"""Package hygiene: quiet import, no hard triton dependency, public names."""

import subprocess
import sys
from pathlib import Path

import pytest

import posemods

ROOT = Path(__file__).resolve().parents[1]


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_import_prints_nothing_and_does_not_import_triton_or_the_models():
    proc = run_python(
        "import sys, posemods\n"
        "heavy = [m for m in ('triton', 'posemods.models', 'posemods.data', 'posemods.metrics') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "" and proc.stderr == ""


def test_works_without_triton():
    # Make `import triton` fail, as on a machine without it: auto and reference still work, and an
    # explicit triton request says why it cannot run.
    proc = run_python(
        "import sys; sys.modules['triton'] = None\n"
        "import torch, posemods\n"
        "args = (torch.rand(1, 4, 3, 3), torch.rand(1, 4, 3, 3), torch.rand(1, 3, 3, 3))\n"
        "assert posemods.KMM(4, 3)(*args).shape == (1, 3, 3, 3)\n"
        "try:\n"
        "    posemods.KMM(4, 3, backend='triton')(*args)\n"
        "except RuntimeError as e:\n"
        "    assert 'triton is not importable' in str(e), e\n"
        "else:\n"
        "    raise AssertionError('no error')\n"
    )
    assert proc.returncode == 0, proc.stderr


def test_public_names_and_typing_marker():
    assert posemods.KMM is posemods.KinematicsModelingModule
    assert callable(posemods.use_backend) and callable(posemods.functional.kinematics_attention)
    assert (Path(posemods.__file__).parent / "py.typed").exists()


def test_the_short_names_are_defined_once_in_posemods_modules():
    """KMM, DCA, HKM and BMD are defined in posemods/modules/__init__.py and re-exported by the face;
    the files of their classes do not define them again."""
    import posemods.modules
    from posemods.modules import bmd, dca, hkm, kmm

    short_names = {
        "KMM": posemods.KinematicsModelingModule,
        "DCA": posemods.DeformableCrossAttention,
        "HKM": posemods.HumanKeypointMask,
        "BMD": posemods.BidirectionalMotionDisentangle,
    }
    for short, cls in short_names.items():
        assert getattr(posemods, short) is getattr(posemods.modules, short) is cls
        assert short in posemods.__all__ and short in posemods.modules.__all__
    assert [(f.__name__, s) for f in (bmd, dca, hkm, kmm) for s in short_names if hasattr(f, s)] == []


def test_packaging_metadata():
    """SPDX licence string (the table form is deprecated), one version source, no unused dependency."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    meta = project["project"]
    assert meta["license"] == "Apache-2.0" and meta["license-files"] == ["LICENSE"]
    assert "version" not in meta and meta["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "posemods.__version__"}
    assert any(c.startswith("Programming Language :: Python :: 3.1") for c in meta["classifiers"])
    assert meta["urls"] and all(u.startswith("https://") for u in meta["urls"].values())
    # einops was declared but never imported: declared dependencies must be used somewhere.
    assert not any(d.startswith("einops") for d in meta["dependencies"])
    assert "import einops" not in "".join(p.read_text() for p in (ROOT / "posemods").rglob("*.py"))
