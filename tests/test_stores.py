"""Stores that ride through their database's brief outages (orchestration/stores.py): which
errors are an outage, the bound and its one line, and a sweep through a real restart of its
PostgreSQL."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest
import sqlalchemy.exc
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from orchestration import stores
from tests.servers import private_postgres
from tests.support import (
    QUICK,
    finished,
    mlflow_run_command,
    run_env,
    started_mlflow_run,
)


def outage(message: str) -> MlflowException:
    """What MLflow's SQL store raises when its database fails a call: its OperationalError,
    wrapped."""
    cause = sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception(message))
    try:
        raise MlflowException(str(cause)) from cause
    except MlflowException as err:
        return err


@pytest.mark.parametrize(
    ("message", "transient"),
    [
        (
            'connection failed: connection to server at "127.0.0.1", port 9 failed: '
            "Connection refused",
            True,
        ),
        ("terminating connection due to administrator command", True),
        ("the database system is shutting down", True),
        ("database is locked", True),
        ('password authentication failed for user "x"', False),
        ('database "nope" does not exist', False),
    ],
)
def test_an_outage_is_told_from_a_refusal(message: str, transient: bool) -> None:
    assert (stores.unreachable(outage(message)) is not None) is transient
    assert stores.unreachable(ValueError(message)) is None  # not the database's


def test_a_call_is_tried_again_while_the_store_is_down_then_given_up_in_one_line(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(stores, "RIDE_SECONDS", 1.2)
    monkeypatch.setattr(stores, "FIRST_WAIT", 0.1)
    calls: list[float] = []

    def down_twice() -> str:
        calls.append(time.monotonic())
        if len(calls) <= 2:
            raise outage("Connection refused")
        return "answered"

    uri = "postgresql://user:secret@db.internal/mlflow"
    assert stores.ride_through(uri, down_twice) == "answered" and len(calls) == 3
    (said,) = [r.getMessage() for r in caplog.records if r.name == "titanic"]
    assert said.startswith(
        "the tracking store postgresql://user:***@db.internal/mlflow is unreachable "
        "(Connection refused): trying again for up to 1 s"
    )

    def always_down() -> None:
        calls.append(time.monotonic())
        raise outage("Connection refused")

    calls.clear()
    with pytest.raises(stores.StoreUnreachable) as gave_up:
        stores.ride_through(uri, always_down)
    assert str(gave_up.value).startswith(
        "the tracking store postgresql://user:***@db.internal/mlflow stayed unreachable for "
    )
    assert "run the command again; the runs it left open are ended FAILED by the next" in str(
        gave_up.value
    )
    assert calls[-1] - calls[0] <= 1.2 and len(calls) > 2  # backed off, within the bound
    calls.clear()
    with pytest.raises(stores.StoreUnreachable):  # given up: tried once, not waited for again
        stores.ride_through(uri, always_down)
    assert len(calls) == 1
    assert stores.ride_through(uri, lambda: "back") == "back"  # and waited for again after


@pytest.mark.slow
def test_a_sweep_rides_through_a_restart_of_its_postgresql(tmp_path: Path) -> None:
    """The team's database restarts (stopped as `pg_ctl restart -m fast` stops it, started
    again 5 s later) while a sweep that logs to it directly runs: every configuration
    finishes, the sweep having said once that it waits."""
    with private_postgres() as server:
        with psycopg.connect(f"{server.url}/postgres", autocommit=True) as connection:
            connection.execute("CREATE DATABASE titanic")
        uri = f"{server.url}/titanic"
        env = run_env(MLFLOW_TRACKING_URI=uri, MLFLOW_EXPERIMENT_NAME="restarts")
        client = MlflowClient(uri)  # creates the store's tables
        experiment_id = client.create_experiment(
            "restarts", artifact_location=(tmp_path / "artifacts").as_uri()
        )
        values = "0.01,0.1,1,10,30"
        proc = started_mlflow_run(
            mlflow_run_command("-e", "sweep", "-P", f"C={values}", "-P", "jobs=2", *QUICK),
            cwd=tmp_path,
            env=env,
        )
        try:
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline and proc.poll() is None:
                done = client.search_runs(
                    [experiment_id],
                    "attributes.run_name = 'train' and attributes.status = 'FINISHED'",
                )
                if done:
                    break
                time.sleep(0.2)
            server.restart(down_seconds=5)
            _, err = finished(proc, timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 0, err[-3000:]
        assert "is unreachable" in err, err[-3000:]  # it waited, saying so, and went on
        runs = client.search_runs([experiment_id], max_results=1000)
        search = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
        configurations = [
            r for r in runs if r.data.tags.get("mlflow.parentRunId") == search[0].info.run_id
        ]
        assert len(configurations) == 5 and {r.info.status for r in runs} == {"FINISHED"}
