"""Every Triton kernel compiles ahead of time for sm_80 and sm_90, with zero ptxas spills.

The interpreter cannot catch compile errors, and the test session runs with TRITON_INTERPRET=1, so the
compile runs in a fresh process through the same report the benchmarks print.
"""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import requires_triton

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def reports():
    env = {**os.environ, "TRITON_INTERPRET": "0"}
    proc = subprocess.run(
        [sys.executable, "-m", "posemods.triton.report", "--arch", "80", "90", "--json"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout)


@requires_triton
def test_every_kernel_compiles_for_sm80_and_sm90_without_spills(reports):
    print()
    for r in reports:
        print(f"{r['name']:<48} sm_{r['arch']}  {r['registers']:>3} registers/thread  "
              f"{r['spill_stores'] + r['spill_loads']} spill bytes  {r['shared_bytes']} shared bytes")  # fmt: skip
    assert {r["arch"] for r in reports} == {80, 90}
    spilling = [
        (r["name"], r["arch"], r["spill_stores"], r["spill_loads"])
        for r in reports
        if r["spill_stores"] or r["spill_loads"]
    ]
    assert not spilling, spilling


def kernels_in_source() -> set[tuple[str, str]]:
    """(module, name) of every kernel: an @triton.jit function that no @triton.jit function calls. The
    rest are device helpers, inlined into the kernels that call them (an op's own helpers sit in its
    kernel module, the ones several ops share in the private modules)."""
    jitted = {}
    for path in (ROOT / "posemods" / "triton").glob("*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and any(ast.unparse(d) == "triton.jit" for d in node.decorator_list):
                jitted[(f"posemods.triton.{path.stem}", node.name)] = node
    called = {  # by name (dot(...)) or through its module (bilinear.corner(...))
        getattr(call.func, "id", getattr(call.func, "attr", None))
        for fn in jitted.values()
        for call in ast.walk(fn)
        if isinstance(call, ast.Call)
    }
    return {key for key in jitted if key[1] not in called}


def test_the_kernel_scan_tells_kernels_from_helpers():
    kernels = kernels_in_source()
    assert ("posemods.triton.keypoint_mask", "_token_grad_kernel") in kernels
    assert ("posemods.triton.kinematics_attention", "_forward_kernel") in kernels
    helpers = {name for _, name in kernels} & {"pixel_position", "corner", "dot", "_logit_tile", "_normalize"}
    assert not helpers, helpers


@requires_triton
def test_every_kernel_in_the_package_is_compiled(reports):
    # Found from the source, so a new kernel cannot dodge the compile and spill checks.
    defined = kernels_in_source()
    compiled = {(r["module"], r["kernel"]) for r in reports}
    assert defined, "no kernels found: the scan is broken"
    assert defined <= compiled, sorted(defined - compiled)
