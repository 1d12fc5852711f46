"""MLflow's evaluation of a model (steps/evaluate.py's `mlflow_evaluation`), for the families
whose SHAP values come from different explainers."""

from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from steps.evaluate import mlflow_evaluation
from tests.support import PROJECT
from titanic.models import ModelSpec
from titanic.passengers import FEATURES, TARGET, read_passengers

pytestmark = pytest.mark.slow  # MLflow's evaluator: seconds of figures and SHAP

ROWS = read_passengers(
    PROJECT / "data" / "titanic" / "train.csv", with_target=True, source="train.csv"
)
SMALL = {
    "C": 1.0,
    "max_iter": 200,
    "solver": "lbfgs",
    "learning_rate": 0.1,
    "max_depth": 3,
    "n_trees": 5,
    "min_samples_leaf": 2,
}
FIGURES = {
    "calibration_curve_plot.png",
    "confusion_matrix.png",
    "lift_curve_plot.png",
    "precision_recall_curve_plot.png",
    "roc_curve_plot.png",
}
SHAP = {"shap_beeswarm_plot.png", "shap_feature_importance_plot.png", "shap_summary_plot.png"}


@pytest.mark.parametrize(
    ("model", "features"),
    [
        ("vote", "engineered"),
        ("rf", "tutorial"),
        ("hgb", "engineered"),
        ("wcg", "engineered"),
        ("wcgplus", "engineered"),
    ],
)
def test_every_family_gets_the_figures_and_shap_plots(
    store: str, tmp_path: Path, model: str, features: str
) -> None:
    fit, valid = ROWS.iloc[:500], ROWS.iloc[500:700]
    pipeline = ModelSpec(model, features, SMALL, 0).pipeline().fit(fit[list(FEATURES)], fit[TARGET])
    valid.to_csv(tmp_path / "valid.csv", index=False)  # the prepared folder it came from
    with mlflow.start_run() as run:
        mlflow_evaluation(pipeline, valid, str(tmp_path), None)
    client = MlflowClient()
    assert {f.path for f in client.list_artifacts(run.info.run_id)} == FIGURES | SHAP
    metrics = client.get_run(run.info.run_id).data.metrics
    assert 0.5 < metrics["roc_auc"] <= 1 and metrics["example_count"] == 200
