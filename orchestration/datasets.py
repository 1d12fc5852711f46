"""The data a model learned from and was scored on, as MLflow datasets: name, content digest
and where the file really is, so that a model's page lists them."""

from __future__ import annotations

from pathlib import Path

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
