"""One driver for every search (a sweep's grid, a tuning study): it asks its source of points
for configurations, runs each as a child run of the search run on an executor, `jobs` at a
time, and tells the source how each did.

Each configuration's child holds its own three step runs, exactly as `main` records them, and
shares the step cache. A configuration that fails is a FAILED child and the others go on; a
tuning trial its pruner stopped is a KILLED child tagged with why, and PRUNED in the report. A
configuration whose worker died is tried once more on a fresh worker, the dead attempt's runs
marked FAILED. An interrupt ends every running configuration KILLED.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_PROJECT_ENTRY_POINT
from threadpoolctl import threadpool_limits

from orchestration import liveness
from orchestration.cli import quiet_process
from orchestration.executors import Executor, LocalPool, WorkerLost
from orchestration.memo import keep_folds
from orchestration.names import (
    RANKING_METRIC,
    TAG_ERROR,
    TAG_MODEL_URI,
    TAG_PRUNED,
    TAG_REUSED_STEPS,
)
from orchestration.pipeline import run_pipeline
from orchestration.preload import adopt_installed_packages, installed_packages
from orchestration.progress import Progress
from orchestration.pruning import Trial, reporting
from orchestration.runs import PROJECT_TAGS, Interrupted, Pruned, active_run, catch_interrupts
from titanic.errors import InputError

# Tries of a configuration whose worker died: the first, and one on a fresh worker.
TRIES = 2
# An outcome's status when its pruner stopped it (its runs are KILLED, tagged with why).
PRUNED = "PRUNED"

log = logging.getLogger("titanic")


@dataclass
class Point:
    """One configuration to run: `main` parameters, the child run's name, whatever the source
    of points needs to be told about it (an Optuna trial), and the trial its folds are
    reported to, if it may be pruned."""

    config: dict[str, str]
    label: str
    handle: Any = None
    report_to: Trial | None = None


@dataclass
class Outcome:
    """What one configuration's child run ended as: its run's status, or PRUNED; `error` says
    why it did not finish."""

    label: str
    config: dict[str, str]
    run_id: str | None = None
    status: str = "FAILED"
    metrics: dict[str, float] = field(default_factory=dict)
    model_uri: str | None = None
    reused: str = ""
    error: str | None = None

    @property
    def score(self) -> float | None:
        return self.metrics.get(RANKING_METRIC) if self.status == "FINISHED" else None


class Points(Protocol):
    """Where a search's configurations come from: `total` of them."""

    total: int

    def ask(self) -> Point | None:
        """The next configuration, or None when there is no more to ask for."""

    def tell(self, point: Point, outcome: Outcome) -> None:
        """How a configuration did."""

    def abandon(self, point: Point) -> None:
        """A configuration the search stopped before it ended."""


class Grid:
    """A fixed list of configurations, in order."""

    def __init__(self, points: list[Point]) -> None:
        self._pending = list(points)
        self.total = len(points)

    def ask(self) -> Point | None:
        return self._pending.pop(0) if self._pending else None

    def tell(self, point: Point, outcome: Outcome) -> None:
        pass

    def abandon(self, point: Point) -> None:
        pass


# --- in a worker --------------------------------------------------------------------------

# A local pool's worker is a process of its own, which a signal interrupts and which exits
# once its runs are ended; a cluster task runs in a thread of a worker that carries on.
_exit_on_interrupt = False


def _exit_when_idle(signum: int, _frame: object) -> None:
    os._exit(128 + signum)  # nothing of ours is open between configurations


def _idle() -> None:
    """Between configurations a worker holds no run: a signal just ends it."""
    signal.signal(signal.SIGINT, _exit_when_idle)
    signal.signal(signal.SIGTERM, _exit_when_idle)


def prepare_worker() -> None:
    """What a configuration needs of the process it runs in, local or on a cluster."""
    # `mlflow run` names its own run in MLFLOW_RUN_ID; a worker must start children instead.
    os.environ.pop("MLFLOW_RUN_ID", None)
    quiet_process()
    keep_folds()  # the configurations it runs share their rows and folds


def start_worker(installed: dict[str, list[str]]) -> None:
    """Set up a local pool's worker process once, before its first configuration; `installed`
    is MLflow's map of the installed packages, which the search command built."""
    global _exit_on_interrupt
    adopt_installed_packages(installed)
    prepare_worker()
    # One thread each: workers are as many as the cores, and OpenMP models (hgb) spreading
    # over every core from every worker slow each other down many times over.
    threadpool_limits(1)
    _exit_on_interrupt = True
    _idle()


def run_configuration(
    parent_id: str, config: dict[str, str], label: str, report_to: Trial | None = None
) -> Outcome:
    """In a worker: one configuration as a child run of `parent_id`, ended FINISHED, FAILED or
    KILLED (interrupted or pruned); never raises for a configuration's own failure.
    Interrupted, a local worker ends its runs KILLED and exits; a cluster task ends them
    KILLED and returns."""
    if _exit_on_interrupt:
        catch_interrupts()
    client = MlflowClient()
    parent = client.get_run(parent_id)
    tags = {k: v for k, v in parent.data.tags.items() if k in PROJECT_TAGS}
    outcome = Outcome(label, config)
    try:
        with active_run(
            parent_run_id=parent_id,
            experiment_id=parent.info.experiment_id,
            run_name=label,
            tags={**tags, MLFLOW_PROJECT_ENTRY_POINT: "main"},
        ) as run:
            outcome.run_id = run.info.run_id
            with reporting(report_to):
                run_pipeline(config)
    except Interrupted as stop:  # the runs are KILLED; the search stops its other workers
        if _exit_on_interrupt:
            logging.shutdown()
            os._exit(128 + stop.signum)
        outcome.status = "KILLED"
        return outcome
    # Recorded on the child run by active_run; the other configurations go on.
    except Pruned as stop:
        log.info("configuration %s pruned: %s", label, stop.reason)
    except InputError as err:
        log.error("configuration %s failed: %s", label, err)
    except Exception:
        log.exception("configuration %s failed", label)
    if _exit_on_interrupt:
        _idle()
    if outcome.run_id:
        done = client.get_run(outcome.run_id)
        pruned = done.data.tags.get(TAG_PRUNED)
        outcome.status = PRUNED if pruned else done.info.status
        outcome.metrics = done.data.metrics
        outcome.model_uri = done.data.tags.get(TAG_MODEL_URI)
        outcome.reused = done.data.tags.get(TAG_REUSED_STEPS, "")
        outcome.error = pruned or done.data.tags.get(TAG_ERROR)
    return outcome


