"""The data a model learned from and was scored on, as MLflow datasets: name, content digest
and where the file really is, so that a model's page lists them.

MLflow infers a frame's schema (and the columns of its digest) by looking at every cell in
Python: about 20 s for a million rows, for a schema that a few rows give as well. The schema
here is inferred from `schema_rows` and the digest hashed by pandas.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import pandas as pd
from mlflow.data.dataset_source_registry import resolve_dataset_source
from mlflow.data.pandas_dataset import PandasDataset, from_pandas
from mlflow.exceptions import MlflowException
from mlflow.store.artifact.runs_artifact_repo import RunsArtifactRepository

from titanic.passengers import TARGET

HEAD_ROWS = 100  # rows MLflow sees of each type of value, besides one missing cell per column


def schema_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows from which MLflow infers the schema it infers from the whole frame: the first
    rows, and a row where each column that has missing cells has one (a column with missing
    values is optional in the schema)."""
    missing = frame.isna()
    first_missing = {int(missing[c].to_numpy().argmax()) for c in frame.columns if missing[c].any()}
    return frame.iloc[sorted(set(range(min(len(frame), HEAD_ROWS))) | first_missing)]


def content_digest(frame: pd.DataFrame) -> str:
    """A digest of the frame's columns and every row."""
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    return hashlib.md5(hashed.tobytes() + str(list(frame.columns)).encode()).hexdigest()


def digest(frame: pd.DataFrame) -> str:
    """`content_digest` in MLflow's short form."""
    return content_digest(frame)[:8]


def passenger_dataset(passengers: pd.DataFrame, source: str | None, name: str) -> PandasDataset:
    """Passenger rows as an MLflow dataset, with the schema and digest worked out quickly."""
    logged = from_pandas(
        passengers,
        source=source,  # type: ignore[arg-type]  # None is MLflow's own default: no source
        targets=TARGET,
        name=name,
        digest=digest(passengers),
    )
    # PandasDataset.schema is a cached property: set, it is what MLflow logs.
    logged.schema = from_pandas(schema_rows(passengers), targets=TARGET).schema
    return logged


@functools.cache
def _underlying_uri(runs_uri: str) -> str:
    """Where a run's artifact really is: a store read, the same for as long as the run exists
    (a search's worker names the same prepared files for every configuration)."""
    return RunsArtifactRepository.get_underlying_uri(runs_uri)


def split_source(prepared: str, name: str) -> str | None:
    """Where a prepared split's file really is, as MLflow records a dataset's source; None
    where MLflow has no dataset source for its scheme (mlflow-artifacts:), as the run's
    `prepared` parameter still says where the data came from."""
    source = f"{prepared.rstrip('/')}/{name}"
    if source.startswith("runs:/"):
        source = _underlying_uri(source)
    try:
        resolve_dataset_source(source)
    except MlflowException:
        return None
    return source


def dataset(passengers: pd.DataFrame, prepared: str, name: str) -> PandasDataset:
    """A split as an MLflow dataset (name, content digest, where it came from)."""
    return passenger_dataset(passengers, split_source(prepared, name), Path(name).stem)
