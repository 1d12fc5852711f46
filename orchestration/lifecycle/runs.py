"""Run status: start and end runs FINISHED, FAILED or KILLED, signals, and what a run records
of itself in one call to the store."""

from __future__ import annotations

import gc
import logging
import signal
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

import mlflow
from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from orchestration.lifecycle import liveness
from orchestration.record.names import (
    EXPERIMENT_KIND,
    EXPERIMENT_KIND_TAG,
    failure_tags,
    pruned_tags,
)
from orchestration.team.access import refusal
from titanic.errors import InputError

# Tags `mlflow run` puts on a project run; a step run inside `main` takes them from the parent.
PROJECT_TAGS = (
    "mlflow.user",
    "mlflow.source.name",
    "mlflow.source.type",
    "mlflow.source.git.commit",
    "mlflow.source.git.branch",
    "mlflow.source.git.repoURL",
    "mlflow.gitRepoURL",
    "mlflow.project.env",
    "mlflow.project.backend",
)

log = logging.getLogger("titanic")


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived; raised so that open runs end as KILLED."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    def __reduce__(self) -> tuple[type[Interrupted], tuple[int]]:
        # A local worker interrupted between configurations sends this back to the search
        # process, which rebuilds it from the signal number (not from the name it shows).
        return type(self), (self.signum,)


class Pruned(Exception):
    """A tuning trial stopped on purpose, as its pruner asked: its runs end KILLED, saying why,
    and the search goes on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_received: list[int] = []
# Runs this process started and has not ended yet: after an interrupt, whatever is left here
# is ended KILLED by a helper once this process has exited (see `orchestration.lifecycle.launcher`).
_unended: list[str] = []


def _interrupt(signum: int, _frame: object) -> None:
    # Later signals must not cut short the clean-up that the first one started.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _received.append(signum)
    raise Interrupted(signum)


def catch_interrupts() -> None:
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)


def interrupt_later(signum: int) -> None:
    """Interrupt the work at its next safe point, as `signum` would: for work in a thread,
    where no signal reaches it (a cluster task)."""
    _received.append(signum)


def clear_interrupts() -> None:
    _received.clear()


def unended() -> list[str]:
    return list(_unended)


def raise_if_interrupted() -> None:
    """Raise a signal's Interrupted again where it is safe: raised inside a weakref callback
    or __del__ (as during garbage collection), Python prints it and drops it."""
    if _received:
        raise Interrupted(_received[0])


@contextmanager
def active_run(
    *,
    nested: bool = False,
    parent_run_id: str | None = None,
    experiment_id: str | None = None,
    run_name: str | None = None,
    tags: dict[str, str] | None = None,
) -> Iterator[Run]:
    """Start (or resume) a run and end it FINISHED, FAILED, or KILLED (on SIGINT/SIGTERM, or
    pruned, saying why). The run records its process while open; a command's top-level run
    first marks FAILED the experiment's runs whose process died without ending them."""
    run = mlflow.start_run(
        nested=nested,
        parent_run_id=parent_run_id,
        experiment_id=experiment_id,
        run_name=run_name,
        tags={**(tags or {}), **liveness.process_tags()},
    )
    _unended.append(run.info.run_id)
    status = "FAILED"
    try:
        liveness.watch(run.info.run_id)
        if not nested and parent_run_id is None:
            open_on_training_runs(run.info.experiment_id)
            liveness.reap_dead_runs(run.info.experiment_id)
        yield run
        raise_if_interrupted()
        status = "FINISHED"
    except Interrupted as stop:
        status = "KILLED"
        release_store(stop)
        raise
    except Pruned as stop:
        status = "KILLED"
        mlflow.set_tags(pruned_tags(stop.reason))
        raise
    except Exception as err:
        # A signal that lands while a store call waits (sqlite's busy wait) is handled only
        # once the call has failed: the run was stopped, and ends KILLED, not FAILED.
        try:
            if _received:
                raise Interrupted(_received[0]) from err
            record_failure(err)
        except Interrupted as stop:
            status = "KILLED"
            release_store(stop)
            raise
        raise
    finally:
        liveness.unwatch(run.info.run_id)
        try:
            mlflow.end_run(status)
        except Exception as err:
            if status != "KILLED":
                raise
            # The signal can land inside a store call and leave that connection holding the
            # store (a sqlite write lock) until this process exits: the helper ends it then.
            log.warning(
                "run %s not ended here (%s); it is marked KILLED once this process has exited",
                run.info.run_id,
                err,
            )
        else:
            _unended.remove(run.info.run_id)


def release_store(stop: Interrupted) -> None:
    """Let go of the store call a signal cut short, before ending runs KILLED: its cursor,
    still referenced by the frames the signal unwound, keeps the lock its unfinished statement
    took on a sqlite store, and ending the run would wait out MLflow's 20 s busy timeout,
    fail, and leave the run to the helper that marks it after this process exits."""
    seen: set[int] = set()
    cut: BaseException | None = stop
    while cut is not None and id(cut) not in seen:  # and the store error it interrupted, if any
        seen.add(id(cut))
        traceback.clear_frames(cut.__traceback__)
        cut = cut.__cause__ or cut.__context__
    gc.collect()


def open_on_training_runs(experiment_id: str) -> None:
    """Record the experiment's kind, unless someone did already: without it the MLflow 3 UI
    opens an experiment on its GenAI views rather than on its runs."""
    client = MlflowClient()
    if EXPERIMENT_KIND_TAG not in client.get_experiment(experiment_id).tags:
        try:
            client.set_experiment_tag(experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
        except MlflowException:
            # Another command set it at the same moment (a server on PostgreSQL refuses the
            # second insert); anything else is a real failure.
            if EXPERIMENT_KIND_TAG not in client.get_experiment(experiment_id).tags:
                raise


def record_failure(err: Exception) -> None:
    """Why a run failed, on the run itself (a tag, and its description in the UI)."""
    err = refusal(err) or err
    reason = str(err) if isinstance(err, InputError) else f"{type(err).__name__}: {err}"
    reason = reason.splitlines()[0] if reason.strip() else type(err).__name__
    try:
        mlflow.set_tags(failure_tags(reason))
    except MlflowException as store_error:  # the store itself may be what failed
        log.warning("could not record the failure on the run: %s", store_error)
