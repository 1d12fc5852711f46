"""Knowing whether a RUNNING run's process is still alive, on this machine or another.

Every run this project starts records where its process runs (host, boot time, pid and the
process's start time, from `processes`) and a heartbeat refreshed while it runs. A process
killed with `kill -9`, or a machine that went away, cannot end its runs; the next command
against the experiment finds them and marks them FAILED, saying why. On the same machine a
run is dead as soon as its process is; elsewhere, when its heartbeat is older than
STALE_SECONDS.
"""

from __future__ import annotations

import logging
import threading
import time

from mlflow.entities import RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from orchestration.lifecycle import processes
from orchestration.record.names import (
    PROJECT_ENTRY_TAG,
    PROJECT_ENV_TAG,
    TAG_BOOT,
    TAG_HEARTBEAT,
    TAG_HOST,
    TAG_PID,
    TAG_PID_START,
    failure_tags,
)

HEARTBEAT_SECONDS = 30.0
STALE_SECONDS = 4 * HEARTBEAT_SECONDS
# `mlflow run` creates its run, then builds the environment (none with `--env-manager local`,
# minutes for a new virtualenv) and starts the entry point, which records its process. A run
# with no process recorded after this long never got one: its `mlflow run` was stopped first.
NEVER_STARTED_SECONDS = {"local": 120.0}
NEVER_STARTED_DEFAULT = 3600.0

log = logging.getLogger("titanic")
_open_runs: set[str] = set()
_lock = threading.Lock()


def process_tags() -> dict[str, str]:
    """The tags that record this process on a run: a run starts with them."""
    found = processes.this_process()
    return {
        TAG_HOST: found["host"],
        TAG_BOOT: found["boot"],
        TAG_PID: found["pid"],
        TAG_PID_START: found["started"],
        TAG_HEARTBEAT: f"{time.time():.0f}",
    }


def watch(run_id: str) -> None:
    """Keep the heartbeat of a run started with this process's `process_tags()`, while it is
    open."""
    with _lock:
        _open_runs.add(run_id)
        if not any(t.name == "titanic-heartbeat" for t in threading.enumerate()):
            threading.Thread(target=_beat, name="titanic-heartbeat", daemon=True).start()


def unwatch(run_id: str) -> None:
    with _lock:
        _open_runs.discard(run_id)


def _beat() -> None:
    client = MlflowClient()
    while True:
        time.sleep(HEARTBEAT_SECONDS)
        with _lock:
            runs = list(_open_runs)
        for run_id in runs:
            try:
                client.set_tag(run_id, TAG_HEARTBEAT, f"{time.time():.0f}")
            except MlflowException as err:  # a store hiccup: the next beat tries again
                log.warning("heartbeat of run %s not recorded: %s", run_id, err)


def why_dead(tags: dict[str, str], started: float, now: float) -> str | None:
    """Why a RUNNING run's process is known to be gone, or None while it may be alive
    (`started`, `now`: seconds since the epoch)."""
    if TAG_HEARTBEAT not in tags:
        if PROJECT_ENTRY_TAG not in tags:  # not started by `mlflow run`: nothing to go by
            return None
        env = tags.get(PROJECT_ENV_TAG, "local")  # MLflow tags every env manager but local
        waited = now - started
        if waited > NEVER_STARTED_SECONDS.get(env, NEVER_STARTED_DEFAULT):
            return (
                f"its entry point never started: `mlflow run` created it {waited:.0f} s "
                f"ago and was stopped before starting it"
            )
        return None
    if processes.on_this_machine(tags.get(TAG_HOST, ""), tags.get(TAG_BOOT, "")):
        pid = int(tags[TAG_PID])
        if not processes.alive(pid, tags.get(TAG_PID_START)):
            return f"its process {pid} on {tags[TAG_HOST]} is gone"
        return None
    age = now - float(tags[TAG_HEARTBEAT])
    if age > STALE_SECONDS:
        return f"no heartbeat from its process on {tags.get(TAG_HOST)} for {age:.0f} s"
    return None


def reap_dead_runs(experiment_id: str) -> list[str]:
    """Mark FAILED the experiment's RUNNING runs whose process is gone; returns their ids."""
    client = MlflowClient()
    running = client.search_runs([experiment_id], "attributes.status = 'RUNNING'", max_results=1000)
    reaped = []
    now = time.time()
    for run in running:
        reason = why_dead(run.data.tags, run.info.start_time / 1000, now)
        if reason is None:
            continue
        message = f"marked FAILED by a later command: {reason}"
        end_failed(client, run.info.run_id, message)
        log.warning("run %s was left RUNNING: %s", run.info.run_id, message)
        reaped.append(run.info.run_id)
    return reaped


def end_failed(client: MlflowClient, run_id: str, reason: str) -> None:
    """End FAILED, saying why, a run whose own process cannot end it."""
    client.log_batch(run_id, tags=[RunTag(k, v) for k, v in failure_tags(reason).items()])
    client.set_terminated(run_id, "FAILED")
