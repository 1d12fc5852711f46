"""The model as it is logged and shipped: one MLflow model with two faces, and no pickle in it.

- `sklearn`: the fitted scikit-learn Pipeline (raw passenger rows in), stored by MLflow's own
  scikit-learn flavor in skops format, so `mlflow.sklearn.load_model` returns it.
- `python_function`, loaded by this module: raw passenger rows in, `PassengerId`, `Survived`
  and `probability` out, so `mlflow models predict` and `mlflow models serve` answer both
  without any code.

skops rebuilds only the types it is told to trust. This module trusts exactly the types that
the project's pipelines hold beyond skops' own defaults (`TRUSTED_TYPES`), reading the list
from this code, never from the model: a model that names or holds any other type is refused
before any of it is loaded.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import skops.io
from mlflow.exceptions import MlflowException
from mlflow.models import Model
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from sklearn.pipeline import Pipeline

from titanic.errors import InputError
from titanic.passengers import FEATURES, ID, TARGET, rows_to_score

PROBABILITY = "probability"
SKLEARN = "sklearn"  # MLflow's scikit-learn flavor
# What the project's pipelines hold that skops does not trust by default: every family and
# feature set's (tests/test_survival.py checks this is exactly their union).
TRUSTED_TYPES = frozenset(
    {
        "numpy.dtype",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.tree._tree.Tree",
        "sklearn.utils._bunch.Bunch",
        "titanic.encoding.Ordinal",
        "titanic.features.AgeByTitle",
        "titanic.features.Cabin",
        "titanic.features.Counted",
        "titanic.features.Family",
        "titanic.features.GroupSurvival",
        "titanic.features.TicketGroup",
        "titanic.features.Title",
        "titanic.features.TrainingRows",
        "titanic.rules.Gender",
        "titanic.rules.RuleColumns",
        "titanic.rules.RuleInputs",
        "titanic.rules.RuleOverturned",
        "titanic.rules.WomanChildGroup",
    }
)


def survival_score(pipeline: Pipeline, passengers: pd.DataFrame) -> np.ndarray:
    """Predicted probability of survival for raw passenger rows."""
    return np.asarray(pipeline.predict_proba(passengers[list(FEATURES)])[:, 1])


def label(score: np.ndarray) -> np.ndarray:
    """Survived when p > 0.5, exactly as the pipeline's own predict() decides."""
    return (score > 0.5).astype(int)


def predictions(pipeline: Pipeline, passengers: pd.DataFrame) -> pd.DataFrame:
    """One row per passenger (none for none): its id, the predicted label (Kaggle's submission
    columns) and the probability of survival."""
    score = survival_score(pipeline, passengers) if len(passengers) else np.zeros(0)
    ids = passengers[ID].to_numpy(dtype=np.int64)
    return pd.DataFrame({ID: ids, TARGET: label(score), PROBABILITY: score})


def encoded(pipeline: Pipeline, rows: pd.DataFrame) -> pd.DataFrame:
    """What a fitted pipeline's classifier takes for `rows`, as named float columns: what SHAP
    explains, as it explains numbers only."""
    matrix = pipeline[:-1].transform(rows)
    if isinstance(matrix, pd.DataFrame):
        return matrix.astype(float)
    return pd.DataFrame(matrix, columns=pipeline[-2].get_feature_names_out(), index=rows.index)


def save_model(path: str, mlflow_model: Model, pipeline: Pipeline, **kwargs: Any) -> None:
    """Save `pipeline` as MLflow's scikit-learn flavor in skops format, its allow-list the
    types it holds, and make this module its pyfunc loader. What
    `Model.log(name, flavor=titanic.survival, pipeline=…, …)` calls; `kwargs` (signature,
    input example, code paths, requirements) go to `mlflow.sklearn.save_model`."""
    mlflow.sklearn.save_model(
        pipeline,
        path,
        mlflow_model=mlflow_model,
        serialization_format="skops",
        skops_trusted_types=sorted(TRUSTED_TYPES),
        **kwargs,
    )
    flavor = mlflow_model.flavors[SKLEARN]
    data = flavor["pickled_model"]  # MLflow's name for the file, whatever its format
    flavor["skops_trusted_types"] = sorted(skops.io.get_untrusted_types(file=Path(path, data)))
    pyfunc = mlflow_model.flavors[mlflow.pyfunc.FLAVOR_NAME]
    mlflow.pyfunc.add_to_model(
        mlflow_model,
        loader_module=__name__,
        data=data,
        code=pyfunc.get("code"),
        conda_env=pyfunc["env"]["conda"],
        python_env=pyfunc["env"]["virtualenv"],
    )
    mlflow_model.save(os.path.join(path, "MLmodel"))


def foreign_types(flavor: dict[str, Any], model_dir: Path) -> list[str]:
    """What a saved model's scikit-learn flavor names in its allow-list or holds that this
    project does not trust, read without rebuilding anything of it; a pickle counts whole."""
    if flavor.get("serialization_format") != "skops":
        return [f"a {flavor.get('serialization_format', 'pickle')} file"]
    held = skops.io.get_untrusted_types(file=model_dir / flavor["pickled_model"])
    return sorted(set(flavor.get("skops_trusted_types") or ()).union(held) - TRUSTED_TYPES)


def load_pipeline(model_dir: Path, source: str) -> Pipeline:
    """The fitted pipeline of a model this project saved; refused, naming what is at fault,
    before any of it is loaded if it names or holds a type outside TRUSTED_TYPES."""
    try:
        flavor = Model.load(model_dir / "MLmodel").flavors[SKLEARN]
    except (OSError, MlflowException, KeyError):
        raise InputError(
            f"{source} is not a scikit-learn model that this project's train "
            f"logged: pass the model URI that train or main printed"
        ) from None
    foreign = foreign_types(flavor, model_dir)
    if foreign:
        raise InputError(
            f"{source} is not a model this project trusts: it names or holds "
            f"{', '.join(foreign)}, which loading could run as code; use a model "
            f"this project's train logged, or train it again"
        )
    return skops.io.load(model_dir / flavor["pickled_model"], trusted=sorted(TRUSTED_TYPES))


class Survival:
    """What `mlflow.pyfunc.load_model` wraps for a model this project logged; its
    `get_raw_model()` (also the PyFuncModel's) is the fitted scikit-learn pipeline."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    def get_raw_model(self) -> Pipeline:
        return self.pipeline

    def predict(
        self, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        """Rows as a user's CSV of test.csv rows holds them (the signature names no input
        types: a ticket of digits reads as a number, an empty column as missing numbers),
        checked here: a missing column or an unreadable value is named, with its row."""
        try:
            rows = rows_to_score(model_input)
        except InputError as err:
            raise MlflowException(str(err), INVALID_PARAMETER_VALUE) from None
        return predictions(self.pipeline, rows)


def _load_pyfunc(data_path: str) -> Survival:
    """MLflow's pyfunc loader: `data_path` is the skops file inside the model folder."""
    path = Path(data_path)
    try:
        return Survival(load_pipeline(path.parent, f"the model at {path.parent}"))
    except InputError as err:
        raise MlflowException(str(err), INVALID_PARAMETER_VALUE) from None
