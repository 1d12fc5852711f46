"""Model families and feature sets as one scikit-learn Pipeline on raw passenger rows,
and cross-validation to compare them honestly.

Families and the hyperparameters each uses are named in `titanic.families`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    RandomForestClassifier,
    VotingClassifier,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import RepeatedStratifiedKFold
from sklearn.pipeline import Pipeline

from titanic.encoding import Encode, Ordinal
from titanic.families import RULES
from titanic.features import AgeByTitle, Cabin, Family, GroupSurvival, TicketGroup, Title
from titanic.passengers import FEATURES, TARGET
from titanic.rules import Gender, RuleInputs, WomanChildGroup

ENGINEERED_CATEGORICAL = ("Sex", "Embarked", "Title", "Deck")
ENGINEERED_NUMERIC = (
    "Pclass",
    "Age",
    "SibSp",
    "Parch",
    "Fare",
    "FamilySize",
    "IsAlone",
    "TicketGroupSize",
    "FarePerPerson",
    "HasCabin",
    "GroupSurvival",
    "GroupKnown",
)


def tutorial_features() -> list[tuple[str, Any]]:
    """The original tutorial's preprocessing: mean/mode imputation, ordinal-encoded Sex and
    Embarked, the ID and text columns dropped."""
    impute = ColumnTransformer(
        [
            ("mean", SimpleImputer(strategy="mean", keep_empty_features=True), ["Age", "Fare"]),
            (
                "mode",
                SimpleImputer(strategy="most_frequent", keep_empty_features=True),
                ["Embarked"],
            ),
            # Never missing in Kaggle's files, but they may be in others: the mode, not an error.
            (
                "keep",
                SimpleImputer(strategy="most_frequent", keep_empty_features=True),
                ["Pclass", "Sex", "SibSp", "Parch"],
            ),
        ],
        remainder="drop",  # PassengerId, Name, Ticket and Cabin
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")
    return [("impute", impute), ("encode", Ordinal(("Sex", "Embarked")))]


def engineered_features() -> list[tuple[str, Any]]:
    """Title, family, ticket group, cabin deck, age by title and group survival, then
    imputation, one-hot categories and scaled numbers."""
    return [
        ("title", Title()),
        ("family", Family()),
        ("ticket", TicketGroup()),
        ("cabin", Cabin()),
        ("age", AgeByTitle()),
        ("group", GroupSurvival()),
        ("encode", Encode(ENGINEERED_CATEGORICAL, ENGINEERED_NUMERIC)),
    ]


def classifier(model: str, hp: dict[str, Any], seed: int) -> Any:
    """The estimator of a family, from the hyperparameters it uses."""
    if model == "logreg":
        return LogisticRegression(
            C=hp["C"], max_iter=hp["max_iter"], solver=hp["solver"], random_state=seed
        )
    if model == "hgb":
        return HistGradientBoostingClassifier(
            learning_rate=hp["learning_rate"],
            max_depth=hp["max_depth"],
            max_iter=hp["n_trees"],
            min_samples_leaf=hp["min_samples_leaf"],
            random_state=seed,
        )
    if model == "rf":
        return RandomForestClassifier(
            n_estimators=hp["n_trees"],
            max_depth=hp["max_depth"],
            min_samples_leaf=hp["min_samples_leaf"],
            random_state=seed,
            n_jobs=1,
        )
    if model == "vote":
        return VotingClassifier(
            [(name, classifier(name, hp, seed)) for name in ("logreg", "hgb", "rf")], voting="soft"
        )
    raise ValueError(f"unknown model family {model!r}")


def build_pipeline(model: str, features: str, hp: dict[str, Any], seed: int) -> Pipeline:
    """Features and classifier as one pipeline, fitted on training rows only, so the model
    takes raw passenger rows and nothing leaks from rows it is scored on. A rule (a baseline)
    reads its own few inputs, whatever the feature set."""
    if model in RULES:
        rule = Gender() if model == "gender" else WomanChildGroup()
        return Pipeline([("inputs", RuleInputs()), ("classify", rule)])
    steps = tutorial_features() if features == "tutorial" else engineered_features()
    return Pipeline([*steps, ("classify", classifier(model, hp, seed))])


# A fold's features, fitted on its fitting rows: those rows as the classifier takes them, and
# its scored rows.
FoldMatrices = tuple[Any, Any]


class KeptFolds(Protocol):
    """Each fold's feature matrices by fold index, kept from an earlier cross-validation of the
    same rows, folds, repeats, seed and feature set (a dict will do)."""

    def get(self, fold: int) -> FoldMatrices | None: ...

    def __setitem__(self, fold: int, matrices: FoldMatrices) -> None: ...


def cross_validate(
    pipeline: Pipeline,
    passengers: pd.DataFrame,
    folds: int,
    repeats: int,
    seed: int,
    after_fold: Callable[[list[float], int], None] | None = None,
    kept: KeptFolds | None = None,
) -> np.ndarray:
    """Accuracy on each fold of stratified, repeated k-fold cross-validation; every fold
    refits the whole pipeline, features included. `after_fold(scores so far, folds in all)`
    is called as each fold ends, and may stop the rest by raising. Given `kept`, a fold whose
    features it holds fits only the classifier, to the same score, and one it lacks is added
    to it."""
    rows, labels = passengers[list(FEATURES)], passengers[TARGET]
    splits = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    scores: list[float] = []
    for fold, (fit_on, score_on) in enumerate(splits.split(rows, labels)):
        matrices = kept.get(fold) if kept is not None else None
        if matrices is None:
            matrices = fold_features(pipeline, rows, labels, fit_on, score_on)
            if kept is not None:
                kept[fold] = matrices
        fitted, scored = matrices
        classifier = clone(pipeline[-1]).fit(fitted, labels.iloc[fit_on])
        scores.append(float(classifier.score(scored, labels.iloc[score_on])))
        if after_fold is not None:
            after_fold(scores, folds * repeats)
    return np.array(scores)


def fold_features(
    pipeline: Pipeline,
    rows: pd.DataFrame,
    labels: pd.Series,
    fit_on: np.ndarray,
    score_on: np.ndarray,
) -> FoldMatrices:
    """What the pipeline's steps before its classifier make of a fold's rows, fitted on its
    fitting rows only, as the whole pipeline's fit and score would; read-only, as they may be
    kept for other classifiers."""
    features = clone(pipeline[:-1])
    matrices = (
        features.fit_transform(rows.iloc[fit_on], labels.iloc[fit_on]),
        features.transform(rows.iloc[score_on]),
    )
    for matrix in matrices:
        if isinstance(matrix, np.ndarray):
            matrix.setflags(write=False)
    return matrices
