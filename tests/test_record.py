"""What a run reads and records (orchestration/record/): inputs, datasets, the UI line."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow.data.pandas_dataset import from_pandas
from mlflow.models import infer_signature

from orchestration.record import inputs
from orchestration.record.datasets import digest, passenger_dataset, schema_rows
from orchestration.record.inputs import sha256_files
from orchestration.record.links import ui_line
from tests.support import DATA
from titanic.errors import InputError
from titanic.passengers import TARGET, read_passengers


def test_fetch_missing_file_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"data file not found: .*pass -P data="):
        inputs.fetch(str(tmp_path / "nope.csv"), "data")


@pytest.mark.filterwarnings("ignore:Hint. Inferred schema contains integer")
@pytest.mark.parametrize("name", ["train.csv", "test.csv"])
def test_datasets_and_signatures_get_the_schema_mlflow_infers_from_every_row(name: str) -> None:
    """The schema comes from a few rows (MLflow's own inference reads every cell in Python),
    and must be the one the whole file gives: missing values make a column optional."""
    passengers = read_passengers(DATA / name, with_target=name == "train.csv", source=name)
    passengers = pd.concat([passengers] * 3, ignore_index=True)  # missing cells beyond the head
    passengers.loc[250, "Fare"] = None
    target = TARGET if TARGET in passengers else None
    whole = from_pandas(passengers, targets=target).schema
    rows = schema_rows(passengers)
    assert len(rows) < len(passengers) / 10
    if target:
        assert passenger_dataset(passengers, None, "x").schema == whole
    assert infer_signature(rows).inputs == infer_signature(passengers).inputs == whole
    assert not whole.inputs[[c.name for c in whole.inputs].index("Fare")].required


def test_dataset_digest_follows_the_content() -> None:
    passengers = read_passengers(DATA / "train.csv", with_target=True, source="train.csv")
    same = digest(passengers.copy())
    assert digest(passengers) == same and len(same) == 8
    changed = passengers.copy()
    changed.loc[800, "Name"] = "Someone, Mr. Else"
    assert digest(changed) != same


def test_sha256_files_sees_names_and_content(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.csv").write_text("1")
    first = sha256_files(tmp_path / "a")
    (tmp_path / "a" / "x.csv").rename(tmp_path / "a" / "y.csv")
    assert sha256_files(tmp_path / "a") != first


def test_ui_line_opens_the_run_in_the_training_view(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mlflow, "get_tracking_uri", lambda: "https://mlflow.team.example:5000/")
    assert ui_line("7", "abc") == (
        "View it: https://mlflow.team.example:5000/#/experiments/7/"
        "runs/abc?workflowType=machine_learning"
    )
    monkeypatch.setattr(mlflow, "get_tracking_uri", lambda: "sqlite:////home/you/mlflow.db")
    assert ui_line("0", "abc") == (
        "View it: http://127.0.0.1:5000/#/experiments/0/runs/abc?workflowType=machine_learning "
        "(start the UI with: mlflow ui --backend-store-uri sqlite:////home/you/mlflow.db)"
    )
