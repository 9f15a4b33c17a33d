"""Every ```python block of README.md runs (or a marker says which test runs it, or why it cannot run).

The rules are tests/readme.py's. Each block runs as written, in a fresh namespace, in an empty working
folder (the API example writes runs/readme/ there).
"""

from __future__ import annotations

import pytest

from tests.readme import NOT_RUN, README, python_blocks, run_block

BLOCKS = python_blocks()
ROOT = README.parent


def test_the_readme_has_python_blocks_and_every_one_is_accounted_for():
    assert len(BLOCKS) >= 3
    for block in BLOCKS:
        if block.marker == NOT_RUN:
            assert block.note, f"{block.label}: a block that is not run must say why (<!-- not run: REASON -->)"
        elif block.marker is not None:
            # "<!-- name: tests/x.py runs this block -->": that file must find it by its name.
            path = block.note.split()[0] if block.note else ""
            assert (ROOT / path).is_file(), f"{block.label}: the marker names {path!r}, not a test file"
            assert block.marker in (ROOT / path).read_text(), f"{block.label}: {path} never names the block"


@pytest.mark.parametrize("block", [b for b in BLOCKS if b.marker is None], ids=lambda b: b.label)
def test_a_readme_python_block_runs_as_written(block, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_block(block.code, block.label)


def test_the_rules_read_markers_and_reasons():
    text = (
        "```python\nx = 1\n```\n"
        "<!-- not run: needs a CUDA GPU -->\n```python\nimport cuda_only\n```\n"
        "<!-- export-example: tests/test_export.py runs this block -->\n```python\ny = 2\n```\n"
    )
    first, second, third = python_blocks(text)
    assert (first.marker, first.code, first.line) == (None, "x = 1\n", 2)
    assert (second.marker, second.note) == (NOT_RUN, "needs a CUDA GPU")
    assert (third.marker, third.note, third.code) == (
        "export-example",
        "tests/test_export.py runs this block",
        "y = 2\n",
    )
