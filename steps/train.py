"""train: fit preprocessing and logistic regression as one pipeline on raw passenger rows."""

from __future__ import annotations

import warnings
from importlib.metadata import version

import category_encoders as ce
import mlflow
import pandas as pd
from mlflow.models import infer_signature
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from steps.common import (MODEL_NAME, OUT_MODEL, TARGET, TRAIN_FILE, VALID_FILE, FEATURES,
                          read_passengers)
from steps.tracking import fetch, step_main

CATEGORICAL = ["Sex", "Embarked"]
# What the logged model needs to load elsewhere; pinned to what fitted it.
MODEL_REQUIREMENTS = ("mlflow", "scikit-learn", "pandas", "numpy", "category-encoders",
                      "cloudpickle")


def build_pipeline(C: float, max_iter: int, solver: str, seed: int) -> Pipeline:
    """Imputation and encoding live inside the model, fitted on the training split only, so
    the model takes raw passenger rows and nothing leaks from validation data."""
    impute = ColumnTransformer(
        [("mean", SimpleImputer(strategy="mean"), ["Age", "Fare"]),
         ("mode", SimpleImputer(strategy="most_frequent"), ["Embarked"]),
         ("keep", "passthrough", ["Pclass", "Sex", "SibSp", "Parch"])],
        remainder="drop",  # PassengerId, Name, Ticket and Cabin
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")
    return Pipeline([
        ("impute", impute),
        ("encode", ce.OrdinalEncoder(cols=CATEGORICAL)),
        ("classify", LogisticRegression(C=C, max_iter=max_iter, solver=solver,
                                        random_state=seed)),
    ])


def train(passengers: pd.DataFrame, C: float, max_iter: int, solver: str, seed: int) -> Pipeline:
    return build_pipeline(C, max_iter, solver, seed).fit(
        passengers[list(FEATURES)], passengers[TARGET])


def accuracy(model: Pipeline, passengers: pd.DataFrame) -> float:
    return float(model.score(passengers[list(FEATURES)], passengers[TARGET]))


def run(prepared: str, C: float, max_iter: int, solver: str, seed: int) -> dict[str, str]:
    folder = fetch(prepared, "prepared")
    train_rows = read_passengers(folder / TRAIN_FILE, with_target=True, source="prepared train split")
    valid_rows = read_passengers(folder / VALID_FILE, with_target=True, source="prepared valid split")
    model = train(train_rows, C, max_iter, solver, seed)
    mlflow.log_metric("val_accuracy", accuracy(model, valid_rows))

    features = train_rows[list(FEATURES)]
    with warnings.catch_warnings():
        # The schema comes from the whole training split, missing values included.
        warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
        signature = infer_signature(features, model.predict(features))
    info = mlflow.sklearn.log_model(
        model,
        name=MODEL_NAME,
        signature=signature,
        input_example=features.head(5),
        # category-encoders objects cannot be saved as skops; no class of ours is in the model.
        serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
        # Listed rather than inferred: inference loads the model again in a subprocess.
        pip_requirements=[f"{name}=={version(name)}" for name in MODEL_REQUIREMENTS],
    )
    return {OUT_MODEL: info.model_uri}


if __name__ == "__main__":
    step_main("train")
