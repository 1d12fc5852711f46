"""evaluate: score the model on the validation split and write a Kaggle submission."""

from __future__ import annotations

import logging
import platform
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from mlflow.exceptions import MlflowException
from mlflow.models import Model
from packaging.requirements import InvalidRequirement, Requirement
from sklearn import metrics

from orchestration.cli import step_main
from orchestration.datasets import dataset
from orchestration.inputs import fetch
from orchestration.names import (CONFUSION_PNG, ROC_PNG, SUBMISSION_FILE, TAG_WARNING,
                                 TRAIN_FILE, VALID_FILE)
from orchestration.runs import again_if_raced
from titanic.errors import InputError
from titanic.passengers import ID, TARGET, read_passengers, unseen_values
from titanic.survival import label, predictions, survival_score

log = logging.getLogger("titanic")
# The figures' margins, fixed (so are their labels): laying them out draws each figure twice
# more, a third of what the figures cost (about 230 ms against 150 ms here).
CONFUSION_MARGINS = {"left": 0.28, "right": 0.97, "bottom": 0.12, "top": 0.92}
ROC_MARGINS = {"left": 0.17, "right": 0.96, "bottom": 0.12, "top": 0.92}


def evaluate(truth: pd.Series, score: np.ndarray) -> dict[str, float]:
    """Metrics of survival probabilities against the truth."""
    predicted = label(score)
    return {
        "val_accuracy": metrics.accuracy_score(truth, predicted),
        "val_precision": metrics.precision_score(truth, predicted, zero_division=0),
        "val_recall": metrics.recall_score(truth, predicted, zero_division=0),
        "val_f1": metrics.f1_score(truth, predicted, zero_division=0),
        "val_roc_auc": metrics.roc_auc_score(truth, score) if truth.nunique() == 2 else float("nan"),
        "val_log_loss": metrics.log_loss(truth, score, labels=[0, 1]),
    }


def environment_mismatches(model_dir: Path, model: Model) -> list[str]:
    """Where this environment differs from the one that fitted the model (a model reused from
    another machine's run): its pinned packages and its Python version. What MLflow's check on
    loading finds, without first mapping every installed package's files (most of a second
    in every process that loads a model)."""
    found = []
    pins = model_dir / "requirements.txt"  # absent from a model saved some other way
    for line in pins.read_text().splitlines() if pins.exists() else []:
        try:
            pinned = Requirement(line)
        except InvalidRequirement:  # a comment, a blank line, a path
            continue
        try:
            here = version(pinned.name)
        except PackageNotFoundError:
            here = None
        if here is None or not pinned.specifier.contains(here, prereleases=True):
            found.append(f"{pinned.name} {here or 'missing'} (fitted with {pinned.specifier})")
    fitted = model.flavors.get("python_function", {}).get("python_version")
    if fitted and fitted.split(".")[:2] != platform.python_version().split(".")[:2]:
        found.append(f"Python {platform.python_version()} (fitted with {fitted})")
    return found


def confusion_figure(truth: pd.Series, predicted: np.ndarray) -> Figure:
    counts = metrics.confusion_matrix(truth, predicted, labels=[0, 1])
    fig = Figure(figsize=(4, 4))
    fig.subplots_adjust(**CONFUSION_MARGINS)
    ax = fig.subplots()
    ax.imshow(counts, cmap="Blues")
    for (i, j), n in np.ndenumerate(counts):
        ax.text(j, i, str(n), ha="center", va="center",
                color="white" if n > counts.max() / 2 else "black")
    ax.set(xticks=[0, 1], yticks=[0, 1], xticklabels=["died", "survived"],
           yticklabels=["died", "survived"], xlabel="predicted", ylabel="actual",
           title="Validation confusion matrix")
    return fig


def roc_figure(truth: pd.Series, score: np.ndarray) -> Figure:
    fpr, tpr, _ = metrics.roc_curve(truth, score)
    fig = Figure(figsize=(4, 4))
    fig.subplots_adjust(**ROC_MARGINS)
    ax = fig.subplots()
    ax.plot(fpr, tpr, label=f"AUC = {metrics.auc(fpr, tpr):.3f}")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="Validation ROC")
    ax.legend(loc="lower right")
    return fig


def run(model_uri: str, prepared: str, test_data: str) -> dict[str, str]:
    local = fetch(model_uri, "model_uri")
    try:
        # Its environment is checked below, in a fraction of the time MLflow's check takes.
        loaded = mlflow.pyfunc.load_model(str(local), suppress_warnings=True)
        pipeline = loaded.unwrap_python_model().pipeline
    except (MlflowException, AttributeError) as err:
        raise InputError(f"model_uri {model_uri!r} is not a model this project's train logged "
                         f"({err}): pass the model URI that train printed") from None
    model = loaded.metadata  # its MLmodel, as load_model read it
    model_id = model.model_id  # None for a model saved outside a tracking store
    folder = fetch(prepared, "prepared")
    valid = read_passengers(folder / VALID_FILE, with_target=True, source="prepared valid split")
    test = read_passengers(fetch(test_data, "test_data"), with_target=False, source="test_data")

    training = read_passengers(folder / TRAIN_FILE, with_target=True,
                               source="prepared train split")
    unseen = {"valid": unseen_values(training, valid), "test": unseen_values(training, test)}
    score = survival_score(pipeline, valid)
    # Scores against the model and the validation data, so the model's own page shows them.
    scores = evaluate(valid[TARGET], score)
    validation = dataset(valid, prepared, VALID_FILE)
    again_if_raced(lambda: mlflow.log_metrics(scores, model_id=model_id, dataset=validation))
    mlflow.log_metrics({f"unseen_values_{split}": sum(found.values())
                        for split, found in unseen.items()})
    odd = [f"{split} rows hold values no training row has, scored as unknown: "
           + ", ".join(f"{value} ×{n}" for value, n in found.items())
           for split, found in unseen.items() if found]
    differ = environment_mismatches(local, model)
    if differ:
        odd.append(f"the model was fitted in another environment (here {', '.join(differ)}): "
                   f"to score it as fitted, install what "
                   f"mlflow.pyfunc.get_model_dependencies(model_uri) lists")
    if odd:
        mlflow.set_tag(TAG_WARNING, "; ".join(odd))
        log.warning("%s", "; ".join(odd))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        confusion_figure(valid[TARGET], label(score)).savefig(out / CONFUSION_PNG)
        roc_figure(valid[TARGET], score).savefig(out / ROC_PNG)
        predictions(pipeline, test)[[ID, TARGET]].to_csv(out / SUBMISSION_FILE, index=False)
        mlflow.log_artifacts(tmp)
    return {}


if __name__ == "__main__":
    step_main("evaluate")
