"""prepare: check the raw passenger file, split it into training and validation rows."""

from __future__ import annotations

import tempfile
import warnings
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

import mlflow
import pandas as pd
from sklearn.model_selection import train_test_split

from orchestration.cli import step_main
from orchestration.record.datasets import passenger_dataset
from orchestration.record.inputs import fetch
from orchestration.record.names import (
    METRICS,
    MISSING_PREFIX,
    OUT_PREPARED,
    PREPARED_DIR,
    PROFILE_FILE,
    TRAIN_FILE,
    VALID_FILE,
)
from orchestration.record.store import again_if_raced, current_run
from titanic.errors import InputError
from titanic.passengers import TARGET, read_passengers

if TYPE_CHECKING:
    from titanic.models import Hooks

# Below this, one row more or less swings accuracy by 5 points or more: not a measurement.
MIN_VALID_ROWS = 20


def prepare(
    passengers: pd.DataFrame, test_size: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Unstratified split on the file's row order, as the original tutorial did, so that
    results stay comparable with it."""
    try:
        train, valid = train_test_split(passengers, test_size=test_size, random_state=seed)
    except ValueError as err:
        raise InputError(
            f"cannot split {len(passengers)} rows with test_size={test_size}: "
            f"{err}; use more rows or another test_size"
        ) from None
    if train[TARGET].nunique() < 2:
        raise InputError(
            f"the training split holds only {TARGET}={train[TARGET].iloc[0]}: "
            f"the data needs passengers who survived and who did not"
        )
    if len(valid) < MIN_VALID_ROWS:
        raise InputError(
            f"test_size={test_size} of {len(passengers)} rows leaves {len(valid)} "
            f"validation row(s); metrics need at least {MIN_VALID_ROWS}: raise "
            f"test_size or use more rows"
        )
    return train, valid


class Profile(TypedDict):
    rows: int
    columns: list[str]
    missing: dict[str, int]
    survival_rate: float


def profile(passengers: pd.DataFrame) -> Profile:
    """What the data looked like, to compare runs without opening the files."""
    return {
        "rows": len(passengers),
        "columns": [str(c) for c in passengers.columns],
        "missing": {str(c): int(n) for c, n in passengers.isna().sum().items()},
        "survival_rate": float(passengers[TARGET].mean()),
    }


def run(params: dict[str, Any], hooks: Hooks | None) -> dict[str, str]:
    path = fetch(params["data"], "data")
    passengers = read_passengers(path, with_target=True, source="data")
    train, valid = prepare(passengers, params["test_size"], params["seed"])
    facts = profile(passengers)

    source = str(path.resolve())
    with warnings.catch_warnings():
        # MLflow's hints about integer columns and two same-named local sources: noise here.
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted")
        for frame, context, name in (
            (train, "training", "titanic-train"),
            (valid, "validation", "titanic-valid"),
        ):
            dataset = passenger_dataset(frame, source, name)
            again_if_raced(partial(mlflow.log_input, dataset, context=context))
    counts = (len(passengers), len(train), len(valid), facts["survival_rate"])
    missing = {f"{MISSING_PREFIX}{c}": n for c, n in facts["missing"].items() if n}
    mlflow.log_metrics({**dict(zip(METRICS["prepare"], counts, strict=True)), **missing})
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        train.to_csv(out / TRAIN_FILE, index=False)
        valid.to_csv(out / VALID_FILE, index=False)
        mlflow.log_artifacts(tmp, PREPARED_DIR)
    mlflow.log_dict(dict(facts), PROFILE_FILE)
    return {OUT_PREPARED: f"runs:/{current_run().info.run_id}/{PREPARED_DIR}"}


if __name__ == "__main__":
    step_main("prepare", run)
