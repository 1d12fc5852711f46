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
    from titanic.models import FoldMatrices

# Kaggle's 15 folds of the engineered features take 2.4 MB; a million rows' folds (240 MB
# each) are not kept.
MEMO_BYTES = 64 * 2**20


def nbytes(matrices: FoldMatrices) -> int:
    return sum(
        m.nbytes if isinstance(m, np.ndarray) else int(m.memory_usage(deep=True).sum())
        for m in matrices
    )


class FoldMemo:
    """Fold feature matrices by cross-validation (feature set, content of the rows and labels,
    folds, repeats, seed) and fold index."""

    def __init__(self, max_bytes: int = MEMO_BYTES) -> None:
        self._kept: LRUCache[tuple[Any, ...], FoldMatrices] = LRUCache(max_bytes, getsizeof=nbytes)
        self._lock = threading.Lock()  # a cluster worker runs configurations in threads

    def folds(
        self, features: str, passengers: pd.DataFrame, folds: int, repeats: int, seed: int
    ) -> Folds:
        """The kept folds of one cross-validation, as `titanic.models.cross_validate` takes
        them."""
        return Folds(self, (features, content_digest(passengers), folds, repeats, seed))

    def get(self, key: tuple[Any, ...]) -> FoldMatrices | None:
        with self._lock:
            return self._kept.get(key)

    def keep(self, key: tuple[Any, ...], matrices: FoldMatrices) -> None:
        if nbytes(matrices) <= self._kept.maxsize:
            with self._lock:
                self._kept[key] = matrices


class Folds:
    """One cross-validation's view of the memo: fold index to matrices."""

    def __init__(self, memo: FoldMemo, key: tuple[Any, ...]) -> None:
        self._memo, self._key = memo, key

    def get(self, fold: int) -> FoldMatrices | None:
        return self._memo.get((*self._key, fold))

    def __setitem__(self, fold: int, matrices: FoldMatrices) -> None:
        self._memo.keep((*self._key, fold), matrices)
