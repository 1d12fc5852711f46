"""The baseline rules (titanic/rules.py) on tiny frames: what each predicts, what a passenger
may not know of itself, and that they score as the model families do."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from steps.train import cv_scores
from tests.support import default_training_rows
from tests.test_features import rows
from titanic.models import ModelSpec
from titanic.rules import INPUTS, RuleInputs

# The Smiths travel together (family and ticket S1); Mrs Brown and her boy on ticket B1; a
# lone man.
PEOPLE = [
    {"Name": "Smith, Mrs. Ann", "Sex": "female", "Ticket": "S1"},
    {"Name": "Smith, Master. Tom", "Ticket": "S1"},
    {"Name": "Smith, Mr. Dan", "Ticket": "S1"},
    {"Name": "Brown, Mrs. Gail", "Sex": "female", "Ticket": "B1"},
    {"Name": "Brown, Master. Ben", "Ticket": "B1"},
    {"Name": "Lone, Mr. Ed", "Ticket": "L1"},
]
SURVIVED = pd.Series([1, 1, 0, 0, 0, 0])


def predicted(model: str, training: pd.DataFrame, labels: pd.Series, new: pd.DataFrame) -> list:
    return (
        ModelSpec(model, "engineered", {}, 0).pipeline().fit(training, labels).predict(new).tolist()
    )


def test_gender_says_women_survive() -> None:
    people = rows(*PEOPLE)
    assert predicted("gender", people, SURVIVED, people) == [1, 0, 0, 1, 0, 0]


def test_woman_child_group_follows_the_group_of_women_and_children() -> None:
    training = rows(*PEOPLE)
    # The Smith woman and boy lived: each other's group all lived, so both live, and so does
    # Mr Smith. The Browns both died: each other's group all died, so both die. The lone
    # man has no group: he dies.
    assert predicted("wcg", training, SURVIVED, training) == [1, 1, 1, 0, 0, 0]
    # New passengers: a Smith girl (group all lived), a Brown man (group all died), a woman
    # with no group (lives), a Smith boy on another ticket (his family lived).
    new = rows(
        {"PassengerId": 11, "Name": "Smith, Miss. Amy", "Sex": "female", "Ticket": "X"},
        {"PassengerId": 12, "Name": "Brown, Mr. Bob", "Ticket": "B1"},
        {"PassengerId": 13, "Name": "Alone, Miss. Una", "Sex": "female", "Ticket": "U1"},
        {"PassengerId": 14, "Name": "Smith, Master. Sam", "Ticket": "Y"},
    )
    assert predicted("wcg", training, SURVIVED, new) == [1, 0, 1, 1]


def test_a_passenger_never_counts_towards_its_own_group() -> None:
    # Mrs Brown alone in training, labelled dead: her own label must not make her group
    # "all died" when she is scored.
    training = rows(PEOPLE[3], PEOPLE[5])
    inputs = RuleInputs().fit(training, pd.Series([0, 0])).transform(training)
    assert list(inputs.columns) == list(INPUTS)
    assert inputs["GroupMates"].tolist() == [0.0, 0.0]
    assert predicted("wcg", training, pd.Series([0, 0]), training) == [1, 0]


def test_rules_take_bare_arrays_as_shap_hands_them_in() -> None:
    people = rows(*PEOPLE)
    pipeline = ModelSpec("wcg", "engineered", {}, 0).pipeline().fit(people, SURVIVED)
    matrix = pipeline[:-1].transform(people).to_numpy()
    assert pipeline[-1].predict_proba(matrix)[:, 1].tolist() == [1, 1, 1, 0, 0, 0]


@pytest.mark.parametrize("model", ["gender", "wcg"])
def test_rules_cross_validate_like_the_families(model: str) -> None:
    scores = cv_scores(default_training_rows(), ModelSpec(model, "engineered", {}, 123), 5, 1)
    assert len(scores) == 5 and 0.7 < float(np.mean(scores)) < 0.85


def test_families_match_whether_the_class_reads_as_whole_or_decimal() -> None:
    """A file with a missing Pclass is read with decimal classes (3.0): its passengers still
    find the families learned from a file read with whole ones (3)."""
    training = rows(*PEOPLE)
    new = rows({"PassengerId": 11, "Name": "Brown, Mr. Bob", "Ticket": "X"}).astype(
        {"Pclass": float}
    )
    inputs = RuleInputs().fit(training, SURVIVED).transform(new)
    assert inputs["GroupMates"].tolist() == [2.0]  # Mrs Brown and her boy
