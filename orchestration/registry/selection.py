"""The selection rule, one for every ranked view and every choice (docs/selection.md): the best
mean cross-validated accuracy wins, unless runs that a paired test on the same folds cannot
tell from it include a simpler family; then the simplest of those wins. The champion alias
moves only to a model the rule prefers to the champion: better on the same folds, or tied and
simpler, never merely tied."""

from __future__ import annotations

import math
from dataclasses import dataclass

from orchestration.record.folds import FoldScores, read_folds
from orchestration.record.names import CV_ACCURACY_SE, RANKING_METRIC
from titanic.compare import ALPHA, p_value, standard_error
from titanic.families import SIMPLEST_FIRST

# How a ranked view marks each run against the run with the best mean.
CHOSEN = "chosen"  # what the rule picks: the leaderboard's top row, what promote run=best takes
BEST_MEAN = "best mean"  # the best mean, when a simpler family tied with it is chosen instead
TIED = "tied"  # not told apart from the best mean on the same folds
WORSE = "worse"  # worse than the best mean on the same folds
NOT_PAIRED = "not paired"  # scored on other folds (seed, folds, repeats or data): not compared
MARKS_NOTE = (
    f"{TIED}: not told apart from the best mean by a corrected resampled t-test on the same "
    f"folds (p >= {ALPHA}); {NOT_PAIRED}: scored on other folds (seed, cv_folds, cv_repeats "
    f"or data), so not compared; {CV_ACCURACY_SE}: the standard error of {RANKING_METRIC}, "
    f"corrected for the folds' overlap"
)
# Finished pipeline runs, best mean first, among which the rule looks for ties.
POOL = 1000


@dataclass(frozen=True)
class Entry:
    """A model as the rule sees it: its mean, its family and its fold scores, if recorded."""

    mean: float
    family: str
    folds: FoldScores | None

    @property
    def standard_error(self) -> float | None:
        if self.folds is None:
            return None
        se = standard_error(self.folds.accuracy, self.folds.folds)
        return None if math.isnan(se) else se


def entry(metrics: dict[str, float], params: dict[str, str], tags: dict[str, str]) -> Entry | None:
    """A run's (or a search configuration's) entry; None without the ranking metric."""
    if RANKING_METRIC not in metrics:
        return None
    return Entry(metrics[RANKING_METRIC], params.get("model", ""), read_folds(tags))


def paired_p(a: Entry, b: Entry) -> float | None:
    """The p-value of the corrected resampled t-test on the same folds; None when the two
    were not scored on the same folds."""
    if a.folds is None or b.folds is None or a.folds.which != b.folds.which:
        return None
    if len(a.folds.accuracy) != len(b.folds.accuracy):
        return None
    return p_value(a.folds.accuracy, b.folds.accuracy, a.folds.folds)


def simplicity(family: str) -> int:
    """A family's place in SIMPLEST_FIRST; an unknown one counts as the least simple."""
    return SIMPLEST_FIRST.index(family) if family in SIMPLEST_FIRST else len(SIMPLEST_FIRST)


@dataclass(frozen=True)
class Ranking:
    """The entries' order for a view (the chosen one first, then by mean) and each one's mark."""

    order: list[int]
    marks: list[str]
    chosen: int


def rank(entries: list[Entry]) -> Ranking:
    """Apply the rule to `entries`, given best mean first (ties of the mean by who reached it
    first, as `champion.BEST_FIRST` orders runs)."""
    if not entries:
        return Ranking([], [], -1)
    top = entries[0]
    marks = [BEST_MEAN]
    for other in entries[1:]:
        p = paired_p(top, other)
        marks.append(NOT_PAIRED if p is None else TIED if p >= ALPHA or math.isnan(p) else WORSE)
    tied = [i for i, mark in enumerate(marks) if mark in (BEST_MEAN, TIED)]
    chosen = min(tied, key=lambda i: (simplicity(entries[i].family), i))
    marks[chosen] = CHOSEN
    return Ranking([chosen, *(i for i in range(len(entries)) if i != chosen)], marks, chosen)


def prefers(new: Entry, champion: Entry | None) -> tuple[bool, str]:
    """Whether the rule prefers `new` to the current champion, and why, in a phrase."""
    if champion is None:
        return True, "no champion yet"
    p = paired_p(new, champion)
    if p is None:
        return (
            new.mean > champion.mean,
            "scored on other folds than the champion, so compared by mean alone",
        )
    if p < ALPHA:
        better = new.mean > champion.mean
        return better, f"{'better' if better else 'worse'} on the same folds (p = {p:.3f})"
    simpler = simplicity(new.family) < simplicity(champion.family)
    return simpler, (
        f"tied with the champion on the same folds (p = {p:.2f})"
        + (f", and {new.family} is simpler than {champion.family}" if simpler else "")
    )
