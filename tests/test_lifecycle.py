"""A run's life (orchestration/lifecycle/): loopback, signals, dead runs."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from orchestration.lifecycle.runs import Interrupted
from orchestration.team.hosts import is_loopback


@pytest.mark.parametrize(
    "host, loopback",
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("10.1.2.3", False),
        ("0.0.0.0", False),
        ("no-such-host.invalid", False),
    ],
)
def test_only_addresses_of_this_machine_alone_count_as_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_a_signal_inside_a_store_read_still_ends_the_run_killed_here(store: str) -> None:
    """The signal lands in a sqlite read, its statement begun and not finished (the listener
    raises as the signal handler would there): the run must still end KILLED in this process,
    not wait out the lock that read holds and leave the run unended."""
    from sqlalchemy import event

    from orchestration.lifecycle.runs import active_run

    engine = MlflowClient()._tracking_client.store.engine

    def signal_lands(_conn, _cursor, statement: str, *_args: object) -> None:
        if statement.startswith("SELECT"):
            event.remove(engine, "after_cursor_execute", signal_lands)
            raise Interrupted(signal.SIGINT)

    with pytest.raises(Interrupted), active_run(run_name="cut short") as run:
        event.listen(engine, "after_cursor_execute", signal_lands)
        MlflowClient().search_runs([run.info.experiment_id])
    ended = MlflowClient().get_run(run.info.run_id)
    assert ended.info.status == "KILLED" and ended.data.tags["titanic.error"] == "stopped by SIGINT"


def test_a_signal_handled_only_once_a_store_call_failed_ends_the_run_killed(store: str) -> None:
    """The signal arrives while a store call waits out sqlite's busy timeout: Python handles it
    when the call has failed. The run was stopped, so it ends KILLED and the signal goes on."""
    from mlflow.exceptions import MlflowException

    from orchestration.lifecycle.runs import active_run, clear_interrupts, interrupt_later

    try:
        with pytest.raises(Interrupted) as stopped, active_run(run_name="stopped") as run:
            interrupt_later(signal.SIGTERM)  # received, not yet raised
            raise MlflowException("(sqlite3.OperationalError) database is locked")
    finally:
        clear_interrupts()
    assert stopped.value.signum == signal.SIGTERM
    assert isinstance(stopped.value.__cause__, MlflowException)
    ended = MlflowClient().get_run(run.info.run_id)
    assert (
        ended.info.status == "KILLED" and ended.data.tags["titanic.error"] == "stopped by SIGTERM"
    )


def test_an_interrupted_command_exits_though_a_thread_was_left_waiting(tmp_path: Path) -> None:
    """A signal that lands while a thread pool starts a worker leaves a non-daemon thread that
    nobody tells to stop (here: one waiting for ever). The interrupted command still exits,
    at once and with the signal's code, rather than waiting for it in its interpreter's exit."""
    script = (
        "import signal, threading\n"
        "from orchestration.cli import run_cli\n"
        "from orchestration.lifecycle.runs import Interrupted\n"
        "def body():\n"
        "    threading.Thread(target=threading.Event().wait, name='left waiting').start()\n"
        "    raise Interrupted(signal.SIGTERM)\n"
        "run_cli(body)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 128 + signal.SIGTERM, done.stderr[-2000:]
    assert "titanic: stopped by SIGTERM; its runs are ended KILLED" in done.stderr


def test_why_dead_by_process_here_and_by_heartbeat_elsewhere() -> None:
    from orchestration.lifecycle import liveness

    now = time.time()
    alive_here = liveness.process_tags()
    assert liveness.why_dead(alive_here, now, now) is None
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead_here = {**alive_here, "titanic.pid": str(gone.pid)}
    assert re.fullmatch(
        rf"its process {gone.pid} on .* is gone", liveness.why_dead(dead_here, now, now) or ""
    )
    elsewhere = {**alive_here, "titanic.host": "other-machine"}
    assert liveness.why_dead({**elsewhere, "titanic.heartbeat": str(now - 60)}, now, now) is None
    assert (
        liveness.why_dead({**elsewhere, "titanic.heartbeat": str(now - 1000)}, now, now)
        == "no heartbeat from its process on other-machine for 1000 s"
    )
    assert liveness.why_dead({"mlflow.user": "x"}, now - 10**6, now) is None  # not a project run


def test_a_project_run_whose_entry_point_never_started_is_dead_after_a_grace() -> None:
    from orchestration.lifecycle import liveness

    now = time.time()
    local = {"mlflow.project.entryPoint": "main"}  # `--env-manager local` adds no env tag
    assert liveness.why_dead(local, now - 60, now) is None  # may still be starting
    assert (liveness.why_dead(local, now - 200, now) or "").startswith(
        "its entry point never started: `mlflow run` created it 200 s ago"
    )
    # A virtualenv may take minutes to build before the entry point starts.
    assert liveness.why_dead({**local, "mlflow.project.env": "virtualenv"}, now - 200, now) is None
