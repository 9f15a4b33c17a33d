"""README examples run as written: every ```python block of README.md runs in a test.

A block runs in ``tests/test_readme.py`` unless the line before it is a marker:

- ``<!-- NAME: tests/PATH runs this block -->``: the test in PATH runs it (``run_readme_example("NAME")``),
  next to the assertions about what it builds; tests/test_readme.py checks that PATH names the block;
- ``<!-- not run: REASON -->``: the block cannot run in the test-suite (it needs a GPU, a dataset, a
  download), and REASON says so. A marker without a reason is an error.

So a reader of the README knows each example is checked, and where. ``run_readme_example("export-example")``
finds a named block and executes it in a fresh namespace.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"

#: A marker comment alone on the line before a block: ``<!-- name: rest -->``.
_MARKER = re.compile(r"^<!-- ([\w-]+|not run):\s*(.*?)\s*-->$")
NOT_RUN = "not run"


@dataclasses.dataclass(frozen=True)
class ReadmeBlock:
    """One ```python block: its first line in README.md (1-based), its code and the marker before it."""

    line: int
    code: str
    marker: str | None = None  # a block name, NOT_RUN, or None (tests/test_readme.py runs it)
    note: str = ""  # after the marker's colon: the test file that runs it, or why it is not run

    @property
    def label(self) -> str:
        return f"README.md:{self.line}" + (f" ({self.marker})" if self.marker else "")


def python_blocks(text: str | None = None) -> list[ReadmeBlock]:
    """Every ```python block of the README (or of ``text``), with the marker on the line before it."""
    lines = (README.read_text() if text is None else text).splitlines()
    blocks, i = [], 0
    while i < len(lines):
        if lines[i].strip() != "```python":
            i += 1
            continue
        end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == "```"), None)
        if end is None:
            raise AssertionError(f"README.md:{i + 1}: a ```python block that is never closed")
        match = _MARKER.match(lines[i - 1].strip()) if i else None
        marker, note = (match.group(1), match.group(2)) if match else (None, "")
        blocks.append(ReadmeBlock(i + 2, "\n".join(lines[i + 1 : end]) + "\n", marker, note))
        i = end + 1
    return blocks


def readme_example(name: str) -> str:
    """The code of the python block following the marker ``<!-- name: ... -->`` (exactly one marker)."""
    text = README.read_text()
    marker = f"<!-- {name}:"
    if text.count(marker) != 1:
        raise AssertionError(f"README.md: expected one marker {marker!r}, found {text.count(marker)}")
    found = [block for block in python_blocks(text) if block.marker == name]
    if len(found) != 1:
        raise AssertionError(f"README.md: the marker {marker!r} must be followed by a ```python block")
    return found[0].code


def run_block(code: str, name: str) -> dict:
    """Execute ``code`` as written, in a fresh namespace named ``name``; returns the namespace."""
    namespace: dict = {"__name__": name}
    exec(compile(code, "README.md", "exec"), namespace)
    return namespace


def run_readme_example(name: str) -> dict:
    """Execute the block named ``name`` as written; returns its namespace."""
    return run_block(readme_example(name), f"README.md:{name}")
