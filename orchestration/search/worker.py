"""The worker side of a search: one configuration as a child run of the search run, in a local
pool's process or a cluster worker's thread, with the hooks its train step is handed."""

from __future__ import annotations

import logging
import os
import signal
from typing import TYPE_CHECKING

import mlflow
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PROJECT_ENTRY_POINT
from threadpoolctl import threadpool_limits

from orchestration.cache.reuse import Steps
from orchestration.cli import exit_now, quiet_process
from orchestration.lifecycle.runs import (
    Interrupted,
    Pruned,
    active_run,
    catch_interrupts,
)
from orchestration.pipeline import run_pipeline
from orchestration.project.params import recorded
from orchestration.record.folds import folds_of
from orchestration.record.names import (
    PROJECT_TAGS,
    TAG_ERROR,
    TAG_MODEL_URI,
    TAG_PRUNED,
    TAG_REUSED_STEPS,
)
from orchestration.search.memo import FoldMemo
from orchestration.search.points import PRUNED, Outcome
from orchestration.search.pruning import FoldReporter, TrialRef
from titanic.errors import InputError

if TYPE_CHECKING:
    from titanic.models import Hooks

log = logging.getLogger("titanic")

# A local pool's worker is a process of its own, which a signal interrupts and which exits
# once its runs are ended; a cluster task runs in a thread of a worker that carries on.
_exit_on_interrupt = False


def _exit_when_idle(signum: int, _frame: object) -> None:
    exit_now(128 + signum)  # nothing of ours is open between configurations


def _idle() -> None:
    """Between configurations a worker holds no run: a signal just ends it."""
    signal.signal(signal.SIGINT, _exit_when_idle)
    signal.signal(signal.SIGTERM, _exit_when_idle)


# This process's fold features, once it runs a search's configurations: they share their rows
# and folds (None in a process that runs none).
_memo: FoldMemo | None = None


def hooks(report_to: TrialRef | None) -> Hooks:
    """What a configuration's steps are handed: the reporter to its trial (None: a sweep's
    configuration, or a study without a pruner), and this worker's kept fold features."""
    from titanic.models import Hooks  # scikit-learn: in the worker, not the search's process

    return Hooks(
        after_fold=FoldReporter(report_to) if report_to is not None else None,
        kept_folds=_memo.kept_folds if _memo is not None else None,
    )


def prepare_worker() -> None:
    """What a configuration needs of the process it runs in, local or on a cluster."""
    # `mlflow run` names its own run in MLFLOW_RUN_ID; a worker must start children instead.
    os.environ.pop("MLFLOW_RUN_ID", None)
    global _memo
    quiet_process()
    if _memo is None:
        _memo = FoldMemo()


def start_worker() -> None:
    """Set up a local pool's worker process once, before its first configuration."""
    global _exit_on_interrupt
    prepare_worker()
    # One thread each: workers are as many as the cores, and OpenMP models (hgb) spreading
    # over every core from every worker slow each other down many times over.
    threadpool_limits(1)
    _exit_on_interrupt = True
    _idle()


def run_configuration(
    tracking_uri: str,
    parent_id: str,
    config: dict[str, str],
    label: str,
    steps: Steps,
    report_to: TrialRef | None = None,
) -> Outcome:
    """In a worker: one configuration as a child run of `parent_id` in the search's store,
    ended FINISHED, FAILED or KILLED (interrupted or pruned); never raises for a
    configuration's own failure. Interrupted, a local worker ends its runs KILLED and exits; a
    cluster task ends them KILLED and returns."""
    if _exit_on_interrupt:
        catch_interrupts()
    mlflow.set_tracking_uri(tracking_uri)  # the worker's own settings may name another store
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
            mlflow.log_params(recorded(config))
            run_pipeline(config, steps, hooks(report_to))
    except Interrupted as stop:  # the runs are KILLED; the search stops its other workers
        if _exit_on_interrupt:
            exit_now(128 + stop.signum)
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
        outcome.folds = folds_of(done.data.tags)
        outcome.error = pruned or done.data.tags.get(TAG_ERROR)
    return outcome
