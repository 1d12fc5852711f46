"""The data a model learned from and was scored on, as MLflow datasets: name, content digest
and where the file really is, so that a model's page lists them."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import mlflow.data
import pandas as pd
from mlflow.data.dataset_source_registry import resolve_dataset_source
from mlflow.data.pandas_dataset import PandasDataset
from mlflow.exceptions import MlflowException
from mlflow.store.artifact.runs_artifact_repo import RunsArtifactRepository

from titanic.passengers import TARGET


def dataset(passengers: pd.DataFrame, prepared: str, name: str) -> PandasDataset:
    """A split as an MLflow dataset (name, content digest, where it came from)."""
    source: str | None = f"{prepared.rstrip('/')}/{name}"
    if source.startswith("runs:/"):  # MLflow records datasets by where the file really is
        source = RunsArtifactRepository.get_underlying_uri(source)
    try:
        resolve_dataset_source(source)
    except MlflowException:  # a scheme MLflow has no dataset source for (mlflow-artifacts:)
        source = None  # the run's `prepared` parameter still says where the data came from
    return mlflow.data.from_pandas(passengers, source=source, targets=TARGET,
                                   name=Path(name).stem)


def log_with_dataset(log: Callable[[], None]) -> None:
    """Run a logging call that records a dataset. MLflow's SQL store adds a new dataset with a
    plain INSERT, so two runs logging the same split at one moment can collide on its key (seen
    through a server on PostgreSQL); by then the row exists, and a second try links to it."""
    try:
        log()
    except MlflowException as err:
        if "unique constraint" not in str(err).lower():
            raise
        log()
