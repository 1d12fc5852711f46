"""What a search worker keeps between the configurations it runs: each cross-validation fold's
feature matrices. A search's configurations cross-validate the same rows on the same folds and
mostly differ in the classifier, so once a worker has fitted a feature set on a fold, later
configurations fit only their classifier there, to the same scores. For a logistic regression
on Kaggle's rows that is most of its cross-validation time.

Kept in memory, per process, least recently used first out, up to MEMO_BYTES; a process that
fits one configuration (`main`, a step alone) keeps nothing.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from cachetools import LRUCache

from orchestration.record.datasets import content_digest

if TYPE_CHECKING:  # scikit-learn loads with the model; a search's own process never needs it
    from titanic.models import FoldFeatures

# Kaggle's 15 folds of the engineered features take 2.4 MB; a million rows' folds (240 MB
# each) are not kept.
MEMO_BYTES = 64 * 2**20


def nbytes(features: FoldFeatures) -> int:
    return sum(
        m.nbytes if isinstance(m, np.ndarray) else int(m.memory_usage(deep=True).sum())
        for m in features
    )


class FoldMemo:
    """Fold features by cross-validation (feature set, content of the rows and labels,
    folds, repeats, seed) and fold index."""

    def __init__(self, max_bytes: int = MEMO_BYTES) -> None:
        self._kept: LRUCache[tuple[Any, ...], FoldFeatures] = LRUCache(max_bytes, getsizeof=nbytes)
        self._lock = threading.Lock()  # a cluster worker runs configurations in threads

    def kept_folds(
        self, features: str, passengers: pd.DataFrame, folds: int, repeats: int, seed: int
    ) -> MemoFolds:
        """The kept folds of one cross-validation, as `titanic.models.Hooks.kept_folds` gives
        them."""
        return MemoFolds(self, (features, content_digest(passengers), folds, repeats, seed))

    def get(self, key: tuple[Any, ...]) -> FoldFeatures | None:
        with self._lock:
            return self._kept.get(key)

    def keep(self, key: tuple[Any, ...], features: FoldFeatures) -> None:
        if nbytes(features) <= self._kept.maxsize:
            with self._lock:
                self._kept[key] = features


class MemoFolds:
    """One cross-validation's view of the memo: fold index to its features."""

    def __init__(self, memo: FoldMemo, key: tuple[Any, ...]) -> None:
        self._memo, self._key = memo, key

    def get(self, fold: int) -> FoldFeatures | None:
        return self._memo.get((*self._key, fold))

    def __setitem__(self, fold: int, features: FoldFeatures) -> None:
        self._memo.keep((*self._key, fold), features)
