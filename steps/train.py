"""train: fit features and a model family as one pipeline on raw passenger rows, scored by
cross-validation on the training split."""

from __future__ import annotations

import logging
import time
import warnings
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.entities import LoggedModelInput
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import Pipeline
from threadpoolctl import threadpool_limits

from orchestration.cli import step_main
from orchestration.record.datasets import dataset
from orchestration.record.folds import fold_tags
from orchestration.record.inputs import prepared_split
from orchestration.record.models import log_model
from orchestration.record.names import (
    CV_ACCURACY,
    CV_ACCURACY_SE,
    CV_ACCURACY_STD,
    CV_FILE,
    FIT_SECONDS,
    OUT_MODEL,
    TAG_APPLIED,
    TAG_WARNING,
    TRAIN_FILE,
)
from orchestration.record.store import again_if_raced
from titanic.compare import standard_error
from titanic.errors import InputError
from titanic.families import not_converged
from titanic.models import Hooks, ModelSpec, fold_accuracies
from titanic.passengers import FEATURES, TARGET

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


def train(passengers: pd.DataFrame, spec: ModelSpec) -> Pipeline:
    return spec.pipeline().fit(passengers[list(FEATURES)], passengers[TARGET])


def cv_scores(
    passengers: pd.DataFrame,
    spec: ModelSpec,
    folds: int,
    repeats: int,
    hooks: Hooks | None = None,
) -> np.ndarray:
    """Fold accuracies of the whole pipeline on the training rows only."""
    check_folds(passengers[TARGET], folds)
    return fold_accuracies(spec, passengers, folds, repeats, hooks)


def thread_limits(rows: int) -> dict[str, int | None]:
    """Threads for fitting on `rows` rows (None: every core). One BLAS thread: a logistic fit's
    products over tall, narrow rows are bound by memory (on 1,000,000 rows a second thread made
    an lbfgs fit 13.2 s instead of 10.1 s, and saved newton-cholesky 0.45 s of 4.3 s). One
    OpenMP thread below OPENMP_MIN_ROWS, where more cost more than they save."""
    return {"blas": 1, "openmp": 1 if rows < OPENMP_MIN_ROWS else None}


def run(params: dict[str, Any], hooks: Hooks | None) -> dict[str, str]:
    spec = ModelSpec.of(params)
    folds, repeats = params["cv_folds"], params["cv_repeats"]
    train_rows = prepared_split(params["prepared"], TRAIN_FILE)
    mlflow.set_tag(TAG_APPLIED, ",".join(spec.hyperparameters))

    with (
        warnings.catch_warnings(record=True) as caught,
        threadpool_limits(thread_limits(len(train_rows))),
    ):
        warnings.simplefilter("always", ConvergenceWarning)
        scores = cv_scores(train_rows, spec, folds, repeats, hooks)
        started = time.perf_counter()
        pipeline = train(train_rows, spec)
        fit_seconds = time.perf_counter() - started
    if any(issubclass(w.category, ConvergenceWarning) for w in caught):
        note = not_converged(params)
        mlflow.set_tag(TAG_WARNING, note)
        log.warning("%s", note)
    info = log_model(pipeline, train_rows[list(FEATURES)])
    # The model's own page lists the data it learned from and its cross-validated score;
    # evaluate adds its validation scores.
    training = dataset(train_rows, params["prepared"], TRAIN_FILE)
    again_if_raced(
        lambda: mlflow.log_input(
            training, context="training", model=LoggedModelInput(info.model_id)
        )
    )
    cross_validated = {
        CV_ACCURACY: float(scores.mean()),
        CV_ACCURACY_STD: float(scores.std()),
        CV_ACCURACY_SE: standard_error(scores, folds),
    }
    again_if_raced(
        lambda: mlflow.log_metrics(cross_validated, model_id=info.model_id, dataset=training)
    )
    mlflow.set_tags(fold_tags(folds, repeats, spec.seed, training.digest, scores))
    mlflow.log_metric(FIT_SECONDS, fit_seconds)
    mlflow.log_dict({"folds": folds, "repeats": repeats, "accuracy": scores.tolist()}, CV_FILE)
    return {OUT_MODEL: info.model_uri}


if __name__ == "__main__":
    step_main("train", run)
