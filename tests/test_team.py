"""The team server: `tools/team_server.py` on a real PostgreSQL (a database of the test's own),
artifacts proxied through the server; the pipeline, the registry, the leaderboard and a sweep
driven through its URL alone. Skipped only where no PostgreSQL answers, unless
TITANIC_REQUIRE_POSTGRES=1 (set by CI), where that is a failure."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import mlflow
import optuna
import psycopg
import pytest
from mlflow.tracking import MlflowClient

from conftest import PROJECT, QUICK, children, mlflow_run, parents, reused, run_env

POSTGRES = os.environ.get("TITANIC_POSTGRES", "postgresql://postgres@127.0.0.1:5432")


def postgres_or_skip() -> None:
    try:
        psycopg.connect(f"{POSTGRES}/postgres", connect_timeout=5).close()
    except psycopg.Error as err:
        if os.environ.get("TITANIC_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL at {POSTGRES} is required here and unreachable: {err}")
        pytest.skip(f"no PostgreSQL at {POSTGRES} ({err}); set TITANIC_POSTGRES to use another")


def drop(database: str) -> None:
    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@pytest.fixture
def database() -> Iterator[str]:
    """A name for a database of the test's own, dropped afterwards."""
    postgres_or_skip()
    name = f"titanic_test_{uuid.uuid4().hex[:12]}"
    try:
        yield name
    finally:
        drop(name)


@pytest.fixture
def team_server(database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                ) -> Iterator[str]:
    """The README's team server on a new database; the test's commands point at its URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, str(PROJECT / "tools" / "team_server.py"), "--database-url",
         f"{POSTGRES}/{database}", "--artifacts", str(tmp_path / "server-artifacts"),
         "--port", str(port), "--workers", "1"],
        cwd=tmp_path, env=run_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{url}/health", timeout=2)
                break
            except OSError:
                assert server.poll() is None, server.stderr.read().decode()[-3000:]
                assert time.monotonic() < deadline, "the team server did not start in 120 s"
                time.sleep(0.5)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
        monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
        mlflow.set_tracking_uri(url)
        yield url
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)


def test_pipeline_registry_and_leaderboard_through_the_server(team_server: str,
                                                              tmp_path: Path) -> None:
    first = mlflow_run(*QUICK, "-P", "promote=true", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    again = mlflow_run(*QUICK, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    computed, repeated = parents()
    assert computed.info.status == repeated.info.status == "FINISHED"
    assert reused(repeated) == {name: run.info.run_id
                                for name, run in children(computed).items()}
    # Artifacts went through the server; the client never saw a path of its own.
    assert computed.info.artifact_uri.startswith("mlflow-artifacts:")
    assert not (tmp_path / "mlruns").exists() and not (tmp_path / "mlflow.db").exists()
    champion = MlflowClient().get_model_version_by_alias("titanic", "champion")
    assert champion.tags["source_run"] == computed.info.run_id
    board = subprocess.run([sys.executable, "-m", "titanic.leaderboard", "--format", "csv"],
                           cwd=PROJECT, env=run_env(), capture_output=True, text=True,
                           timeout=120)
    assert board.returncode == 0, board.stderr
    assert f"{computed.info.run_id},{computed.data.tags['titanic.model_uri']},1,champion" in \
        board.stdout


def test_sweep_and_tune_through_the_server(team_server: str, database: str,
                                          tmp_path: Path) -> None:
    result = mlflow_run("-e", "sweep", "-P", "C=0.1,1", "-P", "jobs=2", *QUICK, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    (sweep,) = parents()
    configs = [r for r in MlflowClient().search_runs(
        [sweep.info.experiment_id], f"tags.`mlflow.parentRunId` = '{sweep.info.run_id}'")]
    assert len(configs) == 2 and all(c.info.status == "FINISHED" for c in configs)
    prepares = [children(c)["prepare"] for c in configs]
    assert sum("titanic.reused_from" not in p.data.tags for p in prepares) == 1

    # Tuning with its study in PostgreSQL too (a database of its own, beside the server's).
    study_database = f"{database}_optuna"
    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{study_database}"')
    try:
        storage = f"{POSTGRES}/{study_database}"
        tuned = mlflow_run("-e", "tune", "-P", "trials=2", "-P", "jobs=2", "-P",
                           f"storage={storage}", *QUICK, cwd=tmp_path)
        assert tuned.returncode == 0, tuned.stderr[-3000:]
        study = optuna.load_study(study_name="titanic", storage=storage)
        assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE"]
    finally:
        drop(study_database)
