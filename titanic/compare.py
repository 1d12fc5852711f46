"""How sure a cross-validated score is, and whether two models scored on the same folds differ.

Repeated k-fold scores are not independent: every fold of a repeat trains on rows the others
trained on too, so the plain standard error (std / sqrt(n)) is too small, and tests that take
the folds as independent samples (a t-test, Wilcoxon's signed-rank test) call too many
differences real. Nadeau and Bengio's correction (Machine Learning 52, 2003; for repeated
k-fold, Bouckaert and Frank, PAKDD 2004) widens the variance of a mean over n folds from
s²/n to (1/n + n_test/n_train)·s², where n_test/n_train = 1/(k - 1) for k folds.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import stdtr  # Student's t CDF: scipy.stats costs 0.4 s more to import

# Below this p-value, two models' scores on the same folds differ; above, they are tied.
ALPHA = 0.05


def _correction(n: int, folds: int) -> float:
    return 1.0 / n + 1.0 / (folds - 1)


def standard_error(scores: np.ndarray, folds: int) -> float:
    """The corrected standard error of the mean of `scores` (k = `folds`, any repeats)."""
    if len(scores) < 2:
        return math.nan
    return float(math.sqrt(_correction(len(scores), folds) * np.var(scores, ddof=1)))


def p_value(a: np.ndarray, b: np.ndarray, folds: int) -> float:
    """Two-sided p-value of the corrected resampled t-test that `a` and `b`, scored on the
    same folds in the same order, have the same mean."""
    differences = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if len(differences) < 2:
        return math.nan
    mean = float(differences.mean())
    variance = float(np.var(differences, ddof=1))
    if variance == 0.0:  # the same model, or one that differs on every fold alike
        return 1.0 if mean == 0.0 else 0.0
    t = mean / math.sqrt(_correction(len(differences), folds) * variance)
    return float(2 * stdtr(len(differences) - 1, -abs(t)))
