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
    NOTE_TAG,
    OUTPUT_TAG,
    PROCESS_TAGS,
    TAG_CACHE_KEY,
    TAG_CODE_DIGEST,
    TAG_REUSED_FROM,
    TAG_STEP,
)
from orchestration.record.store import current_run, log_batch, outputs_of

if TYPE_CHECKING:
    from titanic.models import Hooks

# A step's `run(params, hooks)`, and the one of each step by its name, imported when first
# computed: what the entry points hand the machinery (`steps.step`).
StepRun = Callable[[dict[str, Any], "Hooks | None"], dict[str, str]]
Steps = Callable[[str], StepRun]

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
        source = find_reusable(run.info.experiment_id, key)
        if source is None and shared_store():  # other machines on the same server
            source = claim(run, key, lambda k: find_reusable(run.info.experiment_id, k))
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
