"""train: fit features and a model family as one pipeline on raw passenger rows, scored by
cross-validation on the training split and by accuracy on the validation split."""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.entities import LoggedModelInput
from mlflow.models import Model, infer_signature
from mlflow.models.model import ModelInfo
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

import titanic
from orchestration.cli import step_main
from orchestration.record.datasets import dataset, schema_rows
from orchestration.record.folds import fold_tags
from orchestration.record.inputs import fetch
from orchestration.record.names import (
    CV_ACCURACY,
    CV_ACCURACY_SE,
    CV_ACCURACY_STD,
    CV_FILE,
    FIT_SECONDS,
    MODEL_NAME,
    OUT_MODEL,
    TAG_APPLIED,
    TAG_WARNING,
    TRAIN_FILE,
    VAL_ACCURACY,
    VALID_FILE,
)
from orchestration.record.store import again_if_raced
from steps import Hooks
from titanic import survival
from titanic.compare import standard_error
from titanic.errors import InputError
from titanic.families import FAMILY_PARAMS, RULES
from titanic.models import KeptFolds, build_pipeline, cross_validate
from titanic.passengers import FEATURES, TARGET, read_passengers
from titanic.survival import predictions

# What the logged model needs to load elsewhere; pinned to what fitted it.
MODEL_REQUIREMENTS = ("mlflow", "scikit-learn", "pandas", "numpy", "skops")
# The model's own code travels inside it: the `titanic` package, and nothing else.
MODEL_CODE = Path(titanic.__file__).parent

# OpenMP models (hgb, and vote through it) spread each fit over every core. Measured on 2 cores,
# an idle machine, hgb with two threads against one: 0.101 against 0.105 s on 668 rows, 0.21
# against 0.24 s on 10,000, 1.05 against 1.66 s on 100,000, 3.05 against 5.84 s on 1,000,000.
# Beside another run the threads fight for the cores: four hgb `main`s two at a time (the shell
# sweep of docs/searches.md) took 135-297 s with them and 28-30 s with one thread each.
OPENMP_MIN_ROWS = 50_000

log = logging.getLogger("titanic")


def check_folds(labels: pd.Series, folds: int) -> None:
    """Stratified k-fold needs every class in every fold."""
    smaller = int(labels.value_counts().min())
    if folds > smaller:
        raise InputError(
            f"cv_folds={folds} is more than the {smaller} training rows of the "
            f"smaller class: pass -P cv_folds=<2 to {smaller}>"
        )


def train(
    passengers: pd.DataFrame, model: str, features: str, hp: dict[str, Any], seed: int
) -> Pipeline:
    return build_pipeline(model, features, hp, seed).fit(
        passengers[list(FEATURES)], passengers[TARGET]
    )


def cv_scores(
    passengers: pd.DataFrame,
    model: str,
    features: str,
    hp: dict[str, Any],
    seed: int,
    folds: int,
    repeats: int,
    after_fold: Callable[[list[float], int], None] | None = None,
    kept: KeptFolds | None = None,
) -> np.ndarray:
    """Fold accuracies of the whole pipeline on the training rows only; `after_fold` hears of
    each fold as it ends (a tuning trial's pruner), and `kept` holds fold features fitted by
    earlier configurations (a search worker's)."""
    check_folds(passengers[TARGET], folds)
    return cross_validate(
        build_pipeline(model, features, hp, seed),
        passengers,
        folds,
        repeats,
        seed,
        after_fold,
        kept,
    )


def thread_limits(rows: int) -> dict[str, int | None]:
    """Threads for fitting on `rows` rows (None: every core). One BLAS thread: a logistic fit's
    products over tall, narrow rows are bound by memory (on 1,000,000 rows a second thread made
    an lbfgs fit 13.2 s instead of 10.1 s, and saved newton-cholesky 0.45 s of 4.3 s). One
    OpenMP thread below OPENMP_MIN_ROWS, where more cost more than they save."""
    return {"blas": 1, "openmp": 1 if rows < OPENMP_MIN_ROWS else None}


