"""What identifies a step's work, its cache key: its parameters, its code, the content of its
inputs and the versions of what it runs on."""

from __future__ import annotations

import ast
import functools
import hashlib
import json
import logging
import platform
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

from orchestration.project.mlproject import PROJECT_DIR
from orchestration.project.params import INPUT_PARAMS, applicable, recorded
from orchestration.record.inputs import fetch, sha256_files

# Package versions that change what a step computes.
PACKAGES = ("mlflow", "scikit-learn", "pandas", "numpy", "skops", "matplotlib")
# The code a step may import (steps/__init__.py says so and a test checks it): the entry points,
# the model package and what reads its inputs and records its results. The rest of the
# machinery (`orchestration`) runs, tracks and caches the work and hands a step its hooks,
# without changing what it computes.
CODE_PACKAGES = ("steps", "titanic", "orchestration.record")

log = logging.getLogger("titanic")


def project_modules(path: Path) -> set[Path]:
    """The source files of a step's work: the module itself and, transitively, every module of
    CODE_PACKAGES it imports (read from the source, without importing anything)."""
    seen: set[Path] = set()
    pending = [path]
    while pending:
        current = pending.pop()
        if current not in seen:
            seen.add(current)
            stat = current.stat()
            pending.extend(_imported_files(current, stat.st_mtime_ns, stat.st_size))
    return seen


def _run_time_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node of `tree` but those under `if TYPE_CHECKING:`, imports that never run."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from (n for child in node.orelse for n in ast.walk(child))
            continue
        yield node
        yield from _run_time_nodes(node)


@functools.lru_cache(maxsize=1024)
def _imported_files(path: Path, _mtime_ns: int, _size: int) -> tuple[Path, ...]:
    """The project's source files that `path` imports. Parsed once per version of the file
    (its modification time and size): a search's worker digests the same files for every
    configuration."""
    found = []
    for node in _run_time_nodes(ast.parse(path.read_text())):
        names = (
            # `from a.b import c`: module a.b, or a.b's module c
            [node.module or "", *(f"{node.module}.{a.name}" for a in node.names)]
            if isinstance(node, ast.ImportFrom)
            else [a.name for a in node.names]
            if isinstance(node, ast.Import)
            else []
        )
        for name in names:
            if any(name == p or name.startswith(p + ".") for p in CODE_PACKAGES):
                where = PROJECT_DIR.joinpath(*name.split("."))
                for candidate in (where.with_suffix(".py"), where / "__init__.py"):
                    if candidate.is_file():
                        found.append(candidate)
    return tuple(found)


def code_digest(step: str) -> str:
    """Digest of the code a step runs, read from disk: edited files count, committed or not;
    files the step does not import, and the machinery around it, do not."""
    digest = hashlib.sha256()
    for path in sorted(project_modules(PROJECT_DIR / "steps" / f"{step}.py")):
        digest.update(str(path.relative_to(PROJECT_DIR)).encode() + path.read_bytes())
    return digest.hexdigest()


@functools.cache
def package_versions() -> dict[str, str]:
    return {name: version(name) for name in PACKAGES}


def cache_key(step: str, params: dict[str, str], code: str) -> str:
    """Identity of a step's work: the parameters that apply to it, its code (`code_digest`),
    the content of its input data and the package versions."""
    payload = {
        "step": step,
        # Inputs count by content, not by the URI naming them: identical data reached
        # through another run's URI (a step chained by hand) is the same work.
        "params": recorded(applicable({k: v for k, v in params.items() if k not in INPUT_PARAMS})),
        "code": code,
        "inputs": {
            name: sha256_files(fetch(value, name))
            for name, value in params.items()
            if name in INPUT_PARAMS
        },
        "packages": package_versions(),
        "python": platform.python_version(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
