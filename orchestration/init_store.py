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
import sys

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from sqlalchemy.exc import SQLAlchemyError

from orchestration.record.names import EXPERIMENT_KIND, EXPERIMENT_KIND_TAG
from orchestration.team.access import refusal

log = logging.getLogger("titanic")


def init_store(experiment_name: str | None) -> str:
    """Make the store's schema exist; returns the id of the experiment runs will land in."""
    client = MlflowClient()
    client.search_experiments(max_results=1)  # opening a SQL store creates its tables
    name = experiment_name or "Default"
    experiment = client.get_experiment_by_name(name)
    experiment_id = (
        experiment.experiment_id if experiment is not None else client.create_experiment(name)
    )
    open_on_training_runs(experiment_id)
    return experiment_id


def open_on_training_runs(experiment_id: str) -> None:
    """Record the experiment's kind, unless someone did already: without it the MLflow 3 UI
    opens an experiment on its GenAI views rather than on its runs."""
    client = MlflowClient()
    if EXPERIMENT_KIND_TAG not in client.get_experiment(experiment_id).tags:
        try:
            client.set_experiment_tag(experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
        except MlflowException:
            # Another command set it at the same moment (a server on PostgreSQL refuses the
            # second insert); anything else is a real failure.
            if EXPERIMENT_KIND_TAG not in client.get_experiment(experiment_id).tags:
                raise


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment-name", default=os.environ.get("MLFLOW_EXPERIMENT_NAME"))
    args = parser.parse_args()
    uri = mlflow.get_tracking_uri()
    try:
        experiment_id = init_store(args.experiment_name)
    except (MlflowException, SQLAlchemyError, OSError) as err:
        sys.exit(f"titanic: error: {store_problem(uri, err)}")
    log.info("Tracking store ready: %s (experiment %s)", uri, experiment_id)


def store_problem(uri: str, err: Exception) -> str:
    """One line for a store that cannot be opened or created, with what to do about it."""
    known = refusal(err)
    if known is not None:
        return str(known)
    reason = next(
        (line.strip() for line in str(err).splitlines() if line.strip()), type(err).__name__
    )
    if "not a database" in reason or "malformed" in reason:
        path = uri.removeprefix("sqlite:///")
        return (
            f"the tracking store {uri} is not a usable MLflow database ({reason}): move it "
            f"aside (mv {path} {path}.broken) and run this again, or point "
            f"MLFLOW_TRACKING_URI at another store"
        )
    return (
        f"cannot open or create the tracking store {uri} ({reason}): check that its folder "
        f"can be created and written, or point MLFLOW_TRACKING_URI at another store"
    )


if __name__ == "__main__":
    main()
