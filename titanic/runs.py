"""Run status: start and end runs FINISHED, FAILED or KILLED, signals, and keeping KILLED
after `mlflow run` has overwritten it."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import mlflow
from mlflow.entities import Metric, Run, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from mlflow.utils.name_utils import _GENERATOR_NOUNS, _GENERATOR_PREDICATES

from titanic import liveness
from titanic.errors import InputError, failure_tags
from titanic.names import EXPERIMENT_KIND, EXPERIMENT_KIND_TAG, OUTPUT_TAG
from titanic.params import PROJECT_DIR

# Tags `mlflow run` puts on a project run; a step run inside `main` takes them from the parent.
PROJECT_TAGS = ("mlflow.user", "mlflow.source.name", "mlflow.source.type",
                "mlflow.source.git.commit", "mlflow.source.git.branch",
                "mlflow.source.git.repoURL", "mlflow.gitRepoURL", "mlflow.project.env",
                "mlflow.project.backend")

log = logging.getLogger("titanic")


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived; raised so that open runs end as KILLED."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


_received: list[int] = []


def _interrupt(signum: int, _frame: object) -> None:
    # Later signals must not cut short the clean-up that the first one started.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _received.append(signum)
    raise Interrupted(signum)


def catch_interrupts() -> None:
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)


def raise_if_interrupted() -> None:
    """Raise a signal's Interrupted again where it is safe: raised inside a weakref callback
    or __del__ (as during garbage collection), Python prints it and drops it."""
    if _received:
        raise Interrupted(_received[0])


@contextmanager
def active_run(**start_kwargs: object) -> Iterator[Run]:
    """Start (or resume) a run and end it FINISHED, FAILED, or KILLED on SIGINT/SIGTERM. The
    run records its process while open; a command's top-level run first marks FAILED the
    experiment's runs whose process died without ending them."""
    run = mlflow.start_run(**start_kwargs)
    status = "FAILED"
    try:
        liveness.watch(run.info.run_id)
        if not start_kwargs.get("nested") and not start_kwargs.get("parent_run_id"):
            open_on_training_runs(run.info.experiment_id)
            liveness.reap_dead_runs(run.info.experiment_id)
        yield run
        raise_if_interrupted()
        status = "FINISHED"
    except Interrupted:
        status = "KILLED"
        raise
    except Exception as err:
        record_failure(err)
        raise
    finally:
        liveness.unwatch(run.info.run_id)
        mlflow.end_run(status)


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
    reason = str(err) if isinstance(err, InputError) else f"{type(err).__name__}: {err}"
    reason = reason.splitlines()[0] if reason.strip() else type(err).__name__
    try:
        mlflow.set_tags(failure_tags(reason))
    except MlflowException as store_error:  # the store itself may be what failed
        log.warning("could not record the failure on the run: %s", store_error)


def log_batch(run_id: str, metrics: dict[str, float], tags: dict[str, str]) -> None:
    """Metrics and tags in one call to the store."""
    now = int(time.time() * 1000)
    MlflowClient().log_batch(run_id, metrics=[Metric(k, v, now, 0) for k, v in metrics.items()],
                             tags=[RunTag(k, v) for k, v in tags.items()])


def name_unless_named(run: Run, name: str) -> None:
    """Give a run a name that says what it did, unless its user chose one: MLflow names an
    unnamed run `<adjective>-<animal>-<number>` from its own word lists."""
    words = run.info.run_name.split("-")
    generated = (len(words) == 3 and words[0] in _GENERATOR_PREDICATES
                 and words[1] in _GENERATOR_NOUNS and words[2].isdigit())
    if generated:
        MlflowClient().update_run(run.info.run_id, name=name)


def outputs_of(run: Run) -> dict[str, str]:
    return {k[len(OUTPUT_TAG):]: v for k, v in run.data.tags.items() if k.startswith(OUTPUT_TAG)}


# --- KILLED after `mlflow run` exits ----------------------------------------------------------

def keep_killed_after_launcher(run_id: str) -> None:
    """Start a detached helper that marks `run_id` KILLED again once the `mlflow run` above
    this process has exited: after an interrupt it marks its run FAILED even when the entry
    point already ended it (its terminal-status check compares the status string with
    numeric codes, so it never sees one)."""
    launcher = _mlflow_run_pid()
    if launcher:
        subprocess.Popen([sys.executable, "-m", "titanic.runs", run_id, str(launcher)],
                         cwd=PROJECT_DIR, start_new_session=True, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL)
    elif Path("/proc/self").exists():  # `mlflow run` is gone already: nobody will overwrite it
        MlflowClient().set_terminated(run_id, "KILLED")


def stop_when_launcher_exits() -> None:
    """SIGTERM to `mlflow run` alone (a scheduler, `timeout`) kills it without passing the
    signal on: interrupt this process as if it had been, once `mlflow run` has gone."""
    if not Path("/proc/self").exists():
        return  # no way to tell here
    launcher = _mlflow_run_pid()
    if launcher is None:  # gone before this process got this far
        raise Interrupted(signal.SIGTERM)

    def poll() -> None:
        while _running(launcher):
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)
    threading.Thread(target=poll, name="titanic-launcher-watch", daemon=True).start()


def keep_killed(run_id: str, launcher: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _running(launcher):
        time.sleep(0.1)
    MlflowClient().set_terminated(run_id, "KILLED")


def _mlflow_run_pid() -> int | None:
    """The `mlflow run` process above this one (Linux: read from /proc), if there is one."""
    pid = os.getppid()
    for _ in range(3):  # mlflow run -> [bash ->] python
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if b"run" in argv and any(arg.endswith(b"mlflow") for arg in argv):
                return pid
            pid = int(_proc_stat(pid)[1])
        except (OSError, ValueError, IndexError):
            return None
    return None


def _proc_stat(pid: int) -> list[str]:
    """State, parent pid, ... of a process (the fields after its name in /proc/<pid>/stat)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _running(pid: int) -> bool:
    try:
        state = _proc_stat(pid)[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")  # an exited process not yet reaped by its parent


if __name__ == "__main__":
    keep_killed(sys.argv[1], int(sys.argv[2]))