def executor(cluster: str, jobs: int | None, configurations: int) -> Executor:
    """Where a search of `configurations` runs: this machine's processes (`local`), or the
    workers of a Dask scheduler; `jobs` at a time (None: one per core or cluster thread)."""
    if cluster == "local":
        slots = min(jobs or os.cpu_count() or 1, configurations)
        # Built here while the fork server imports, rather than there or in each worker.
        return LocalPool(slots, functools.partial(start_worker, installed_packages()))
    from orchestration.cluster import DaskCluster  # Dask loads only for a cluster

    return DaskCluster(cluster, min(jobs, configurations) if jobs else None)


# --- the driver ---------------------------------------------------------------------------


def search(parent: Run, points: Points, executor: Executor) -> list[Outcome]:
    """Every configuration `points` gives, as children of `parent`, `executor.slots` at a time;
    outcomes in the order they ended."""
    outcomes: list[Outcome] = []
    running: dict[Future[Outcome], tuple[Point, int]] = {}
    progress = Progress(points.total)

    def start(point: Point, attempt: int) -> None:
        future = executor.submit(
            run_configuration, parent.info.run_id, point.config, point.label, point.report_to
        )
        running[future] = (point, attempt)

    try:
        with ending_children(parent), executor:
            while True:
                while len(running) < executor.slots and (point := points.ask()) is not None:
                    start(point, 1)
                if not running:
                    return outcomes
                for future in executor.wait(running):
                    point, attempt = running.pop(future)
                    try:
                        outcome = executor.result(future)
                    except WorkerLost as lost:
                        fail_dead_attempts(
                            parent,
                            f"{lost}; the configuration was retried"
                            if attempt < TRIES
                            else str(lost),
                        )
                        if attempt < TRIES:
                            log.warning("configuration %s: %s; trying it again", point.label, lost)
                            start(point, attempt + 1)
                            continue
                        outcome = Outcome(point.label, point.config, error=str(lost))
                    points.tell(point, outcome)
                    outcomes.append(outcome)
                    progress.ended(outcome)
    except Interrupted:
        for point, _ in running.values():
            points.abandon(point)
        raise
    finally:
        progress.close()


def _running_under(client: MlflowClient, parent: Run) -> list[Run]:
    """The runs under `parent` (its children and theirs) still RUNNING: one query for the
    experiment's RUNNING runs, whose parent links are then followed here, rather than one
    query per run under it."""
    running = {
        run.info.run_id: run
        for run in client.search_runs(
            [parent.info.experiment_id], "attributes.status = 'RUNNING'", max_results=50000
        )
    }
    parent_of: dict[str, str | None] = {}

    def up(run_id: str) -> str | None:
        if run_id not in parent_of:
            try:
                run = running.get(run_id) or client.get_run(run_id)
            except MlflowException as err:  # a parent deleted for good: no chain above it
                if err.error_code != "RESOURCE_DOES_NOT_EXIST":
                    raise
                parent_of[run_id] = None
            else:
                parent_of[run_id] = run.data.tags.get(MLFLOW_PARENT_RUN_ID)
        return parent_of[run_id]

    def under(run_id: str) -> bool:
        seen = set()
        above = up(run_id)
        while above is not None and above not in seen:
            if above == parent.info.run_id:
                return True
            seen.add(above)
            above = up(above)
        return False

    return [run for run_id, run in running.items() if under(run_id)]


def fail_dead_attempts(parent: Run, reason: str) -> None:
    """Runs under the search left RUNNING by a process that is gone: FAILED, saying why."""
    client = MlflowClient()
    now = time.time()
    for run in _running_under(client, parent):
        why = liveness.why_dead(run.data.tags, run.info.start_time / 1000, now)
        if why is not None:
            liveness.end_failed(client, run.info.run_id, reason)


@contextmanager
def ending_children(parent: Run) -> Iterator[None]:
    """Around a search's workers: children (and their steps) left RUNNING end KILLED after an
    interrupt, FAILED where their worker died."""
    client = MlflowClient()
    try:
        yield
    except Interrupted:
        for run in _running_under(client, parent):
            client.set_terminated(run.info.run_id, "KILLED")
        raise
    for run in _running_under(client, parent):
        liveness.end_failed(client, run.info.run_id, "its worker process died")


def failed_line(outcomes: list[Outcome]) -> InputError | None:
    """The error a search ends with when configurations failed, naming them (a pruned trial
    did what its pruner asked)."""
    failed = [o for o in outcomes if o.status not in ("FINISHED", PRUNED)]
    if not failed:
        return None
    named = "; ".join(f"{o.label} ({o.error or o.status})" for o in failed[:5])
    more = f" and {len(failed) - 5} more" if len(failed) > 5 else ""
    return InputError(
        f"{len(failed)} of {len(outcomes)} configurations did not finish: "
        f"{named}{more}; the same command again computes only those"
    )
