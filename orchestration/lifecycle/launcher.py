"""The `mlflow run` process above an entry point: follow it when it is stopped alone, and keep
a run KILLED after it has exited.

    python -m orchestration.lifecycle.launcher <pid> <start time> <launcher pid|-> <run id>...
                                                               (started by an entry point)
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from orchestration.lifecycle import processes
from orchestration.lifecycle.runs import Interrupted, unended
from orchestration.project.mlproject import PROJECT_DIR

# How long the helper waits for the processes to exit and for the store to take its writes.
HELPER_SECONDS = 180.0


def keep_killed_after_launcher(launched_as: str | None) -> None:
    """After an interrupt, start a detached helper that marks KILLED, once this process and
    the `mlflow run` above it have exited: the run `mlflow run` made (`launched_as`), which it
    marks FAILED after an interrupt even when the entry point already ended it (its
    terminal-status check compares the status string with numeric codes, so it never sees
    one), and every run this process could not end itself."""
    runs = [r for r in [launched_as, *unended()] if r]
    if not runs:
        return
    me = processes.this_process()
    launcher = processes.mlflow_run_above() if launched_as else None
    subprocess.Popen(
        [
            sys.executable,
            "-m",
            "orchestration.lifecycle.launcher",
            me["pid"],
            me["started"],
            str(launcher or "-"),
            *dict.fromkeys(runs),
        ],
        cwd=PROJECT_DIR,
        start_new_session=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
    )


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


def keep_killed(pid: int, started: str, launcher: int | None, run_ids: list[str]) -> None:
    """In the helper: wait for the entry point (`pid`, started at `started`) and `launcher` to
    exit, then mark `run_ids` KILLED, trying again while the store refuses."""
    deadline = time.monotonic() + HELPER_SECONDS
    while time.monotonic() < deadline and (
        processes.alive(pid, started) or (launcher and processes.alive(launcher))
    ):
        time.sleep(0.1)
    client = MlflowClient()
    pending = list(run_ids)
    while pending:
        try:
            client.set_terminated(pending[0], "KILLED")
            pending.pop(0)
        except MlflowException as err:
            if time.monotonic() > deadline:
                print(
                    f"titanic: error: could not mark runs {', '.join(pending)} KILLED: {err}; "
                    f"the next command against the experiment marks them FAILED",
                    file=sys.stderr,
                )
                sys.exit(1)
            time.sleep(1.0)


if __name__ == "__main__":
    keep_killed(
        int(sys.argv[1]),
        sys.argv[2],
        None if sys.argv[3] == "-" else int(sys.argv[3]),
        sys.argv[4:],
    )
