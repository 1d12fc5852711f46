"""evaluate: score the model on the validation split and write a Kaggle submission; with
`explain=true`, MLflow's own evaluation too: its classifier metrics and figures, and SHAP
explanations of the encoded features."""

from __future__ import annotations

import logging
import platform
import tempfile
import warnings
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from mlflow.models import Model
from mlflow.pyfunc import PyFuncModel
from packaging.requirements import InvalidRequirement, Requirement
from sklearn import metrics
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from orchestration.cli import step_main
from orchestration.record.datasets import dataset, passenger_dataset, split_source
from orchestration.record.inputs import fetch
from orchestration.record.names import (
    CONFUSION_PNG,
    ROC_PNG,
    SUBMISSION_FILE,
    TAG_WARNING,
    TRAIN_FILE,
    VAL_ACCURACY,
    VAL_F1,
    VAL_LOG_LOSS,
    VAL_PRECISION,
    VAL_RECALL,
    VAL_ROC_AUC,
    VALID_FILE,
)
from orchestration.record.store import again_if_raced
from steps import Hooks
from titanic.passengers import FEATURES, ID, TARGET, read_passengers, unseen_values
from titanic.survival import encoded, label, load_pipeline, predictions, survival_score

log = logging.getLogger("titanic")
# The figures' margins, fixed (so are their labels): laying them out draws each figure twice
# more, a third of what the figures cost (about 230 ms against 150 ms here).
CONFUSION_MARGINS = {"left": 0.28, "right": 0.97, "bottom": 0.12, "top": 0.92}
ROC_MARGINS = {"left": 0.17, "right": 0.96, "bottom": 0.12, "top": 0.92}
# Validation rows SHAP explains (of 223 by default): a permutation explainer's cost grows with
# their square; on 50 it took 8 s (rf) and 12.5 s (vote) here, on 100 17 and 28 s.
SHAP_ROWS = 50
# Classifiers the explainer shap picks for explains as one value per row (their log-odds). For
# the others SHAP permutes the features of P(survived): rf's tree explainer gives one value per
# class, which MLflow's plots refuse, and shap has no explainer for a VotingClassifier.
ONE_OUTPUT = (LogisticRegression, HistGradientBoostingClassifier)


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
        ax.text(
            j,
            i,
            str(n),
            ha="center",
            va="center",
            color="white" if n > counts.max() / 2 else "black",
        )
    ax.set(
        xticks=[0, 1],
        yticks=[0, 1],
        xticklabels=["died", "survived"],
        yticklabels=["died", "survived"],
        xlabel="predicted",
        ylabel="actual",
        title="Validation confusion matrix",
    )
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


class _Estimator:
    """A fitted estimator behind the interface MLflow's scikit-learn flavor loads as pyfunc."""

    def __init__(self, estimator: object) -> None:
        self.estimator = estimator

    def get_raw_model(self) -> object:
        return self.estimator

    def predict(self, data: pd.DataFrame, params: dict[str, object] | None = None) -> object:
        return self.estimator.predict(data)  # type: ignore[attr-defined]


class _Probability:
    """A classifier whose `predict` is its probability of survival: what SHAP explains."""

    def __init__(self, classifier: object) -> None:
        self.classifier = classifier

    def predict(self, data: pd.DataFrame) -> np.ndarray:
        return self.classifier.predict_proba(data)[:, 1]  # type: ignore[attr-defined]


def as_sklearn_model(estimator: object) -> PyFuncModel:
    """`estimator` as MLflow's evaluator sees a model of its scikit-learn flavor, whose
    probabilities, curves, score and SHAP values it computes from the estimator itself (it
    does so only where the pyfunc loader is `mlflow.sklearn`; our models' pyfunc face is
    `titanic.survival`, which answers a table)."""
    meta = Model(flavors={"python_function": {"loader_module": "mlflow.sklearn"}})
    return PyFuncModel(model_meta=meta, model_impl=_Estimator(estimator))


