"""Worker processes that run pipeline configurations as child runs of a search run (a sweep or
a tuning study): each configuration is one child holding its own three step runs, exactly as
`main` records them, and sharing the step cache.

Workers are forked from a server process that imported the project once, so a configuration
costs its work, not an interpreter start; a configuration that fails is a FAILED child and the
others go on; an interrupt ends every running configuration KILLED.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import time
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field

from mlflow.entities import Run
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID, MLFLOW_PROJECT_ENTRY_POINT
from threadpoolctl import threadpool_limits

from titanic.cli import quiet_known_warnings
from titanic.errors import InputError, failure_tags
from titanic.names import RANKING_METRIC, STEPS, TAG_ERROR, TAG_MODEL_URI, TAG_REUSED_STEPS
from titanic.pipeline import run_pipeline
from titanic.runs import PROJECT_TAGS, Interrupted, active_run, catch_interrupts

log = logging.getLogger("titanic")


@dataclass
class Outcome:
    """What one configuration's child run ended as."""
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


def _start_worker() -> None:
    # `mlflow run` names its own run in MLFLOW_RUN_ID; a worker must start children instead.
    os.environ.pop("MLFLOW_RUN_ID", None)
    # Interleaved progress bars of parallel downloads say nothing.
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    quiet_known_warnings()
    # One thread each: workers are as many as the cores, and OpenMP models (hgb) spreading
    # over every core from every worker slow each other down many times over.
    threadpool_limits(1)
    catch_interrupts()
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def run_configuration(parent_id: str, config: dict[str, str], label: str) -> Outcome:
    """In a worker: one configuration as a child run of `parent_id`, ended FINISHED, FAILED or
    KILLED; never raises for a configuration's own failure."""
    client = MlflowClient()
    parent = client.get_run(parent_id)
    tags = {k: v for k, v in parent.data.tags.items() if k in PROJECT_TAGS}
    outcome = Outcome(label, config)
    try:
        with active_run(parent_run_id=parent_id, experiment_id=parent.info.experiment_id,
                        run_name=label,
                        tags={**tags, MLFLOW_PROJECT_ENTRY_POINT: "main"}) as run:
            outcome.run_id = run.info.run_id
            run_pipeline(config)
    except Interrupted:
        pass  # the run is KILLED; the search stops its other workers
    # Recorded on the child run by active_run; the other configurations go on.
    except InputError as err:
        log.error("configuration %s failed: %s", label, err)
    except Exception:
        log.exception("configuration %s failed", label)
    if outcome.run_id:
        done = client.get_run(outcome.run_id)
        outcome.status = done.info.status
        outcome.metrics = done.data.metrics
        outcome.model_uri = done.data.tags.get(TAG_MODEL_URI)
        outcome.reused = done.data.tags.get(TAG_REUSED_STEPS, "")
        outcome.error = done.data.tags.get(TAG_ERROR)
    return outcome


@contextmanager
def workers(jobs: int) -> Iterator[ProcessPoolExecutor]:
    """`jobs` worker processes; on an interrupt they are stopped, their runs end KILLED."""
    context = multiprocessing.get_context("forkserver")
    # Imported once, in the server the workers are forked from.
    context.set_forkserver_preload(["titanic.pool", *(f"steps.{step}" for step in STEPS)])
    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_start_worker)
    try:
        yield pool
    except Interrupted:
        _stop(pool)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _stop(pool: ProcessPoolExecutor) -> None:
    """Pass the interrupt on to every worker and give them time to end their runs."""
    processes = list((pool._processes or {}).values())  # no public handle on them
    for process in processes:
        if process.is_alive():
            os.kill(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    for process in processes:
        process.join(timeout=max(0.0, deadline - time.monotonic()))


def end_unfinished(parent_id: str, experiment_id: str, status: str, reason: str) -> None:
    """Children (and their steps) still RUNNING under a search whose workers have stopped:
    KILLED after an interrupt, FAILED where a worker died."""
    client = MlflowClient()
    pending = [parent_id]
    while pending:
        current = pending.pop()
        for run in client.search_runs(
                [experiment_id], f"tags.`{MLFLOW_PARENT_RUN_ID}` = '{current}'",
                max_results=50000):
            pending.append(run.info.run_id)
            if run.info.status == "RUNNING":
                if status == "FAILED":
                    for key, value in failure_tags(reason).items():
                        client.set_tag(run.info.run_id, key, value)
                client.set_terminated(run.info.run_id, status)


def submit(pool: ProcessPoolExecutor, parent_id: str, config: dict[str, str],
           label: str) -> Future[Outcome]:
    return pool.submit(run_configuration, parent_id, config, label)


def result(future: Future[Outcome], config: dict[str, str], label: str) -> Outcome:
    """A configuration's outcome; a worker that died (killed, out of memory) fails it."""
    try:
        return future.result()
    except BrokenProcessPool as err:
        return Outcome(label, config, error=f"its worker process died ({err})")


@contextmanager
def ending_children(parent: Run) -> Iterator[None]:
    """Around a search's workers: children (and their steps) left RUNNING end KILLED after an
    interrupt, FAILED where their worker died."""
    try:
        yield
    except Interrupted:
        end_unfinished(parent.info.run_id, parent.info.experiment_id, "KILLED",
                       "stopped by an interrupt of the search")
        raise
    end_unfinished(parent.info.run_id, parent.info.experiment_id, "FAILED",
                   "its worker process died")


def run_all(parent: Run, labelled: list[tuple[dict[str, str], str]], jobs: int
            ) -> list[Outcome]:
    """Every configuration as a child of `parent`, `jobs` at a time, in the order given."""
    with ending_children(parent), workers(min(jobs, len(labelled))) as pool:
        futures = [submit(pool, parent.info.run_id, config, label)
                   for config, label in labelled]
        return [result(f, config, label) for f, (config, label) in zip(futures, labelled)]


def failed_line(outcomes: list[Outcome]) -> InputError | None:
    """The error a search ends with when configurations failed, naming them."""
    failed = [o for o in outcomes if o.status != "FINISHED"]
    if not failed:
        return None
    named = "; ".join(f"{o.label} ({o.error or o.status})" for o in failed[:5])
    more = f" and {len(failed) - 5} more" if len(failed) > 5 else ""
    return InputError(f"{len(failed)} of {len(outcomes)} configurations did not finish: "
                      f"{named}{more}; the same command again computes only those")
