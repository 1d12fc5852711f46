"""The engineered columns as the one float matrix a classifier takes.

What scikit-learn's SimpleImputer, OneHotEncoder and StandardScaler in a ColumnTransformer
give, to within rounding, computed column by column on integer codes: their checks and
conversions of text columns cost more than the model on a few hundred rows, and most of
the time at a million.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from titanic.features import positions


def _numbers(X: pd.DataFrame, columns: tuple[str, ...]) -> np.ndarray:
    """The columns as one new float matrix, missing or unreadable values as NaN."""
    frame = X[list(columns)]
    text = {c: pd.to_numeric(frame[c], errors="coerce") for c, kind in frame.dtypes.items()
            if not pd.api.types.is_numeric_dtype(kind)}
    return frame.assign(**text).to_numpy(dtype=float, na_value=np.nan, copy=True)


def _vocabulary(column: pd.Series) -> tuple[pd.Index, int]:
    """The values a column holds, sorted, and the position of the most frequent (the
    smallest of those tied, as SimpleImputer picks); (empty, 0) for a column of nothing."""
    codes, distinct = pd.factorize(column)
    counts = np.bincount(codes[codes >= 0], minlength=len(distinct))
    values = distinct.tolist()
    known = pd.Index(sorted(values), dtype=object)
    if not len(known):
        return known, 0
    most = min(v for v, n in zip(values, counts) if n == counts.max())
    return known, known.get_loc(most)


class Encode(BaseEstimator, TransformerMixin):
    """One-hot `categorical` columns then standardised `numeric` ones. A missing category
    takes the most frequent training value (its own column when training had none); one
    that training never saw gets no column set. A missing number takes the training median
    (0 when training had none); numbers are then centred and scaled by the training mean
    and standard deviation (a constant column is only centred)."""

    def __init__(self, categorical: tuple[str, ...] = (), numeric: tuple[str, ...] = ()
                 ) -> None:
        self.categorical = categorical
        self.numeric = numeric

    def fit(self, X: pd.DataFrame, y: pd.Series | None = None) -> Encode:
        self.categories_: dict[str, tuple[pd.Index, int]] = {
            column: _vocabulary(X[column]) for column in self.categorical}
        values = _numbers(X, self.numeric)
        missing = np.isnan(values)
        known = (~missing).any(axis=0)
        self.medians_ = np.zeros(len(self.numeric))
        if known.any():
            self.medians_[known] = np.nanmedian(values[:, known], axis=0)
        values[missing] = np.broadcast_to(self.medians_, values.shape)[missing]
        self.mean_, variance = values.mean(axis=0), values.var(axis=0)
        # Constant to within rounding, as StandardScaler judges it: scaled by 1, not ~0.
        rows, eps = len(values), np.finfo(np.float64).eps
        varies = variance > rows * eps * variance + (rows * self.mean_ * eps) ** 2
        self.scale_ = np.where(varies, np.sqrt(variance), 1.0)
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        widths = [len(known) + (len(known) == 0) for known, _ in self.categories_.values()]
        out = np.zeros((len(X), sum(widths) + len(self.numeric)))
        start = 0
        for (column, (known, fill)), width in zip(self.categories_.items(), widths):
            codes, distinct = pd.factorize(X[column])
            found = positions(codes, distinct.astype(object), known, missing=fill)
            rows = np.flatnonzero(found >= 0)
            out[rows, start + found[rows]] = 1.0
            start += width
        values = _numbers(X, self.numeric)
        missing = np.isnan(values)
        values[missing] = np.broadcast_to(self.medians_, values.shape)[missing]
        out[:, start:] = (values - self.mean_) / self.scale_
        return out
