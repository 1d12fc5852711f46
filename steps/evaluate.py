"""evaluate: score the model on the validation split and write a Kaggle submission; with
`explain=true`, MLflow's own evaluation too: its classifier metrics and figures, and SHAP
explanations of the encoded features (`orchestration.record.evaluation`)."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mlflow
import numpy as np
import pandas as pd
from sklearn import metrics

from orchestration.cli import step_main
from orchestration.record.datasets import dataset
from orchestration.record.evaluation import mlflow_evaluation
from orchestration.record.inputs import fetch, prepared_split
from orchestration.record.models import environment_mismatches, trusted_model
from orchestration.record.names import (
    SUBMISSION_FILE,
    TAG_WARNING,
    TRAIN_FILE,
    UNSEEN_VALUES,
    VAL_ACCURACY,
    VAL_F1,
    VAL_LOG_LOSS,
    VAL_PRECISION,
    VAL_RECALL,
    VAL_ROC_AUC,
    VALID_FILE,
)
from orchestration.record.store import again_if_raced
from titanic.passengers import ID, TARGET, read_passengers, unseen_values
from titanic.survival import label, predictions, survival_score

if TYPE_CHECKING:
    from titanic.models import Hooks

log = logging.getLogger("titanic")


def evaluate(truth: pd.Series, score: np.ndarray) -> dict[str, float]:
    """Metrics of survival probabilities against the truth."""
    predicted = label(score)
    return {
        VAL_ACCURACY: metrics.accuracy_score(truth, predicted),
        VAL_PRECISION: metrics.precision_score(truth, predicted, zero_division=0),
        VAL_RECALL: metrics.recall_score(truth, predicted, zero_division=0),
        VAL_F1: metrics.f1_score(truth, predicted, zero_division=0),
        VAL_ROC_AUC: metrics.roc_auc_score(truth, score) if truth.nunique() == 2 else float("nan"),
        VAL_LOG_LOSS: metrics.log_loss(truth, score, labels=[0, 1]),
    }


def oddities(unseen: dict[str, dict[str, int]], differ: list[str]) -> list[str]:
    """What was odd about the rows scored or the model, in phrases for the run's warning."""
    odd = [
        f"{split} rows hold values no training row has, scored as unknown: "
        + ", ".join(f"{value} ×{n}" for value, n in found.items())
        for split, found in unseen.items()
        if found
    ]
    if differ:
        odd.append(
            f"the model was fitted in another environment (here {', '.join(differ)}): "
            f"to score it as fitted, install what "
            f"mlflow.pyfunc.get_model_dependencies(model_uri) lists"
        )
    return odd


def run(params: dict[str, Any], hooks: Hooks | None) -> dict[str, str]:
    prepared = params["prepared"]
    local, pipeline, model = trusted_model(params["model_uri"])
    model_id = model.model_id  # None for a model saved outside a tracking store
    valid, training = prepared_split(prepared, VALID_FILE), prepared_split(prepared, TRAIN_FILE)
    test = read_passengers(
        fetch(params["test_data"], "test_data"), with_target=False, source="test_data"
    )
    unseen = {"valid": unseen_values(training, valid), "test": unseen_values(training, test)}
    # Scores against the model and the validation data, so the model's own page shows them.
    scores = evaluate(valid[TARGET], survival_score(pipeline, valid))
    validation = dataset(valid, prepared, VALID_FILE)
    again_if_raced(lambda: mlflow.log_metrics(scores, model_id=model_id, dataset=validation))
    mlflow.log_metrics({UNSEEN_VALUES[split]: sum(n.values()) for split, n in unseen.items()})
    odd = oddities(unseen, environment_mismatches(local, model))
    if odd:
        mlflow.set_tag(TAG_WARNING, "; ".join(odd))
        log.warning("%s", "; ".join(odd))
    with tempfile.TemporaryDirectory() as tmp:
        submission = Path(tmp) / SUBMISSION_FILE
        predictions(pipeline, test)[[ID, TARGET]].to_csv(submission, index=False)
        mlflow.log_artifact(str(submission))
    if params["explain"] == "true":
        mlflow_evaluation(pipeline, valid, prepared, model_id)
    return {}


if __name__ == "__main__":
    step_main("evaluate", run)
