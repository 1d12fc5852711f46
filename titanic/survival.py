"""The model as it is logged and shipped: the fitted pipeline behind MLflow's pyfunc interface,
answering raw passenger rows with the predicted label and the probability of survival, so that
`mlflow models predict` and `mlflow models serve` give both without any code."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE
from mlflow.pyfunc import PythonModel
from sklearn.pipeline import Pipeline

from titanic.passengers import FEATURES, ID, TARGET

PROBABILITY = "probability"


def survival_score(pipeline: Pipeline, passengers: pd.DataFrame) -> np.ndarray:
    """Predicted probability of survival for raw passenger rows."""
    return pipeline.predict_proba(passengers[list(FEATURES)])[:, 1]


def label(score: np.ndarray) -> np.ndarray:
    """Survived when p > 0.5, exactly as the pipeline's own predict() decides."""
    return (score > 0.5).astype(int)


def predictions(pipeline: Pipeline, passengers: pd.DataFrame) -> pd.DataFrame:
    """One row per passenger: its id, the predicted label (Kaggle's submission columns) and
    the probability of survival."""
    score = survival_score(pipeline, passengers)
    return pd.DataFrame({ID: passengers[ID].to_numpy(), TARGET: label(score),
                         PROBABILITY: score})


class SurvivalModel(PythonModel):
    """What `mlflow.pyfunc.load_model` returns for a model this project logged; the fitted
    scikit-learn pipeline is `unwrap_python_model().pipeline`."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    def predict(self, context: Any, model_input: pd.DataFrame,
                params: dict[str, Any] | None = None) -> pd.DataFrame:
        missing = [name for name in FEATURES if name not in model_input.columns]
        if missing:  # reached only when MLflow's own schema check is bypassed
            raise MlflowException(f"rows lack the column(s) {', '.join(missing)}: send every "
                                  f"column of Kaggle's test.csv", INVALID_PARAMETER_VALUE)
        return predictions(self.pipeline, model_input)
