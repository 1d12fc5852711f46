"""What a run writes to the tracking store and reads back of what it recorded: writes that
survive MLflow's races, metrics and tags in one call, a step's outputs; and the one line for an
artifact store that cannot be written."""

from __future__ import annotations

import errno
import time
from collections.abc import Callable

import mlflow
from mlflow.entities import Metric, Run, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from orchestration.record.names import MODEL_FILE, OUTPUT_TAG
from titanic.errors import InputError

FULL = (errno.ENOSPC, errno.EDQUOT)
READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)


def current_run() -> Run:
    """The active run, which a step's or a pipeline's recording code runs inside."""
    run = mlflow.active_run()
    if run is None:
        raise RuntimeError(
            "no active MLflow run: start one with orchestration.lifecycle.runs.active_run"
        )
    return run


def again_if_raced(write: Callable[[], object]) -> None:
    """Run a store write that can lose a race on a unique key. MLflow's SQL store looks a row
    up, then inserts it (a dataset, a model alias), so two runs writing the same one at one
    moment collide (sqlite and PostgreSQL alike); by then the row exists, and a second try
    links to it or moves it."""
    try:
        write()
    except MlflowException as err:
        if "unique constraint" not in str(err).lower():
            raise
        write()


def log_batch(run_id: str, metrics: dict[str, float], tags: dict[str, str]) -> None:
    """Metrics and tags in one call to the store."""
    now = int(time.time() * 1000)
    MlflowClient().log_batch(
        run_id,
        metrics=[Metric(k, v, now, 0) for k, v in metrics.items()],
        tags=[RunTag(k, v) for k, v in tags.items()],
    )


def outputs_of(run: Run) -> dict[str, str]:
    return {k[len(OUTPUT_TAG) :]: v for k, v in run.data.tags.items() if k.startswith(OUTPUT_TAG)}


def model_listed(model_uri: str) -> bool:
    """Whether the artifact store still lists the logged model's files (a clean-up or a lost
    disk can take them while the store's row stays)."""
    return MODEL_FILE in {a.path for a in mlflow.artifacts.list_artifacts(artifact_uri=model_uri)}


def unwritable(err: BaseException | None, location: str) -> InputError | None:
    """The one line for a run whose artifacts the store at `location` could not take (a full
    disk, a read-only or forbidden folder), saying what to do; None for any other error."""
    while err is not None and not isinstance(err, (OSError, InputError)):  # MLflow's wrapping
        err = err.__cause__ or (None if err.__suppress_context__ else err.__context__)
    if not isinstance(err, OSError) or err.errno not in (*FULL, *READ_ONLY):
        return None
    if err.errno in READ_ONLY and not str(err.filename or "").startswith(
        location.removeprefix("file://")
    ):
        return None  # reading an input, not writing an artifact
    fix = "free space there" if err.errno in FULL else "make it writable for this user"
    return InputError(
        f"cannot write to the artifact store at {location} ({err.strerror}): {fix}, or run "
        f"in an experiment whose artifact location can take it (mlflow experiments create "
        f"-n <name> -l <location>; MLFLOW_EXPERIMENT_NAME=<name>); what this command did not "
        f"finish is never reused"
    )
