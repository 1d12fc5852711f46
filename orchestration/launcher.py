"""The `mlflow run` process above an entry point: follow it when it is stopped alone, and keep
a run KILLED after it has exited.

    python -m orchestration.launcher <run id> <launcher pid>    (started by the entry point)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

from mlflow.tracking import MlflowClient

from orchestration import processes
from orchestration.mlproject import PROJECT_DIR
from orchestration.runs import Interrupted


def keep_killed_after_launcher(run_id: str) -> None:
    """Start a detached helper that marks `run_id` KILLED again once the `mlflow run` above
    this process has exited: after an interrupt it marks its run FAILED even when the entry
    point already ended it (its terminal-status check compares the status string with
    numeric codes, so it never sees one)."""
    launcher = processes.mlflow_run_above()
    if launcher:
        subprocess.Popen([sys.executable, "-m", "orchestration.launcher", run_id, str(launcher)],
                         cwd=PROJECT_DIR, start_new_session=True, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL)
    else:  # `mlflow run` is gone already: nobody will overwrite it
        MlflowClient().set_terminated(run_id, "KILLED")


def stop_when_launcher_exits() -> None:
    """SIGTERM to `mlflow run` alone (a scheduler, `timeout`) kills it without passing the
    signal on: interrupt this process as if it had been, once `mlflow run` has gone."""
    launcher = processes.mlflow_run_above()
    if launcher is None:  # gone before this process got this far
        raise Interrupted(signal.SIGTERM)

    def poll() -> None:
        while processes.alive(launcher):
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)
    threading.Thread(target=poll, name="titanic-launcher-watch", daemon=True).start()


def keep_killed(run_id: str, launcher: int, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and processes.alive(launcher):
        time.sleep(0.1)
    MlflowClient().set_terminated(run_id, "KILLED")


if __name__ == "__main__":
    keep_killed(sys.argv[1], int(sys.argv[2]))
