"""Fixtures: a temporary tracking store per test, a scratch copy of the project; and the
markers `postgres` and `netns`, which skip a test where the machine lacks what it needs."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from tests.servers import netns_or_skip, postgres_or_skip
from tests.support import BIN, EXPERIMENT, PROJECT


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The `slow` tests first (otherwise in file order): xdist hands tests out in this order,
    so a long one started last would leave the other worker idle at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("postgres"):
        postgres_or_skip()
    if item.get_closest_marker("netns"):
        netns_or_skip()


@pytest.fixture(scope="session")
def store_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An initialised sqlite store, copied per test: creating the schema takes a while."""
    db = tmp_path_factory.mktemp("template") / "mlflow.db"
    subprocess.run(
        [f"{BIN}/titanic-init-store"],
        check=True,
        env={**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{db}"},
        cwd=db.parent,
        capture_output=True,
    )
    return db


@pytest.fixture
def store(tmp_path: Path, store_template: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh sqlite store with an experiment whose artifacts stay in tmp_path."""
    db = tmp_path / "mlflow.db"
    shutil.copy(store_template, db)
    uri = f"sqlite:///{db}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", EXPERIMENT)
    mlflow.set_tracking_uri(uri)
    MlflowClient().create_experiment(
        EXPERIMENT, artifact_location=(tmp_path / "artifacts").as_uri()
    )
    return uri


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """The project's files in a scratch folder, for tests that edit code or data."""
    target = tmp_path / "project"
    shutil.copytree(
        PROJECT,
        target,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "mlflow.db", "mlruns", "mlartifacts", "__pycache__", ".pytest_cache"
        ),
    )
    return target
