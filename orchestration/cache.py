"""The step cache: what identifies a step's work (its key), finding a finished run with the
same key, and running a step or standing in for that run.

A step run started by `main` and one started alone with `mlflow run . -e <step>` go through
`execute_step`, so both record the same parameters, tags and cache key and can stand in for
each other.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib
import json
import logging
import platform
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from importlib.metadata import version
from pathlib import Path

import mlflow
from filelock import FileLock
from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from orchestration.claims import claim, shared_store
from orchestration.inputs import fetch, sha256_files
from orchestration.mlproject import PROJECT_DIR
from orchestration.names import (
    NOTE_TAG,
    OUTPUT_TAG,
    TAG_APPLIED,
    TAG_CACHE_KEY,
    TAG_CODE_DIGEST,
    TAG_REUSED_FROM,
    TAG_STEP,
    TAG_WARNING,
)
from orchestration.params import INPUT_PARAMS, applicable, parse_params, recorded
from orchestration.runs import current_run, log_batch, outputs_of, raise_if_interrupted

# Package versions that change what a step computes.
PACKAGES = ("mlflow", "scikit-learn", "pandas", "numpy", "skops", "matplotlib")
# Where a step's own code lives: the entry points and the model package. The machinery around
# them (`orchestration`) runs, tracks and caches the work without changing what it computes.
CODE_PACKAGES = ("steps", "titanic")

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


@functools.lru_cache(maxsize=1024)
def _imported_files(path: Path, _mtime_ns: int, _size: int) -> tuple[Path, ...]:
    """The project's source files that `path` imports. Parsed once per version of the file
    (its modification time and size): a search's worker digests the same files for every
    configuration."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        names = (
            [node.module or ""]
            if isinstance(node, ast.ImportFrom)
            else [a.name for a in node.names]
            if isinstance(node, ast.Import)
            else []
        )
        for name in names:
            if name.split(".")[0] in CODE_PACKAGES:
                candidate = PROJECT_DIR.joinpath(*name.split(".")).with_suffix(".py")
                if candidate.is_file():
                    found.append(candidate)
    return tuple(found)


def code_digest(step: str) -> str:
    """Digest of the code a step runs, read from disk: edited files count, committed or not;
    files the step does not import, and the orchestration around it, do not."""
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


def find_reusable(experiment_id: str, key: str) -> Run | None:
    """The first FINISHED run with this cache key, one search on an indexed tag. The first,
    so that later equal runs (forced, or alone) do not change what downstream keys see."""
    client = MlflowClient()
    runs = client.search_runs(
        [experiment_id],
        filter_string=f"tags.`{TAG_CACHE_KEY}` = '{key}' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time ASC"],
        max_results=1,
    )
    if not runs:
        return None
    origin = runs[0].data.tags.get(TAG_REUSED_FROM)
    return runs[0] if origin is None or _is_active(client, origin) else None


def _is_active(client: MlflowClient, run_id: str) -> bool:
    """False for a run deleted since (its artifacts may be gone with it)."""
    try:
        return client.get_run(run_id).info.lifecycle_stage == "active"
    except MlflowException:
        return False


@contextmanager
def step_lock(key: str) -> Iterator[None]:
    """Serialise look-up and computation of one key on this machine, so that parallel sweeps
    compute a shared step once and reuse it; the OS drops the lock if the process dies."""
    scope = f"{mlflow.get_tracking_uri()}|{key}"
    folder = Path(tempfile.gettempdir()) / "titanic-mlflow-locks"
    folder.mkdir(exist_ok=True)
    with FileLock(folder / f"{hashlib.sha256(scope.encode()).hexdigest()[:32]}.lock"):
        yield


def execute_step(step: str, params: dict[str, str], *, cache: ExitStack | None) -> dict[str, str]:
    """Run a step in the active run or, given a `cache` stack, adopt the outputs of a finished
    run with the same key. The step's lock goes on that stack: the caller releases it after
    ending the run, so a parallel run waiting for the key finds this one FINISHED."""
    run = current_run()
    typed = parse_params(params)  # values first: a bad one fails before any input is read
    code = code_digest(step)
    key = cache_key(step, params, code)
    identity = {TAG_STEP: step, TAG_CACHE_KEY: key, TAG_CODE_DIGEST: code}
    source = None
    if cache is not None:
        cache.enter_context(step_lock(key))  # this machine
        source = find_reusable(run.info.experiment_id, key)
        if source is None and shared_store():  # other machines on the same server
            source = claim(run, key, lambda k: find_reusable(run.info.experiment_id, k))
    raise_if_interrupted()
    if source is None:
        mlflow.set_tags(identity)
        return _compute(step, typed)
    origin = source.data.tags.get(TAG_REUSED_FROM, source.info.run_id)
    outputs = outputs_of(source)
    # What the source computed and what was odd about it; not its process (host, pid, …).
    described = {
        k: v
        for k, v in source.data.tags.items()
        if k.startswith(OUTPUT_TAG) or k in (TAG_APPLIED, TAG_WARNING)
    }
    tags = {
        **described,
        **identity,
        TAG_REUSED_FROM: origin,
        NOTE_TAG: f"Reused: inputs identical to run `{origin}`, whose outputs this run "
        f"stands for: {json.dumps(outputs)}",
    }
    log_batch(run.info.run_id, source.data.metrics, tags)
    log.info("%s: inputs unchanged, reusing run %s", step, origin)
    return outputs


def _compute(step: str, typed: dict[str, object]) -> dict[str, str]:
    log.info("%s: computing", step)
    module = importlib.import_module(f"steps.{step}")
    outputs = module.run(**typed)
    mlflow.set_tags({OUTPUT_TAG + k: v for k, v in outputs.items()})
    return outputs
