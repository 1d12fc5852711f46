"""Categories as the numbers a classifier takes: the engineered columns as one float matrix
(`Encode`), and the tutorial's ordinal codes (`Ordinal`).

What scikit-learn's SimpleImputer, OneHotEncoder and StandardScaler in a ColumnTransformer
give, to within rounding, computed column by column on integer codes: their checks and
conversions of text columns cost more than the model on a few hundred rows, and most of
the time at a million.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from titanic.features import positions, stored


def _number(X: pd.DataFrame, column: str) -> np.ndarray:
    """A column as a new float array, missing or unreadable values as NaN."""
    values = X[column]
    if not pd.api.types.is_numeric_dtype(values.dtype):
        values = pd.to_numeric(values, errors="coerce")
    return np.asarray(values.to_numpy(dtype=float, na_value=np.nan, copy=True))


def _vocabulary(column: pd.Series) -> tuple[np.ndarray, int]:
    """The values a column holds, sorted, and the position of the most frequent (the
    smallest of those tied, as SimpleImputer picks); (empty, 0) for a column of nothing."""
    codes, distinct = pd.factorize(column)
    counts = np.bincount(codes[codes >= 0], minlength=len(distinct))
    values = distinct.tolist()
    known = sorted(values)
    if not known:
        return stored(known), 0
    top = counts.max()
    most = min(v for v, n in zip(values, counts, strict=True) if n == top)
    return stored(known), known.index(most)


class Encode(BaseEstimator, TransformerMixin):  # type: ignore[misc]  # scikit-learn ships no types
    """One-hot `categorical` columns then standardised `numeric` ones. A missing category
    takes the most frequent training value (its own column when training had none); one
    that training never saw gets no column set. A missing number takes the training median
    (0 when training had none); numbers are then centred and scaled by the training mean
    and standard deviation (a constant column is only centred)."""

    def __init__(self, categorical: tuple[str, ...] = (), numeric: tuple[str, ...] = ()) -> None:
        self.categorical = categorical
        self.numeric = numeric

    def fit(self, X: pd.DataFrame, y: pd.Series | None = None) -> Encode:
        self.categories_: dict[str, tuple[np.ndarray, int]] = {
            column: _vocabulary(X[column]) for column in self.categorical
        }
        self.medians_ = np.zeros(len(self.numeric))
        self.mean_ = np.zeros(len(self.numeric))
        self.scale_ = np.ones(len(self.numeric))
        # Column by column: a million rows' block of numbers would be one more copy at its peak.
        for i, column in enumerate(self.numeric):
            values = _number(X, column)
            known = values[~np.isnan(values)]
            self.medians_[i] = np.median(known) if len(known) else 0.0
            values[np.isnan(values)] = self.medians_[i]
            self.mean_[i], variance = values.mean(), values.var()
            # Constant to within rounding, as StandardScaler judges it: scaled by 1, not ~0.
            rows, eps = len(values), np.finfo(np.float64).eps
            if variance > rows * eps * variance + (rows * self.mean_[i] * eps) ** 2:
                self.scale_[i] = np.sqrt(variance)
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        widths = [len(known) + (len(known) == 0) for known, _ in self.categories_.values()]
        out = np.zeros((len(X), sum(widths) + len(self.numeric)))
        start = 0
        for (column, (known, fill)), width in zip(self.categories_.items(), widths, strict=True):
            codes, distinct = pd.factorize(X[column])
            found = positions(codes, distinct.astype(object), known, missing=fill)
            rows = np.flatnonzero(found >= 0)
            out[rows, start + found[rows]] = 1.0
            start += width
        for i, column in enumerate(self.numeric):
            values = _number(X, column)
            values[np.isnan(values)] = self.medians_[i]
            out[:, start + i] = (values - self.mean_[i]) / self.scale_[i]
        return out

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        """A name for each column `transform` makes: `Sex=female`, … (`Title=?` for a column
        that training had no value of), then the numbers' own names."""
        names = [
            f"{column}={value}"
            for column, (known, _) in self.categories_.items()
            for value in (known if len(known) else ["?"])
        ]
        return np.array([*names, *self.numeric], dtype=object)


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
