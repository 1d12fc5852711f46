"""The statistics of the selection rule (titanic/compare.py): the corrected standard error and
the corrected resampled t-test, against their formulas and scipy's plain paired test."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from titanic.compare import p_value, standard_error

A = np.array([0.84, 0.85, 0.83, 0.86, 0.84, 0.82, 0.85, 0.83, 0.87, 0.84])
B = np.array([0.82, 0.86, 0.80, 0.85, 0.83, 0.80, 0.84, 0.83, 0.85, 0.82])


def test_standard_error_is_widened_for_the_folds_overlap() -> None:
    plain = np.std(A, ddof=1) / math.sqrt(len(A))
    # 5-fold × 2 repeats: (1/10 + 1/4) against 1/10.
    assert standard_error(A, 5) == pytest.approx(plain * math.sqrt(3.5))
    assert math.isnan(standard_error(A[:1], 5))


def test_the_corrected_test_is_the_paired_t_test_with_a_wider_variance() -> None:
    t_plain, p_plain = stats.ttest_rel(A, B)
    t = t_plain / math.sqrt(3.5)  # the same correction, on the differences
    assert p_value(A, B, 5) == pytest.approx(2 * stats.t.sf(abs(t), df=len(A) - 1))
    assert p_plain < 0.05 < p_value(A, B, 5)  # what the plain test calls real, this ties
    assert p_value(A, B, 5) == pytest.approx(p_value(B, A, 5))


def test_the_same_scores_tie_and_a_constant_gap_does_not() -> None:
    assert p_value(A, A, 5) == 1.0
    assert p_value(A, A - 0.01, 5) == 0.0
