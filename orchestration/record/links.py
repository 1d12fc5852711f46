"""Lines a summary prints that take the user to a result from anywhere: the Python that loads
a model, and the UI page of a run."""

from __future__ import annotations

from urllib.parse import urlsplit

import mlflow

# `mlflow ui`'s own address; the page names the view, or MLflow 3's UI opens on GenAI views.
LOCAL_UI = "http://127.0.0.1:5000"
VIEW = "workflowType=machine_learning"


def load_line(model_uri: str) -> str:
    """Python that loads the model wherever it is pasted: it names the store the model is in
    (MLflow's default store is a file in the current folder)."""
    return (
        f'Load it: import mlflow; mlflow.set_tracking_uri("{mlflow.get_tracking_uri()}"); '
        f'model = mlflow.pyfunc.load_model("{model_uri}")'
    )


def ui_line(experiment_id: str, run_id: str) -> str:
    """The run's page in the tracking server's UI, or in `mlflow ui` on a local store."""
    uri = mlflow.get_tracking_uri()
    page = f"#/experiments/{experiment_id}/runs/{run_id}?{VIEW}"
    if urlsplit(uri).scheme in ("http", "https"):
        return f"View it: {uri.rstrip('/')}/{page}"
    return f"View it: {LOCAL_UI}/{page} (start the UI with: mlflow ui --backend-store-uri {uri})"
