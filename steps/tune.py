"""tune: Optuna (seeded TPE) searches the model families, their hyperparameters and the feature
sets for the best ranking metric; each trial is a child run like a sweep configuration.
Several `tune` commands given the same `storage` and `study` share one study."""

from __future__ import annotations

from concurrent.futures import FIRST_COMPLETED, Future, wait
from pathlib import Path
from typing import Any, NoReturn

import mlflow
import optuna
from mlflow.entities import Run
from optuna.samplers import TPESampler
from optuna.trial import TrialState
from sqlalchemy.exc import SQLAlchemyError

from titanic.cache import step_lock
from titanic.cli import parse_args, run_cli
from titanic.errors import InputError
from titanic.names import TAG_STUDY
from titanic.params import (FAMILIES, FAMILY_PARAMS, FEATURE_SETS, SEARCH_SETTINGS, describe,
                            entry_point_defaults, parse_params)
from titanic.pool import Outcome, ending_children, result, submit, workers
from titanic.report import finish
from titanic.runs import Interrupted, active_run, name_unless_named

# The search space: a family, a feature set, and the hyperparameters the family uses.
SPACE = ("model", "features", *FAMILY_PARAMS["vote"])


def suggest(trial: optuna.Trial) -> dict[str, str]:
    """One point of the space, as `main` parameter strings."""
    model = trial.suggest_categorical("model", FAMILIES)
    chosen: dict[str, Any] = {"model": model,
                              "features": trial.suggest_categorical("features", FEATURE_SETS)}
    used = FAMILY_PARAMS[model]
    if "C" in used:
        chosen["C"] = f"{trial.suggest_float('C', 0.01, 10.0, log=True):.3g}"
    if "learning_rate" in used:
        chosen["learning_rate"] = f"{trial.suggest_float('learning_rate', 0.01, 0.3, log=True):.3g}"
    if "max_depth" in used:
        chosen["max_depth"] = str(trial.suggest_int("max_depth", 2, 6))
        chosen["n_trees"] = str(trial.suggest_int("n_trees", 50, 300, log=True))
        chosen["min_samples_leaf"] = str(trial.suggest_int("min_samples_leaf", 1, 20, log=True))
    return chosen


def storage_url(raw: str) -> str:
    """`auto`: a sqlite file `optuna.db` beside a sqlite tracking store, else in this folder."""
    if raw != "auto":
        return raw
    tracking = mlflow.get_tracking_uri()
    folder = (Path(tracking.removeprefix("sqlite:///")).parent
              if tracking.startswith("sqlite:///") else Path.cwd())
    return f"sqlite:///{folder / 'optuna.db'}"


def open_study(url: str, name: str, seed: int) -> optuna.Study:
    """The study, created if new; several commands on one storage and name share it."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with step_lock(f"optuna-study|{url}|{name}"):  # a new sqlite file: one creator at a time
            study = optuna.create_study(storage=url, study_name=name, direction="maximize",
                                        load_if_exists=True)
    except (SQLAlchemyError, ValueError, ImportError, OSError, optuna.exceptions.OptunaError
            ) as err:
        reason = next((line for line in str(err).splitlines() if line.strip()),
                      type(err).__name__)
        raise InputError(f"cannot open the Optuna storage {url} ({reason}): pass -P storage= "
                         f"an RDB URL this machine can reach and write, e.g. "
                         f"sqlite:////tmp/optuna.db or postgresql://host/db") from None
    # Seeded, and a later command joining the study does not replay the first one's draws.
    study.sampler = TPESampler(seed=seed + len(study.trials), constant_liar=True)
    return study


def run_trials(parent: Run, study: optuna.Study, trials: int, jobs: int,
               base: dict[str, str]) -> list[Outcome]:
    """Ask the study for `trials` points, `jobs` at a time, and tell it how each did."""
    outcomes: list[Outcome] = []
    running: dict[Future[Outcome], tuple[optuna.trial.Trial, dict[str, str], str]] = {}
    asked = 0
    try:
        with ending_children(parent), workers(min(jobs, trials)) as pool:
            while asked < trials or running:
                while asked < trials and len(running) < jobs:
                    trial = study.ask()
                    config = {**base, **suggest(trial)}
                    label = f"trial {trial.number}: {describe(config)}"
                    running[submit(pool, parent.info.run_id, config, label)] = (trial, config,
                                                                                  label)
                    asked += 1
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    trial, config, label = running.pop(future)
                    outcome = result(future, config, label)
                    outcomes.append(outcome)
                    if outcome.run_id:
                        trial.set_user_attr("mlflow_run_id", outcome.run_id)
                    if outcome.score is None:
                        study.tell(trial, state=TrialState.FAIL)
                    else:
                        study.tell(trial, outcome.score)
    except Interrupted:
        for trial, _, _ in running.values():
            study.tell(trial, state=TrialState.FAIL)
        raise
    return outcomes


def main(argv: list[str] | None = None) -> NoReturn:
    def body() -> None:
        with active_run() as run:
            chosen = parse_args("tune", argv)
            settings = parse_params(chosen, "tune")
            base = {**entry_point_defaults("main"),
                    **{k: v for k, v in chosen.items() if k not in SEARCH_SETTINGS}}
            url = storage_url(settings["storage"])
            study = open_study(url, settings["study"], settings["seed"])
            name_unless_named(run, f"tune {settings['study']}: {settings['trials']} trials")
            mlflow.set_tags({TAG_STUDY: f"{settings['study']} in {url}"})
            outcomes = run_trials(run, study, settings["trials"], settings["jobs"], base)
            finish(run, outcomes, [name for name in SPACE
                                   if len({o.config.get(name) for o in outcomes}) > 1],
                   settings)
    run_cli(body)


if __name__ == "__main__":
    main()