def accuracy(model: Pipeline, passengers: pd.DataFrame) -> float:
    return float(model.score(passengers[list(FEATURES)], passengers[TARGET]))


def log_model(pipeline: Pipeline, rows: pd.DataFrame) -> ModelInfo:
    """The pipeline as a model that loads anywhere: with `mlflow.sklearn.load_model` as the
    pipeline, with `mlflow.pyfunc.load_model` as label and probability (`titanic.survival`)."""
    sample = schema_rows(rows)
    return Model.log(
        artifact_path=None,  # required positionally, though `name` replaces it
        name=MODEL_NAME,
        flavor=survival,
        pipeline=pipeline,
        signature=infer_signature(sample, predictions(pipeline, sample)),
        input_example=rows.head(5),
        code_paths=[str(MODEL_CODE)],
        # Listed rather than inferred: inference loads the model again in a subprocess.
        pip_requirements=[f"{name}=={version(name)}" for name in MODEL_REQUIREMENTS],
    )


def run(
    prepared: str,
    model: str,
    features: str,
    C: float,
    max_iter: int,
    solver: str,
    learning_rate: float,
    max_depth: int,
    n_trees: int,
    min_samples_leaf: int,
    cv_folds: int,
    cv_repeats: int,
    seed: int,
    hooks: Hooks,
) -> dict[str, str]:
    hp = {
        "C": C,
        "max_iter": max_iter,
        "solver": solver,
        "learning_rate": learning_rate,
        "max_depth": max_depth,
        "n_trees": n_trees,
        "min_samples_leaf": min_samples_leaf,
    }
    folder = fetch(prepared, "prepared")
    train_rows = read_passengers(
        folder / TRAIN_FILE, with_target=True, source="prepared train split"
    )
    valid_rows = read_passengers(
        folder / VALID_FILE, with_target=True, source="prepared valid split"
    )
    mlflow.set_tag(TAG_APPLIED, ",".join(FAMILY_PARAMS[model]))

    with (
        warnings.catch_warnings(record=True) as caught,
        threadpool_limits(thread_limits(len(train_rows))),
    ):
        warnings.simplefilter("always", ConvergenceWarning)
        scores = cv_scores(
            train_rows,
            model,
            features,
            hp,
            seed,
            cv_folds,
            cv_repeats,
            hooks.after_fold,
            # Kept by feature set; a rule reads its own inputs, whatever the set.
            hooks.kept_folds(features, train_rows, cv_folds, cv_repeats, seed)
            if hooks.kept_folds and model not in RULES
            else None,
        )
        started = time.perf_counter()
        pipeline = train(train_rows, model, features, hp, seed)
        fit_seconds = time.perf_counter() - started
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        note = (
            f"the {solver} solver did not converge within max_iter={max_iter} iterations: "
            f"raise max_iter or pick another solver"
        )
        mlflow.set_tag(TAG_WARNING, note)
        log.warning("%s", note)
    info = log_model(pipeline, train_rows[list(FEATURES)])
    # The model's own page lists the data it learned from and its cross-validated score;
    # evaluate adds its validation scores.
    training = dataset(train_rows, prepared, TRAIN_FILE)
    again_if_raced(
        lambda: mlflow.log_input(
            training, context="training", model=LoggedModelInput(info.model_id)
        )
    )
    cross_validated = {
        CV_ACCURACY: float(scores.mean()),
        CV_ACCURACY_STD: float(scores.std()),
        CV_ACCURACY_SE: standard_error(scores, cv_folds),
    }
    again_if_raced(
        lambda: mlflow.log_metrics(cross_validated, model_id=info.model_id, dataset=training)
    )
    mlflow.set_tags(fold_tags(cv_folds, cv_repeats, seed, training.digest, scores))
    mlflow.log_metrics({VAL_ACCURACY: accuracy(pipeline, valid_rows), FIT_SECONDS: fit_seconds})
    mlflow.log_dict(
        {"folds": cv_folds, "repeats": cv_repeats, "accuracy": scores.tolist()}, CV_FILE
    )
    return {OUT_MODEL: info.model_uri}


if __name__ == "__main__":
    step_main("train")
