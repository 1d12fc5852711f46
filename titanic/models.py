"""What `train` fits (`ModelSpec`: a family and its hyperparameters on a feature set, as one
scikit-learn Pipeline on raw passenger rows) and how its accuracy is cross-validated honestly.

Families and the hyperparameters each uses are declared in `titanic.families`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import RepeatedStratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from titanic.encoding import Ordinal
from titanic.families import FAMILY_PARAMS, OWN_INPUTS, RULES, classifier
from titanic.features import AgeByTitle, Cabin, Family, GroupSurvival, TicketGroup, Title
from titanic.passengers import FEATURES, TARGET
from titanic.rules import INPUTS, Gender, RuleColumns, RuleInputs, WomanChildGroup

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


def engineered_encoding(passed: tuple[str, ...] = ()) -> ColumnTransformer:
    """Missing categories as the most frequent, then one-hot (unseen ones set no column);
    missing numbers as the median, then standardised; the `passed` columns as they are."""
    kept = [("passed", "passthrough", list(passed))] if passed else []
    return ColumnTransformer(
        [
            (
                "categories",
                make_pipeline(
                    SimpleImputer(strategy="most_frequent", keep_empty_features=True),
                    OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                ),
                list(ENGINEERED_CATEGORICAL),
            ),
            (
                "numbers",
                make_pipeline(
                    SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler()
                ),
                list(ENGINEERED_NUMERIC),
            ),
            *kept,
        ],
        verbose_feature_names_out=False,  # `Sex_female`, `Age`: what SHAP's plots name
    )


def engineered_features() -> list[tuple[str, Any]]:
    """Title, family, ticket group, cabin deck, age by title and group survival, then the
    classifier's matrix (`engineered_encoding`)."""
    return [
        ("title", Title()),
        ("family", Family()),
        ("ticket", TicketGroup()),
        ("cabin", Cabin()),
        ("age", AgeByTitle()),
        ("group", GroupSurvival()),
        ("encode", engineered_encoding()),
    ]


def rule_and_engineered_features() -> list[tuple[str, Any]]:
    """The engineered features and the rules' inputs beside them, unscaled, as named columns:
    what `wcgplus` reads."""
    steps = engineered_features()[:-1]
    encode = engineered_encoding(passed=INPUTS).set_output(transform="pandas")
    return [*steps, ("rule", RuleColumns()), ("encode", encode)]


@dataclass(frozen=True)
class ModelSpec:
    """What `train` fits: a family (`model`), the feature set it reads, the hyperparameters
    the family uses, and the seed of its randomness."""

    model: str
    features: str
    hyperparameters: Mapping[str, Any]
    seed: int

    @classmethod
    def of(cls, params: Mapping[str, Any]) -> ModelSpec:
        """The spec in a step's typed parameters: the family's own hyperparameters only."""
        model = params["model"]
        used = {name: params[name] for name in FAMILY_PARAMS[model]}
        return cls(model, params["features"], used, params["seed"])

    def pipeline(self) -> Pipeline:
        """Features and classifier as one pipeline, fitted on training rows only, so the model
        takes raw passenger rows and nothing leaks from rows it is scored on. A rule (a
        baseline) reads its own few inputs, whatever the feature set."""
        if self.model in RULES:
            rule = Gender() if self.model == "gender" else WomanChildGroup()
            return Pipeline([("inputs", RuleInputs()), ("classify", rule)])
        if self.model in OWN_INPUTS:
            steps = rule_and_engineered_features()
        elif self.features == "tutorial":
            steps = tutorial_features()
        else:
            steps = engineered_features()
        estimator = classifier(self.model, dict(self.hyperparameters), self.seed)
        return Pipeline([*steps, ("classify", estimator)])


# A fold's features, fitted on its fitting rows: those rows as the classifier takes them, and
# its scored rows.
FoldFeatures = tuple[Any, Any]


class KeptFolds(Protocol):
    """Each fold's features by fold index, kept from an earlier cross-validation of the same
    rows, folds, repeats, seed and feature set (a dict will do)."""

    def get(self, fold: int) -> FoldFeatures | None: ...

    def __setitem__(self, fold: int, features: FoldFeatures) -> None: ...


@dataclass(frozen=True)
class Hooks:
    """What a pipeline or a search hands cross-validation besides the rows: they may stop it
    or spare it recomputing features, never change a score. Nothing, for a step run alone."""

    # Hears of each fold as it ends: (scores so far, folds in all). A tuning trial's pruner,
    # which may stop the work by raising.
    after_fold: Callable[[list[float], int], None] | None = None
    # A search worker's fold features for (feature set, rows, folds, repeats, seed), kept from
    # the configurations it ran before.
    kept_folds: Callable[[str, pd.DataFrame, int, int, int], KeptFolds] | None = None


def fold_accuracies(
    spec: ModelSpec,
    passengers: pd.DataFrame,
    folds: int,
    repeats: int,
    hooks: Hooks | None = None,
) -> np.ndarray:
    """Accuracy on each fold of stratified, repeated k-fold cross-validation (seeded by the
    spec); every fold refits the whole pipeline, features included. `hooks.after_fold` hears
    of each fold as it ends; a fold whose features `hooks.kept_folds` holds fits only the
    classifier, to the same score, and one it lacks is added to it (a family that reads its
    own inputs, whatever the feature set, keeps none)."""
    hooks = hooks or Hooks()
    pipeline = spec.pipeline()
    rows, labels = passengers[list(FEATURES)], passengers[TARGET]
    kept = None
    if hooks.kept_folds is not None and spec.model not in OWN_INPUTS:  # a feature set's folds
        kept = hooks.kept_folds(spec.features, passengers, folds, repeats, spec.seed)
    splits = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=spec.seed)
    scores: list[float] = []
    for fold, (fit_on, score_on) in enumerate(splits.split(rows, labels)):
        features = kept.get(fold) if kept is not None else None
        if features is None:
            features = fold_features(pipeline, rows, labels, fit_on, score_on)
            if kept is not None:
                kept[fold] = features
        fitted, scored = features
        classifier = clone(pipeline[-1]).fit(fitted, labels.iloc[fit_on])
        scores.append(float(classifier.score(scored, labels.iloc[score_on])))
        if hooks.after_fold is not None:
            hooks.after_fold(scores, folds * repeats)
    return np.array(scores)


def fold_features(
    pipeline: Pipeline,
    rows: pd.DataFrame,
    labels: pd.Series,
    fit_on: np.ndarray,
    score_on: np.ndarray,
) -> FoldFeatures:
    """What the pipeline's steps before its classifier make of a fold's rows, fitted on its
    fitting rows only, as the whole pipeline's fit and score would; read-only, as they may be
    kept for other classifiers."""
    steps = clone(pipeline[:-1])
    features = (
        steps.fit_transform(rows.iloc[fit_on], labels.iloc[fit_on]),
        steps.transform(rows.iloc[score_on]),
    )
    for matrix in features:
        if isinstance(matrix, np.ndarray):
            matrix.setflags(write=False)
    return features
