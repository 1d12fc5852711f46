"""Pruned tuning: the train step of a tuning trial reports each cross-validation fold to the
trial's Optuna study, and a pruner (median, successive halving, or a Wilcoxon signed-rank test
against the best trial) stops a trial that cannot win, so that its time goes to the next trial.

The report happens where the work runs (a worker process, or a cluster worker's thread), so
that worker opens the study in its storage itself; the search driver only says which trial it
is (`TrialRef`). Optuna loads only where a trial is pruned: a plain `train` or sweep does not
pay for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from orchestration.lifecycle.runs import Pruned
from titanic.errors import InputError

if TYPE_CHECKING:
    import optuna
    from optuna.pruners import BasePruner

# Finished trials the median pruner waits for before it compares.
STARTUP_TRIALS = 5
# Successive halving keeps the best 1/REDUCTION of the trials at each rung.
REDUCTION = 3
# The Wilcoxon pruner stops a trial once its folds are worse than the best trial's on the same
# folds at this p-value.
P_THRESHOLD = 0.1
WHY = {
    "median": "below the median of earlier trials after as many folds",
    "halving": f"not in the best 1/{REDUCTION} of trials after as many folds",
    "wilcoxon": f"worse than the best trial's on the same folds (Wilcoxon signed-rank test, "
    f"p < {P_THRESHOLD})",
}
# What a pruner's trials report at each step: the mean accuracy of the folds so far, or the
# accuracy of that one fold (at its index), as the Wilcoxon test pairs folds across trials.
PER_FOLD = ("wilcoxon",)


@dataclass(frozen=True)
class TrialRef:
    """Which trial a configuration is, and how it may be stopped: sent to its worker."""

    storage: str
    study: str
    trial_id: int
    pruner: str
    warmup: int  # folds before the first comparison: one pass over the training rows


def make_pruner(name: str, warmup: int) -> BasePruner:
    """Compare trials only once each has been scored on every training row (one full
    `cv_folds` pass): by the mean accuracy of its folds so far (median, halving), or fold by
    fold against the best trial (wilcoxon)."""
    from optuna.pruners import MedianPruner, SuccessiveHalvingPruner

    if name == "median":
        return MedianPruner(n_startup_trials=STARTUP_TRIALS, n_warmup_steps=warmup)
    if name == "halving":
        return SuccessiveHalvingPruner(min_resource=warmup, reduction_factor=REDUCTION)
    if name == "wilcoxon":
        from orchestration.search.wilcoxon import WilcoxonPruner

        return WilcoxonPruner(p_threshold=P_THRESHOLD, n_startup_steps=warmup)
    raise ValueError(f"no pruner {name!r}")


@lru_cache(maxsize=4)
def _study(storage: str, study: str, pruner: str, warmup: int) -> optuna.Study:
    """The study as a worker sees it, opened once per worker."""
    import optuna
    from sqlalchemy.exc import SQLAlchemyError

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        return optuna.load_study(
            study_name=study, storage=storage, pruner=make_pruner(pruner, warmup)
        )
    except (
        KeyError,
        ValueError,
        ImportError,
        OSError,
        SQLAlchemyError,
        optuna.exceptions.OptunaError,
    ) as err:
        reason = next((line for line in str(err).splitlines() if line.strip()), type(err).__name__)
        raise InputError(
            f"this worker cannot open the Optuna study {study!r} in {storage} "
            f"({reason}) to report folds: pass -P storage= a URL every worker "
            f"reaches (e.g. postgresql://host/db), or -P pruner=none"
        ) from None


class FoldReporter:
    """Reports to one trial, and raises Pruned when its pruner says to stop, from the end of
    the first full pass on. For the median and halving pruners it reports the mean accuracy
    of the folds so far, and only from then: a mean over part of the rows swings widely, and
    the median pruner judges a trial by the best value it ever reported. For the Wilcoxon
    pruner it reports every fold's own accuracy at the fold's index, which the test pairs with
    the best trial's accuracy on the same fold."""

    def __init__(self, trial: TrialRef) -> None:
        import optuna

        self._trial = optuna.trial.Trial(
            _study(trial.storage, trial.study, trial.pruner, trial.warmup), trial.trial_id
        )
        self._warmup = trial.warmup
        self._why = WHY[trial.pruner]
        self._per_fold = trial.pruner in PER_FOLD

    def __call__(self, scores: list[float], total: int) -> None:
        if self._per_fold:
            self._trial.report(scores[-1], step=len(scores) - 1)
        if len(scores) < self._warmup:
            return
        mean = sum(scores) / len(scores)
        if not self._per_fold:
            self._trial.report(mean, step=len(scores))
        # After the last fold there is nothing left to save.
        if len(scores) < total and self._trial.should_prune():
            raise Pruned(
                f"stopped after {len(scores)} of {total} folds: mean accuracy "
                f"{mean:.4f} is {self._why}"
            )
