"""The tutorial's ordinal codes for categories, as category_encoders' OrdinalEncoder gives them
with its defaults (a test compares the two), with fitted state that skops can store."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from titanic.features import stored


class Ordinal(BaseEstimator, TransformerMixin):  # type: ignore[misc]  # scikit-learn ships no types
    """`columns` as integer codes: 1, 2, … in the order their values first appear among the
    training rows, -1 for a value training never saw, and for a missing value -2 (or, when
    training had missing values, the code after the last). What category_encoders'
    OrdinalEncoder gives with its defaults, with its fitted state as plain arrays, which
    skops stores (the other keeps pandas objects, which it cannot)."""

    def __init__(self, columns: tuple[str, ...] = ()) -> None:
        self.columns = columns

    def fit(self, X: pd.DataFrame, y: pd.Series | None = None) -> Ordinal:
        self.categories_ = {
            column: stored(pd.unique(X[column].dropna())) for column in self.columns
        }
        self.missing_ = {
            column: len(self.categories_[column]) + 1 if X[column].isna().any() else -2
            for column in self.columns
        }
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        coded = {}
        for column, known in self.categories_.items():
            found = pd.Index(known).get_indexer(X[column])
            coded[column] = np.where(
                X[column].isna(), self.missing_[column], np.where(found >= 0, found + 1, -1)
            ).astype("int64")
        return X.assign(**coded)