def mlflow_evaluation(
    pipeline: Pipeline, valid: pd.DataFrame, prepared: str, model_id: str | None
) -> None:
    """MLflow's evaluation of the model on the validation split (`valid`, from `prepared`),
    logged to the active run and to the model: classifier metrics, ROC, precision-recall,
    calibration and lift curves and the confusion matrix on raw rows; then SHAP values of the
    classifier on the encoded features (SHAP needs numbers, and raw rows hold text)."""
    validation = dataset(valid, prepared, VALID_FILE)
    mlflow.models.evaluate(
        as_sklearn_model(pipeline),
        validation,
        model_type="classifier",
        evaluators=["classifier"],
        model_id=model_id,
        evaluator_config={"classifier": {"pos_label": 1}},
    )
    features = encoded(pipeline, valid[list(FEATURES)]).assign(**{TARGET: valid[TARGET]})
    permuted = not isinstance(pipeline[-1], ONE_OUTPUT)
    explained = _Probability(pipeline[-1]) if permuted else pipeline[-1]
    config = {
        "ignore_exceptions": False,
        "explainability_nsamples": SHAP_ROWS,
        **({"explainability_algorithm": "permutation"} if permuted else {}),
    }
    with warnings.catch_warnings():  # SHAP names the columns the classifier was fitted on
        warnings.filterwarnings("ignore", message="X has feature names")
        mlflow.models.evaluate(
            as_sklearn_model(explained),
            passenger_dataset(
                features, split_source(prepared, VALID_FILE), f"{validation.name}_encoded"
            ),
            model_type="classifier",
            evaluators=["shap"],
            model_id=model_id,
            evaluator_config={"shap": config},
        )


def trusted_model(model_uri: str) -> tuple[Path, Pipeline, Model]:
    """The model's folder, its pipeline (refused before loading if it holds a type the
    project does not trust) and its MLmodel."""
    local = fetch(model_uri, "model_uri")
    pipeline = load_pipeline(local, f"model_uri {model_uri!r}")
    return local, pipeline, Model.load(local / "MLmodel")


def valid_split(prepared: str) -> pd.DataFrame:
    return read_passengers(
        fetch(prepared, "prepared") / VALID_FILE, with_target=True, source="prepared valid split"
    )


def explain(model_uri: str, prepared: str) -> None:
    """MLflow's evaluation of a model, in the active run: what a run that ships the model
    (promote, `main` or a search with promote=true) records of it."""
    _, pipeline, model = trusted_model(model_uri)
    mlflow_evaluation(pipeline, valid_split(prepared), prepared, model.model_id)


def run(
    model_uri: str, prepared: str, test_data: str, explain: str, hooks: Hooks
) -> dict[str, str]:
    local, pipeline, model = trusted_model(model_uri)
    model_id = model.model_id  # None for a model saved outside a tracking store
    folder = fetch(prepared, "prepared")
    valid = valid_split(prepared)
    test = read_passengers(fetch(test_data, "test_data"), with_target=False, source="test_data")

    training = read_passengers(folder / TRAIN_FILE, with_target=True, source="prepared train split")
    unseen = {"valid": unseen_values(training, valid), "test": unseen_values(training, test)}
    score = survival_score(pipeline, valid)
    # Scores against the model and the validation data, so the model's own page shows them.
    scores = evaluate(valid[TARGET], score)
    validation = dataset(valid, prepared, VALID_FILE)
    again_if_raced(lambda: mlflow.log_metrics(scores, model_id=model_id, dataset=validation))
    mlflow.log_metrics(
        {f"unseen_values_{split}": sum(found.values()) for split, found in unseen.items()}
    )
    odd = [
        f"{split} rows hold values no training row has, scored as unknown: "
        + ", ".join(f"{value} ×{n}" for value, n in found.items())
        for split, found in unseen.items()
        if found
    ]
    differ = environment_mismatches(local, model)
    if differ:
        odd.append(
            f"the model was fitted in another environment (here {', '.join(differ)}): "
            f"to score it as fitted, install what "
            f"mlflow.pyfunc.get_model_dependencies(model_uri) lists"
        )
    if odd:
        mlflow.set_tag(TAG_WARNING, "; ".join(odd))
        log.warning("%s", "; ".join(odd))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        if explain == "false":  # MLflow's evaluation draws both, and more
            confusion_figure(valid[TARGET], label(score)).savefig(out / CONFUSION_PNG)
            roc_figure(valid[TARGET], score).savefig(out / ROC_PNG)
        predictions(pipeline, test)[[ID, TARGET]].to_csv(out / SUBMISSION_FILE, index=False)
        mlflow.log_artifacts(tmp)
    if explain == "true":
        mlflow_evaluation(pipeline, valid, prepared, model_id)
    return {}


if __name__ == "__main__":
    step_main("evaluate")
