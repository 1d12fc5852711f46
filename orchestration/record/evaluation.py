"""MLflow's own evaluation of a logged model: what `evaluate` records with `explain=true`, and
what a promotion records of the model it ships.

MLflow's evaluator computes probabilities, curves and SHAP values only for a pyfunc model whose
loader is `mlflow.sklearn`, from the estimator it holds; this project's models answer a table
through their own loader (`titanic.survival`), so the evaluator is handed the pipeline itself,
labelled as MLflow's own flavor would be (`as_sklearn_model`).
"""

from __future__ import annotations

import os
import warnings

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import Model
from mlflow.pyfunc import PyFuncModel
from mlflow.tracking import MlflowClient
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from orchestration.record.datasets import dataset, passenger_dataset, split_source
from orchestration.record.inputs import prepared_split
from orchestration.record.models import trusted_model
from orchestration.record.names import EVALUATED_METRIC, EXPLAINED_PLOT, VALID_FILE
from orchestration.record.store import current_run
from titanic.passengers import FEATURES, TARGET
from titanic.survival import encoded

# SHAP's maskers compile their loops with numba in every process that explains a model, rf's,
# vote's or a rule's (permutation SHAP): 4 to 5 s, more than running them uncompiled on 50 rows
# costs (bench/TRICKS.md). Read by numba when it is first imported; a user's setting stands.
os.environ.setdefault("NUMBA_DISABLE_JIT", "1")
# Validation rows SHAP explains (of 223 by default): a permutation explainer's cost grows with
# their square; on 50 it took 8 s (rf) and 12.5 s (vote) here, on 100 17 and 28 s.
SHAP_ROWS = 50
# Classifiers the explainer shap picks for explains as one value per row (their log-odds). For
# the others SHAP permutes the features of P(survived): rf's tree explainer gives one value per
# class, which MLflow's plots refuse, and shap has no explainer for a VotingClassifier.
ONE_OUTPUT = (LogisticRegression, HistGradientBoostingClassifier)


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
    """`estimator` as MLflow's evaluator sees a model of its scikit-learn flavor."""
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


def earlier_evaluation(model_id: str | None) -> str | None:
    """A finished run that holds MLflow's whole evaluation of the model (metrics linked to it,
    and SHAP's plots), if there is one: an earlier promotion's, or `-P explain=true`'s."""
    if model_id is None:
        return None
    client = MlflowClient()
    evaluated_by = {
        m.run_id
        for m in client.get_logged_model(model_id).metrics or []
        if m.key == EVALUATED_METRIC
    }
    for run_id in sorted(r for r in evaluated_by if r):
        if client.get_run(run_id).info.status == "FINISHED" and any(
            a.path == EXPLAINED_PLOT for a in client.list_artifacts(run_id)
        ):
            return run_id
    return None


def explain(model_uri: str, prepared: str) -> str:
    """The run holding MLflow's evaluation of a model, for a run that ships it (promote,
    `main` or a search with promote=true): an earlier one of the same model, or one made now
    in the active run. Either way the model is refused first if it holds a type the project
    does not trust."""
    _, pipeline, model = trusted_model(model_uri)
    earlier = earlier_evaluation(model.model_id)
    if earlier is not None:
        return earlier
    mlflow_evaluation(pipeline, prepared_split(prepared, VALID_FILE), prepared, model.model_id)
    return current_run().info.run_id
