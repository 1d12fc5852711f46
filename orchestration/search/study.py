"""Tuning's source of points: an Optuna study (seeded TPE) asked for configurations of the
model families, their hyperparameters and the feature sets, and told each one's ranking
metric, or that its pruner stopped it. Several `tune` commands given the same storage and
study name share one study."""

from __future__ import annotations

from pathlib import Path

import mlflow
import optuna
from optuna.samplers import TPESampler
from optuna.trial import TrialState
from sqlalchemy.exc import SQLAlchemyError

from orchestration.cache.reuse import step_lock
from orchestration.project.naming import describe
from orchestration.project.params import TUNED
from orchestration.search.points import PRUNED, Outcome, Point
from orchestration.search.pruning import PER_FOLD, TrialRef
from titanic.errors import InputError
from titanic.families import FAMILY_PARAMS, FEATURE_SETS, LEARNED

# The search space: a family, a feature set, and the hyperparameters the family uses.
SPACE = ("model", "features", *TUNED)
RUN_ID_ATTR = "mlflow_run_id"  # on each Optuna trial: the child run it was
# On the study: what its trials report at each step. Pruners that read one kind cannot judge
# trials that reported the other, so a study keeps to the kind of its first pruned command.
REPORTS_ATTR = "titanic_fold_reports"
RUNNING_MEAN, EACH_FOLD = "the running mean of its folds", "each fold's own accuracy"
# `-P pruner=auto` on a study with no pruned trials yet (bench/SEARCH.md compares them).
NEW_STUDY_PRUNER = "wilcoxon"


def suggest(trial: optuna.Trial) -> dict[str, str]:
    """One point of the space, as `main` parameter strings: a family, a feature set, and each
    hyperparameter the family uses that `tune` searches, in its declared range."""
    model = trial.suggest_categorical("model", LEARNED)
    chosen = {"model": model, "features": trial.suggest_categorical("features", FEATURE_SETS)}
    tuned = [name for name in FAMILY_PARAMS[model] if name in TUNED]
    return chosen | {name: TUNED[name].suggest(trial, name) for name in tuned}


def storage_url(raw: str) -> str:
    """`auto`: a sqlite file `optuna.db` beside a sqlite tracking store, else in this folder."""
    if raw != "auto":
        return raw
    tracking = mlflow.get_tracking_uri()
    folder = (
        Path(tracking.removeprefix("sqlite:///")).parent
        if tracking.startswith("sqlite:///")
        else Path.cwd()
    )
    return f"sqlite:///{folder / 'optuna.db'}"


def open_study(url: str, name: str, seed: int, pruner: str) -> tuple[optuna.Study, str]:
    """The study, created if new, and the pruner to use on it (`auto`: the one that reads
    what its trials report). Several commands on one storage and name share the study, if
    their pruners read the same reports."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with step_lock(f"optuna-study|{url}|{name}"):  # a new sqlite file: one creator at a time
            study = optuna.create_study(
                storage=url, study_name=name, direction="maximize", load_if_exists=True
            )
            pruner = check_reports(study, url, pruner)
    except (
        SQLAlchemyError,
        ValueError,
        ImportError,
        OSError,
        optuna.exceptions.OptunaError,
    ) as err:
        reason = next((line for line in str(err).splitlines() if line.strip()), type(err).__name__)
        raise InputError(
            f"cannot open the Optuna storage {url} ({reason}): pass -P storage= "
            f"an RDB URL this machine can reach and write, e.g. "
            f"sqlite:////tmp/optuna.db or postgresql://host/db"
        ) from None
    # Seeded, and a later command joining the study does not replay the first one's draws.
    study.sampler = TPESampler(seed=seed + len(study.trials), constant_liar=True)
    return study, pruner


def check_reports(study: optuna.Study, url: str, pruner: str) -> str:
    """The pruner for this study (`auto` resolved); records what its trials report, or
    refuses a pruner that reads the other kind."""
    # A study pruned before this attribute existed holds running means.
    held = study.user_attrs.get(REPORTS_ATTR) or (
        RUNNING_MEAN
        if any(t.intermediate_values for t in study.get_trials(deepcopy=False))
        else None
    )
    if pruner == "auto":
        pruner = "median" if held == RUNNING_MEAN else NEW_STUDY_PRUNER
    if pruner == "none":
        return pruner
    ours = EACH_FOLD if pruner in PER_FOLD else RUNNING_MEAN
    if held is None:
        study.set_user_attr(REPORTS_ATTR, ours)
    elif held != ours:
        raise InputError(
            f"the Optuna study {study.study_name!r} in {url} holds trials that "
            f"reported {held}, and -P pruner={pruner} judges by {ours}: pass "
            f"another -P study= name, or the pruner that study was started with"
        )
    return pruner


class Study:
    """`trials` points asked of an Optuna study in `storage`, on top of fixed `main`
    parameters; each trial's folds reported to the study, and `pruner` (or `none`) stopping
    the ones that cannot win."""

    def __init__(
        self, study: optuna.Study, storage: str, trials: int, base: dict[str, str], pruner: str
    ) -> None:
        self._study, self._storage, self._left, self._base = study, storage, trials, base
        self._pruner = pruner
        self.total = trials

    def ask(self) -> Point | None:
        if self._left == 0:
            return None
        self._left -= 1
        trial = self._study.ask()
        config = {**self._base, **suggest(trial)}
        # Optuna's own trial id (not its number), as its storage knows the trial by it.
        report_to = (
            None
            if self._pruner == "none"
            else TrialRef(
                self._storage,
                self._study.study_name,
                trial._trial_id,
                self._pruner,
                warmup=int(config["cv_folds"]),
            )
        )
        return Point(config, f"trial {trial.number}: {describe(config)}", trial, report_to)

    def tell(self, point: Point, outcome: Outcome) -> None:
        if outcome.run_id:
            point.handle.set_user_attr(RUN_ID_ATTR, outcome.run_id)
        # Its value: the last it reported (a fold mean; under wilcoxon one fold's accuracy).
        if outcome.status == PRUNED:
            self._study.tell(point.handle, state=TrialState.PRUNED)
        elif outcome.score is None:
            self._study.tell(point.handle, state=TrialState.FAIL)
        else:
            self._study.tell(point.handle, outcome.score)

    def abandon(self, point: Point) -> None:
        self._study.tell(point.handle, state=TrialState.FAIL)
