"""README examples that tests run as written: a ```python block right after ``<!-- NAME: ... -->``.

A marker names the test that runs its block, so a reader of the README knows the example is checked and
where; ``run_readme_example("export-example")`` finds the block and executes it in a fresh namespace.
"""

from __future__ import annotations

from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_example(name: str) -> str:
    """The code of the python block following the marker ``<!-- name: ... -->`` (exactly one marker)."""
    text = README.read_text()
    marker = f"<!-- {name}:"
    if text.count(marker) != 1:
        raise AssertionError(f"README.md: expected one marker {marker!r}, found {text.count(marker)}")
    after = text.split(marker, 1)[1].split("-->", 1)[1]
    if not after.lstrip("\n").startswith("```python\n"):
        raise AssertionError(f"README.md: the marker {marker!r} must be followed by a ```python block")
    return after.split("```python\n", 1)[1].split("```", 1)[0]


def run_readme_example(name: str) -> dict:
    """Execute the block named ``name`` as written; returns its namespace."""
    namespace: dict = {"__name__": f"README.md:{name}"}
    exec(compile(readme_example(name), "README.md", "exec"), namespace)
    return namespace
