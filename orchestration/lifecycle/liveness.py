"""Whether a RUNNING run's process is still alive, on this machine or another: what lets the
next command end a run whose own process could not.

Every run this project starts records where its process runs (host, boot time, pid and the
process's start time, through psutil: a pid with its start time names one process, whatever
reuses the pid later) and a heartbeat refreshed while it runs. A process killed with `kill -9`,
a machine that went away, or a store that stayed unreachable past its bound leave their runs
RUNNING; the next command against the experiment marks them FAILED, saying why. On the same
machine a run is dead as soon as its process is; elsewhere, when its heartbeat is older than
STALE_SECONDS.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time

import psutil
from mlflow.entities import RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

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


def _stamp(seconds: float) -> str:
    """Start and boot times as tags hold them: to the millisecond, so a round trip compares."""
    return f"{seconds:.3f}"


def process_tags() -> dict[str, str]:
    """The tags that record this process on a run: a run starts with them."""
    process = psutil.Process(os.getpid())
    return {
        TAG_HOST: socket.gethostname(),
        TAG_BOOT: _stamp(psutil.boot_time()),
        TAG_PID: str(process.pid),
        TAG_PID_START: _stamp(process.create_time()),
        TAG_HEARTBEAT: f"{time.time():.0f}",
    }


def alive(pid: int, started: str | None = None) -> bool:
    """The process `pid` (started at `started`, if given) exists and has not exited."""
    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and (
            started is None or _stamp(process.create_time()) == started
        )
    except psutil.Error:  # gone, or not ours to look at
        return False


def watch(run_id: str) -> None:
    """Keep the heartbeat of a run started with this process's `process_tags()` while open."""
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
    here = tags.get(TAG_HOST) == socket.gethostname()
    if here and tags.get(TAG_BOOT) == _stamp(psutil.boot_time()):  # its pid means it here
        pid = int(tags[TAG_PID])
        return (
            None
            if alive(pid, tags.get(TAG_PID_START))
            else f"its process {pid} on {tags[TAG_HOST]} is gone"
        )
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
