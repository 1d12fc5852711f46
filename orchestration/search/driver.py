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

import logging
import os
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager

import mlflow
from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from orchestration.cache.reuse import Steps
from orchestration.lifecycle import liveness
from orchestration.lifecycle.runs import Interrupted
from orchestration.search.executors import Executor, LocalPool, WorkerLost
from orchestration.search.points import PRUNED, Outcome, Point, Points
from orchestration.search.progress import Progress
from orchestration.search.worker import run_configuration, start_worker
from titanic.errors import InputError

# Tries of a configuration whose worker died: the first, and one on a fresh worker.
TRIES = 2

log = logging.getLogger("titanic")


def executor(
    cluster: str, jobs: int | None, configurations: int, preload: Sequence[str]
) -> Executor:
    """Where a search of `configurations` runs: this machine's processes (`local`), or the
    workers of a Dask scheduler; `jobs` at a time (None: one per core or cluster thread). Its
    workers import `preload` (the steps) before their first configuration."""
    if cluster == "local":
        slots = min(jobs or os.cpu_count() or 1, configurations)
        return LocalPool(slots, start_worker, preload)
    from orchestration.search.cluster import DaskCluster  # Dask loads only for a cluster

    return DaskCluster(cluster, min(jobs, configurations) if jobs else None, preload)


def search(parent: Run, points: Points, executor: Executor, steps: Steps) -> list[Outcome]:
    """Every configuration `points` gives, as children of `parent` running `steps`,
    `executor.slots` at a time; outcomes in the order they ended."""
    outcomes: list[Outcome] = []
    running: dict[Future[Outcome], tuple[Point, int]] = {}
    progress = Progress(points.total)

    def start(point: Point, attempt: int) -> None:
        future = executor.submit(
            run_configuration,
            mlflow.get_tracking_uri(),
            parent.info.run_id,
            point.config,
            point.label,
            steps,
            point.report_to,
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
