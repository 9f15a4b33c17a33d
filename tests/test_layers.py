"""The package's imports point one way (CONTRIBUTING.md, "Layers"), read from the source with ``ast``.

Every ``import`` in every module under posemods/ counts, at the top of the file or inside a function
(a lazy import is still a dependency: it runs the first time the function does), and so does
``importlib.import_module("posemods...")`` with a literal name. Nothing is imported to check this.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "posemods"

# Cycles that belong to the models/data/training branches, which are restructuring those areas in
# parallel with the ops branch. They are listed, not fixed, here; the merge of those branches must empty
# this set (the test fails once a listed cycle is gone, so the entry cannot outlive its fix).
KNOWN_CYCLES_OF_THE_MODELS_AND_DATA_BRANCHES: set[frozenset[str]] = set()

# What the core may never import: CONTRIBUTING's "the core never imports models, data or metrics"
# (and the training code above them). Everything else under posemods/ is the core.
OUTSIDE_THE_CORE = ("posemods.models", "posemods.data", "posemods.metrics", "posemods.training")
CLIS = ("posemods.train", "posemods.evaluate", "posemods.visualize")


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(name: str) -> str | None:
    """The posemods module that importing ``name`` runs last: ``name`` itself, or the package above an
    attribute (``posemods.reference.keypoint_mask`` of ``from posemods.reference import keypoint_mask``
    is a module; ``posemods.functional.NORMALIZATIONS`` is not)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: Path) -> set[str]:
    """Every posemods module that ``module`` imports, anywhere in its source."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: Iterable[str] = ()
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from .x import y, from .. import z
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            names = [f"{base}.{alias.name}" for alias in node.names]
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names = [node.args[0].value]
        for name in names:
            if name == "posemods" or name.startswith("posemods."):
                target = _resolve(name)
                if target and target != module:
                    found.add(target)
    return found


GRAPH: dict[str, set[str]] = {module: _imports(module, path) for module, path in MODULES.items()}


def _within(module: str, *areas: str) -> bool:
    return any(module == area or module.startswith(area + ".") for area in areas)


def _cycles(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: set[frozenset[str]] = set()
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.add(frozenset(component))
    return found


def _violations(sources: Iterable[str], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(
        f"{module} imports {target}" for module in sources for target in GRAPH[module] if _within(target, *forbidden)
    )


def test_the_source_scan_sees_the_packages_layers():
    # The scan must find the imports everything else here relies on, or every rule below passes vacuously.
    assert len(MODULES) > 40
    assert "posemods._ops.registry" in GRAPH["posemods.functional"]
    assert "posemods.triton.kinematics_attention" in GRAPH["posemods._ops.kinematics_attention"]  # lazy
    assert "posemods.reference" in GRAPH["posemods._ops.kinematics_attention"]  # from posemods import reference
    assert {frozenset({"a", "b"}), frozenset({"c", "d", "e"})} == _cycles(
        {"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"e"}, "e": {"c", "f"}, "f": set()}
    )


def test_no_import_cycle_in_the_package():
    cycles = _cycles(GRAPH)
    new = cycles - KNOWN_CYCLES_OF_THE_MODELS_AND_DATA_BRANCHES
    assert not new, "import cycles: " + "; ".join(" <-> ".join(sorted(c)) for c in sorted(new, key=sorted))
    gone = KNOWN_CYCLES_OF_THE_MODELS_AND_DATA_BRANCHES - cycles
    assert not gone, f"fixed, so remove from KNOWN_CYCLES_OF_THE_MODELS_AND_DATA_BRANCHES: {sorted(map(sorted, gone))}"


def test_known_cycles_are_outside_the_ops_layers():
    # The set above is for the other branches' areas only: a cycle in the op layers must be fixed.
    for cycle in KNOWN_CYCLES_OF_THE_MODELS_AND_DATA_BRANCHES:
        assert all(_within(m, *OUTSIDE_THE_CORE, "posemods.modules") for m in cycle), sorted(cycle)


@pytest.mark.parametrize(
    "area, forbidden",
    [
        ("posemods.triton", ("posemods._ops", "posemods.functional", "posemods.modules")),
        ("posemods.reference", ("posemods.triton", "posemods._ops", "posemods.functional", "posemods.modules")),
        ("posemods.modules", ("posemods.reference", "posemods.triton", "posemods._ops")),
    ],
    ids=["triton", "reference", "modules"],
)
def test_op_layers_import_only_downwards(area, forbidden):
    assert not _violations([m for m in GRAPH if _within(m, area)], forbidden)


# The package face (posemods/__init__.py) sits above every layer: it offers the model registry's
# create_model / list_models / load_model, but only through a module __getattr__, so `import posemods`
# never runs models/ or training/ (tests/test_package.py checks timm stays unimported too).
FACE = "posemods"


def test_the_core_never_imports_models_data_metrics_or_training():
    core = [m for m in GRAPH if not _within(m, *OUTSIDE_THE_CORE, *CLIS) and m != FACE]
    assert "posemods.functional" in core and "posemods.skeletons" in core
    assert not _violations(core, OUTSIDE_THE_CORE)


def _import_time_names(path: Path) -> set[str]:
    """The modules a file imports when it is imported: its module-level statements, not the bodies of its
    functions or its ``if TYPE_CHECKING:`` blocks."""
    names: set[str] = set()
    pending = list(ast.parse(path.read_text()).body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            pending.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
        else:
            pending.extend(child for child in ast.iter_child_nodes(node) if isinstance(child, ast.stmt))
    return names


def test_the_package_face_reaches_models_and_training_only_when_asked():
    lazy = {t for t in GRAPH[FACE] if _within(t, *OUTSIDE_THE_CORE)}
    assert lazy, "the face offers create_model / load_model: the scan must see those imports"
    eager = {n for n in _import_time_names(MODULES[FACE]) if _within(n, *OUTSIDE_THE_CORE)}
    assert not eager, f"imported with the package itself: {sorted(eager)}"
