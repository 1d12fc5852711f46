"""Running a step, or standing in for a finished run with the same key.

A step run started by `main` and one started alone with `mlflow run . -e <step>` go through
`execute_step`, so both record the same parameters, tags and cache key and can stand in for
each other.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    ARTIFACTS,
    NOTE_TAG,
    OUTPUT_TAG,
    PROCESS_TAGS,
    TAG_CACHE_KEY,
    TAG_CODE_DIGEST,
    TAG_REUSED_FROM,
    TAG_STEP,
)
from orchestration.record.store import current_run, log_batch, model_listed, outputs_of

if TYPE_CHECKING:
    from titanic.models import Hooks

# A step's `run(params, hooks)`, and the one of each step by its name, imported when first
# computed: what the entry points hand the machinery (`steps.step`).
StepRun = Callable[[dict[str, Any], "Hooks | None"], dict[str, str]]
Steps = Callable[[str], StepRun]

log = logging.getLogger("titanic")
# FINISHED runs with a step's key looked through for one whose outputs are still there.
CANDIDATES = 20


def find_reusable(experiment_id: str, key: str, step: str) -> Run | None:
    """The first FINISHED run with this cache key whose outputs the artifact store still
    holds (one search on an indexed tag, then a listing). The first, so that later equal runs
    (forced, or alone) do not change what downstream keys see; one whose outputs are gone (a
    clean-up, a lost disk), or that stood for a run deleted since, is passed over."""
    client = MlflowClient()
    runs = client.search_runs(
        [experiment_id],
        filter_string=f"tags.`{TAG_CACHE_KEY}` = '{key}' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time ASC"],
        max_results=CANDIDATES,
    )
    for run in runs:
        origin = run.data.tags.get(TAG_REUSED_FROM, run.info.run_id)
        if origin != run.info.run_id and not _is_active(client, origin):
            continue
        gone = missing_output(run, step)
        if gone is None:
            return run
        log.warning(
            "%s: run %s's %s is gone from the artifact store: computing it again",
            step,
            origin,
            gone,
        )
    return None


def missing_output(run: Run, step: str) -> str | None:
    """The first of the step's artifacts, or of the models it hands on, that the artifact
    store no longer lists for the run (or the run it stood for); None if all are there."""
    client = MlflowClient()
    origin = run.data.tags.get(TAG_REUSED_FROM, run.info.run_id)
    listed: dict[str, set[str]] = {}
    for path in ARTIFACTS[step]:
        folder = path.rpartition("/")[0]
        if folder not in listed:
            listed[folder] = {info.path for info in client.list_artifacts(origin, folder or None)}
        if path not in listed[folder]:
            return path
    for uri in outputs_of(run).values():
        if uri.startswith("models:/") and not model_listed(uri):
            return f"model {uri}"
    return None


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


def carried(tags: dict[str, str]) -> dict[str, str]:
    """What a run that stands for `tags`' run copies of them: everything its step recorded,
    not the process that ran it, MLflow's own tags or the cache's (written anew)."""
    own = (*PROCESS_TAGS, NOTE_TAG, TAG_STEP, TAG_CACHE_KEY, TAG_CODE_DIGEST, TAG_REUSED_FROM)
    return {k: v for k, v in tags.items() if not k.startswith("mlflow.") and k not in own}


def execute_step(
    step: str, steps: Steps, params: dict[str, str], *, cache: ExitStack | None, hooks: Hooks | None
) -> dict[str, str]:
    """Run a step in the active run or, given a `cache` stack, adopt what a finished run with
    the same key recorded. The step's lock goes on that stack: the caller releases it after
    ending the run, so a parallel run waiting for the key finds this one FINISHED. `hooks` go
    to the step's `run` (`steps(step)`), which computes the same outputs with or without them."""
    run = current_run()
    typed = parse_params(params)  # values first: a bad one fails before any input is read
    code = code_digest(step)
    key = cache_key(step, params, code)
    keyed = {TAG_STEP: step, TAG_CACHE_KEY: key, TAG_CODE_DIGEST: code}
    source = None
    if cache is not None:
        cache.enter_context(step_lock(key))  # this machine
        source = find_reusable(run.info.experiment_id, key, step)
        if source is None and shared_store():  # other machines on the same server
            source = claim(run, key, lambda k: find_reusable(run.info.experiment_id, k, step))
    raise_if_interrupted()
    if source is None:
        mlflow.set_tags(keyed)
        log.info("%s: computing", step)
        outputs = steps(step)(typed, hooks)
        mlflow.set_tags({OUTPUT_TAG + k: v for k, v in outputs.items()})
        return outputs
    origin = source.data.tags.get(TAG_REUSED_FROM, source.info.run_id)
    outputs = outputs_of(source)
    tags = {
        **carried(source.data.tags),
        **keyed,
        TAG_REUSED_FROM: origin,
        NOTE_TAG: f"Reused: inputs identical to run `{origin}`, whose outputs this run "
        f"stands for: {json.dumps(outputs)}",
    }
    log_batch(run.info.run_id, source.data.metrics, tags)
    log.info("%s: inputs unchanged, reusing run %s", step, origin)
    return outputs
