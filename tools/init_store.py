"""Create the tracking store's tables (and the experiment, if one is named) before any run.

`mlflow run`s started together on a store that does not exist yet race to create its
tables and lose runs; once the tables exist, parallel runs are safe. Run this once per new
store: it reads MLFLOW_TRACKING_URI (default: sqlite:///mlflow.db here) and
MLFLOW_EXPERIMENT_NAME like `mlflow run` does, and changes nothing that already exists.
"""

from __future__ import annotations

import argparse
import logging
import os

import mlflow
from mlflow.tracking import MlflowClient

log = logging.getLogger("titanic")


def init_store(experiment_name: str | None) -> str:
    """Make the store's schema exist; returns the id of the experiment runs will land in."""
    client = MlflowClient()
    client.search_experiments(max_results=1)  # opening a SQL store creates its tables
    if not experiment_name:
        return client.get_experiment_by_name("Default").experiment_id
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is not None:
        return experiment.experiment_id
    return client.create_experiment(experiment_name)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment-name", default=os.environ.get("MLFLOW_EXPERIMENT_NAME"))
    args = parser.parse_args()
    experiment_id = init_store(args.experiment_name)
    log.info("Tracking store ready: %s (experiment %s)", mlflow.get_tracking_uri(), experiment_id)


if __name__ == "__main__":
    main()
