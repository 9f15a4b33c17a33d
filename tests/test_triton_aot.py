"""Every Triton kernel compiles ahead of time for sm_80 and sm_90, with zero ptxas spills.

The interpreter cannot catch compile errors, and the test session runs with TRITON_INTERPRET=1, so the
compile runs in a fresh process through the same report the benchmarks print.
"""

import json
import os
import re
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


@requires_triton
def test_every_kernel_in_the_package_is_compiled(reports):
    # Found from the source, so a new kernel cannot dodge the compile and spill checks.
    kernel_dir = ROOT / "posemods" / "triton"
    defined = set()
    for path in kernel_dir.glob("*.py"):
        if path.name.startswith("_"):  # private modules hold device helpers, not kernels
            continue
        for name in re.findall(r"^@triton\.jit[^\n]*\ndef (\w+)", path.read_text(), re.M):
            defined.add((f"posemods.triton.{path.stem}", name))
    compiled = {(r["module"], r["kernel"]) for r in reports}
    assert defined, "no kernels found: the scan is broken"
    assert defined <= compiled, sorted(defined - compiled)
