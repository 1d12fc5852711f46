"""Which folds a run's cross-validation scored, and each fold's accuracy, as two tags: what a
comparison of two runs pairs (a tag comes back with every run search; a metric's history does
not)."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from orchestration.record.names import FOLD_TAGS, TAG_FOLD_ACCURACY, TAG_FOLDS

# A tag holds at most 8000 characters: some 880 folds at 6 significant digits each.
_MAX_TAG = 8000
_WHICH = re.compile(r"^(\d+)-fold")


@dataclass(frozen=True)
class FoldScores:
    """A run's fold scores: `which` names the folds (their number, repeats, seed and the rows'
    digest), so that two runs are paired only when it is the same."""

    which: str
    folds: int
    accuracy: np.ndarray


def fold_tags(
    folds: int, repeats: int, seed: int, rows_digest: str, accuracy: np.ndarray
) -> dict[str, str]:
    """The tags that record the folds; none when the scores do not fit in a tag."""
    scores = ",".join(f"{v:.6g}" for v in accuracy)
    if len(scores) > _MAX_TAG:
        return {}
    return {
        TAG_FOLDS: f"{folds}-fold x {repeats}, seed {seed}, rows {rows_digest}",
        TAG_FOLD_ACCURACY: scores,
    }


def folds_of(tags: dict[str, str]) -> dict[str, str]:
    """The tags among `tags` that record the folds: what a run that stands for another copies."""
    return {k: v for k, v in tags.items() if k in FOLD_TAGS}


def read_folds(tags: dict[str, str]) -> FoldScores | None:
    """The fold scores a run (or a model version) recorded, None if it has none."""
    which, scores = tags.get(TAG_FOLDS), tags.get(TAG_FOLD_ACCURACY)
    found = _WHICH.match(which or "")
    if not (found and scores):
        return None
    return FoldScores(
        which or "", int(found.group(1)), np.array([float(v) for v in scores.split(",")])
    )
