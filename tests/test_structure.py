"""The code's structure: imports go one way (steps -> orchestration -> titanic), a step imports
little of the machinery, and no import circle among the modules."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from orchestration.record.names import STEPS
from tests.support import PROJECT

PACKAGES = ("orchestration", "steps", "titanic")
# What a step imports of the machinery: its command line, and what reads its inputs and records
# its results (the code its cache key covers besides its own and the model's).
STEP_MAY_IMPORT = ("orchestration.cli", "orchestration.record")


def module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def top_level_imports(path: Path) -> set[str]:
    """The project modules `path` imports when it is imported: not inside functions, not for
    type checking only."""
    found: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        if isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return {name for name in found if name.split(".")[0] in PACKAGES}


def every_import(path: Path) -> set[str]:
    """Every project module `path` names in an import statement, wherever it stands (inside
    functions too), or as a string given to importlib."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found |= {node.value} if node.value.startswith(("steps.", "orchestration.")) else set()
    return {name for name in found if name.split(".")[0] in PACKAGES}


def test_imports_go_one_way_between_the_packages() -> None:
    """steps -> orchestration -> titanic: the machinery reaches the entry points only through
    what they hand it, and the model package (which every logged model carries) imports
    nothing of either."""
    below = {"titanic": ("orchestration", "steps"), "orchestration": ("steps",)}
    for name, path in modules().items():
        package = name.split(".")[0]
        stray = {m for m in every_import(path) if m.split(".")[0] in below.get(package, ())}
        assert not stray, f"{name} imports {sorted(stray)}"


def modules() -> dict[str, Path]:
    return {
        module_name(path): path
        for package in PACKAGES
        for path in (PROJECT / package).rglob("*.py")
    }


def test_a_step_imports_only_the_command_line_and_the_record_helpers() -> None:
    for step in STEPS:
        used = {
            name
            for name in top_level_imports(PROJECT / "steps" / f"{step}.py")
            if name.startswith("orchestration")
        }
        assert used, step  # the check reads the imports it is meant to read
        stray = {
            name
            for name in used
            if not any(name == ok or name.startswith(ok + ".") for ok in STEP_MAY_IMPORT)
        }
        assert not stray, f"steps/{step}.py imports {sorted(stray)}: hand it in as a hook"


def test_the_record_helpers_import_nothing_else_of_the_machinery() -> None:
    """So a step's cache key, which covers them, covers everything a step runs."""
    for name, path in modules().items():
        if name.startswith("orchestration.record"):
            stray = {
                m
                for m in top_level_imports(path)
                if m.startswith("orchestration") and not m.startswith("orchestration.record")
            }
            assert not stray, f"{name} imports {sorted(stray)}"


def test_no_module_imports_itself_through_others() -> None:
    known = modules()
    graph = {
        name: {m for m in top_level_imports(path) if m in known and m != name}
        for name, path in known.items()
    }
    # A package imports its __init__ first: a module's package counts as imported by it.
    for name in known:
        parent = name.rpartition(".")[0]
        if parent in known and parent != name:
            graph[name].add(parent)
    state: dict[str, str] = {}

    def visit(name: str, path: list[str]) -> None:
        state[name] = "open"
        for other in sorted(graph[name]):
            assert state.get(other) != "open", " -> ".join([*path, name, other])
            if other not in state:
                visit(other, [*path, name])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [])
    assert len(state) > 40  # every module of the three packages was read


def test_the_store_plugin_imports_nothing_when_mlflow_loads_it() -> None:
    """MLflow loads `orchestration.stores` (its store entry points) in every process of this
    environment as it is imported: before MLflow is importable, and before a logged model adds
    its own copy of the model package to the path."""
    tree = ast.parse((PROJECT / "orchestration" / "stores.py").read_text())
    imported = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
        elif isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
    assert imported and imported <= set(sys.stdlib_module_names) | {"__future__"}, imported
