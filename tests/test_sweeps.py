"""Sweeps from the shell, as docs/searches.md gives them: one after another, and in parallel on
a store that did not exist before (sqlite file, and an `mlflow server` on loopback)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from tests.pages import block, commands, wait_for_http
from tests.support import PROJECT, children, free_port, matched, parents, reused, run_env

pytestmark = pytest.mark.slow  # shell sweeps of `mlflow run`

PARALLEL_SWEEP = (
    "printf '%s\\n' {values} | "
    "xargs -P 4 -I{{}} mlflow run {project} --env-manager local -P C={{}} "
    "-P cv_repeats=1"
)  # one pass of cross-validation: the sweep is what is tested


def shell(command: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", command],
        cwd=cwd,
        env=run_env(**env),
        text=True,
        capture_output=True,
        timeout=900,
    )


def check_sweep(values: list[str], param: str = "C") -> None:
    """One FINISHED parent per value, each with its three steps; prepare computed once."""
    runs = parents()
    assert sorted(r.data.params[param] for r in runs) == sorted(values)
    assert all(r.info.status == "FINISHED" for r in runs)
    steps = [reused(r) for r in runs]
    assert all(children(r)["train"].data.params[param] == r.data.params[param] for r in runs)
    assert [s["prepare"] for s in steps].count(None) == 1  # computed once, reused after
    assert all(s["train"] is None and s["evaluate"] is None for s in steps)


def test_the_shell_sweeps_on_a_new_store_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/searches.md: a new store set up as the page says, then its loop and its parallel
    `xargs` sweep (as many runs at once as values: all race on the new store)."""
    uri = f"sqlite:///{tmp_path / 'other.db'}"
    one_by_one, parallel = commands(block("shell-sweeps"))
    for command in commands(block("new-store", {"sqlite:////path/to/other.db": uri})):
        done = shell(command, PROJECT, MLFLOW_TRACKING_URI=uri)
        assert done.returncode == 0, done.stderr
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "titanic-sweep")  # made by the set-up
    mlflow.set_tracking_uri(uri)
    result = shell(parallel, PROJECT)
    assert result.returncode == 0, result.stderr[-3000:]
    check_sweep(matched(r"printf '%s\\n' ([\d. ]+) \|", parallel)[1].split())

    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME")  # the loop in the Default experiment
    result = shell(one_by_one, PROJECT)
    assert result.returncode == 0, result.stderr[-3000:]
    check_sweep(matched(r"for C in ([\d. ]+);", one_by_one)[1].split())


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """`mlflow server` on loopback with a new sqlite backend; stopped after the test."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store-uri",
            f"sqlite:///{tmp_path / 'server.db'}",
            "--artifacts-destination",
            str(tmp_path / "server-artifacts"),
        ],
        cwd=tmp_path,
        env=run_env(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_http(f"{url}/health", proc)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the server and the workers it started
        proc.wait(timeout=30)


def test_parallel_sweep_against_a_server(
    server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    mlflow.set_tracking_uri(server)
    values = ["0.1", "1"]  # two racing for each step is the race (four run on fresh sqlite)
    result = shell(PARALLEL_SWEEP.format(values=" ".join(values), project=PROJECT), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    check_sweep(values)
    # Artifacts went through the server, not to a local folder.
    prepare = next(children(r)["prepare"] for r in parents() if reused(r)["prepare"] is None)
    assert (
        MlflowClient()
        .get_run(prepare.info.run_id)
        .info.artifact_uri.startswith("mlflow-artifacts:")
    )
