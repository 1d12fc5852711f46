"""The steps' pure cores (steps/): prepare, train and evaluate on small frames."""

from __future__ import annotations

import platform
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow.models import Model
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_info, threadpool_limits

from orchestration.record.models import environment_mismatches
from steps.evaluate import evaluate
from steps.prepare import prepare, profile
from steps.train import OPENMP_MIN_ROWS, thread_limits, train
from tests.support import DATA, LOGREG, passengers
from titanic.errors import InputError
from titanic.models import ModelSpec
from titanic.passengers import FEATURES, TARGET, read_passengers


def test_prepare_splits_like_the_tutorial() -> None:
    raw = read_passengers(DATA / "train.csv", with_target=True, source="data")
    train_rows, valid_rows = prepare(raw, 0.25, 123)
    expected_train, expected_valid = train_test_split(raw, test_size=0.25, random_state=123)
    pd.testing.assert_frame_equal(train_rows, expected_train)
    pd.testing.assert_frame_equal(valid_rows, expected_valid)
    assert (len(train_rows), len(valid_rows)) == (668, 223)


def test_prepare_rejects_a_split_too_small() -> None:
    with pytest.raises(InputError, match="cannot split 1 rows"):
        prepare(passengers(1), 0.25, 1)


def test_prepare_rejects_one_class() -> None:
    with pytest.raises(InputError, match="passengers who survived and who did not"):
        prepare(passengers(20).assign(Survived=1), 0.25, 1)


def test_profile_counts_missing_values() -> None:
    facts = profile(passengers(40))
    assert facts["rows"] == 40
    assert facts["missing"]["Age"] == 8 and facts["missing"]["Cabin"] == 40
    assert facts["survival_rate"] == 0.5


def test_train_learns_from_raw_rows_with_missing_values() -> None:
    rows = passengers(40)
    model = train(rows, ModelSpec("logreg", "tutorial", LOGREG, 0))
    # Raw rows, test.csv's columns, with missing Age, Embarked and Cabin.
    predicted = model.predict(rows[list(FEATURES)])
    assert set(predicted) == {0, 1}
    assert model.score(rows[list(FEATURES)], rows[TARGET]) == 1.0  # Sex alone separates these


def test_train_parameters_reach_the_classifier() -> None:
    model = train(
        passengers(40),
        ModelSpec("logreg", "tutorial", {"C": 0.25, "max_iter": 77, "solver": "liblinear"}, 5),
    )
    classifier = model.named_steps["classify"]
    assert (classifier.C, classifier.max_iter, classifier.solver, classifier.random_state) == (
        0.25,
        77,
        "liblinear",
        5,
    )


def test_evaluate_metrics_on_known_scores() -> None:
    truth = pd.Series([1, 1, 0, 0])
    score = np.array([0.9, 0.4, 0.6, 0.1])  # one of each error
    result = evaluate(truth, score)
    assert result["val_accuracy"] == 0.5
    assert result["val_precision"] == 0.5 and result["val_recall"] == 0.5
    assert result["val_roc_auc"] == 0.75
    assert result["val_log_loss"] == pytest.approx(-np.mean(np.log([0.9, 0.4, 0.4, 0.9])))


def test_a_model_fitted_in_another_environment_is_told_apart(tmp_path: Path) -> None:
    here = platform.python_version()
    model = Model(flavors={"python_function": {"python_version": here}})
    (tmp_path / "requirements.txt").write_text(
        f"numpy=={version('numpy')}\npandas=={version('pandas')}\n"
    )
    assert environment_mismatches(tmp_path, model) == []  # what train pins, as installed

    (tmp_path / "requirements.txt").write_text(
        f"numpy==1.0.0\npandas=={version('pandas')}\nno-such-package==1.0\n"
    )
    model = Model(flavors={"python_function": {"python_version": "2.7.18"}})
    assert environment_mismatches(tmp_path, model) == [
        f"numpy {version('numpy')} (fitted with ==1.0.0)",
        "no-such-package missing (fitted with ==1.0)",
        f"Python {here} (fitted with 2.7.18)",
    ]


def test_a_fit_on_few_rows_takes_one_openmp_thread_and_on_many_every_core() -> None:
    """OpenMP threads on Kaggle's rows gain nothing and, beside another run, cost several
    times over; from OPENMP_MIN_ROWS rows they pay. BLAS keeps one thread either way."""

    def threads(api: str) -> set[int]:
        return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == api}

    with threadpool_limits(2):  # as on a machine of two cores
        assert threads("openmp") == {2}
        with threadpool_limits(thread_limits(668)):
            assert threads("openmp") == {1} and threads("blas") == {1}
        with threadpool_limits(thread_limits(OPENMP_MIN_ROWS)):
            assert threads("openmp") == {2} and threads("blas") == {1}
