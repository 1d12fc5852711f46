"""Running a step, or standing in for a finished run with the same key.

A step run started by `main` and one started alone with `mlflow run . -e <step>` go through
`execute_step`, so both record the same parameters, tags and cache key and can stand in for
each other.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import mlflow
from filelock import FileLock
from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from orchestration.cache.claims import claim, shared_store
from orchestration.cache.keys import cache_key, code_digest
from orchestration.lifecycle.runs import raise_if_interrupted
from orchestration.project.params import parse_params
from orchestration.record.names import (
    FOLD_TAGS,
    NOTE_TAG,
    OUTPUT_TAG,
    TAG_APPLIED,
    TAG_CACHE_KEY,
    TAG_CODE_DIGEST,
    TAG_REUSED_FROM,
    TAG_STEP,
    TAG_WARNING,
)
from orchestration.record.store import current_run, log_batch, outputs_of
from steps import Hooks

log = logging.getLogger("titanic")


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


def execute_step(
    step: str, params: dict[str, str], *, cache: ExitStack | None, hooks: Hooks
) -> dict[str, str]:
    """Run a step in the active run or, given a `cache` stack, adopt the outputs of a finished
    run with the same key. The step's lock goes on that stack: the caller releases it after
    ending the run, so a parallel run waiting for the key finds this one FINISHED. `hooks` go
    to the step's `run`, which computes the same outputs with or without them."""
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
        return _compute(step, typed, hooks)
    origin = source.data.tags.get(TAG_REUSED_FROM, source.info.run_id)
    outputs = outputs_of(source)
    # What the source computed and what was odd about it; not its process (host, pid, …).
    described = {
        k: v
        for k, v in source.data.tags.items()
        if k.startswith(OUTPUT_TAG) or k in (TAG_APPLIED, TAG_WARNING, *FOLD_TAGS)
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


def _compute(step: str, typed: dict[str, object], hooks: Hooks) -> dict[str, str]:
    log.info("%s: computing", step)
    module = importlib.import_module(f"steps.{step}")
    outputs: dict[str, str] = module.run(**typed, hooks=hooks)
    mlflow.set_tags({OUTPUT_TAG + k: v for k, v in outputs.items()})
    return outputs
