"""The baselines: two hand-written rules as model families, fitted, scored and served like the
others, so that every ranking has a floor to read against.

- `gender`: women survive, men die.
- `wcg`, the woman-child-group rule: women and children (boys, titled Master) survive unless
  the women and children of their family (surname and class) or ticket group all died; men die
  unless their group's women and children all lived. Groups are learned from the training rows'
  labels; a training passenger never counts towards its own group.

Both read a few numbers (`RuleInputs`), so that SHAP can explain them as it explains the
other families' encoded features.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin

from titanic.features import (
    Counted,
    TrainingRows,
    family_codes,
    is_itself,
    positions,
    ticket_codes,
    title_of,
)
from titanic.passengers import ID

INPUTS = ("Female", "WomanOrChild", "GroupMates", "GroupLived")


def group_codes(X: pd.DataFrame) -> dict[str, tuple[np.ndarray, pd.Index]]:
    """Every row's family (surname and class) and ticket, as codes into the distinct keys
    (-1: unknown): the groups `titanic.features.GroupSurvival` reads, for men too."""
    families, distinct_families, _ = family_codes(X)
    return {"family": (families, distinct_families), "ticket": ticket_codes(X)}


def woman_or_child(X: pd.DataFrame) -> np.ndarray:
    boys = X["Name"].map(lambda n: title_of(n) == "Master").to_numpy(dtype=bool)
    return np.asarray(female(X) | boys)


def female(X: pd.DataFrame) -> np.ndarray:
    return np.asarray(X["Sex"].astype(object).eq("female").to_numpy(dtype=bool))


class RuleInputs(BaseEstimator, TransformerMixin):  # type: ignore[misc]  # sklearn has no types
    """What the rules read of a passenger: female, woman or child, and how many women and
    children of its family or ticket group the training rows hold and how many of them lived
    (a mate in both groups counts twice; the rules read only none, all or some)."""

    def fit(self, X: pd.DataFrame, y: pd.Series) -> RuleInputs:
        label = np.asarray(y, dtype=float)
        counted = woman_or_child(X)
        self.groups_ = {
            kind: Counted(np.where(counted, codes, -1), distinct, label)
            for kind, (codes, distinct) in group_codes(X).items()
        }
        self.training_ = TrainingRows(X[ID])
        self.labels_ = label
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        training_row = self.training_.training_row(X[ID])
        own = self.labels_[np.maximum(training_row, 0)]  # used only where the row is itself
        mates = np.zeros(len(X))
        lived = np.zeros(len(X))
        for kind, (codes, distinct) in group_codes(X).items():
            group = self.groups_[kind]
            keys = positions(codes, distinct, group.vocabulary)
            itself = is_itself(training_row, keys, group.keys)
            mates += group.at(keys, group.counts) - itself
            lived += group.at(keys, group.sums) - np.where(itself, own, 0.0)
        columns = (female(X), woman_or_child(X), mates, lived)
        return pd.DataFrame(
            {name: np.asarray(c, dtype=float) for name, c in zip(INPUTS, columns, strict=True)},
            index=X.index,
        )

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.array(INPUTS, dtype=object)


class _Rule(BaseEstimator, ClassifierMixin):  # type: ignore[misc]  # sklearn has no types
    """A classifier that learns nothing: its probability of survival is 0 or 1 by a rule."""

    def fit(self, X: pd.DataFrame, y: pd.Series) -> _Rule:
        self.classes_ = np.array([0, 1])
        return self

    def survives(self, X: pd.DataFrame) -> np.ndarray:
        raise NotImplementedError

    def predict_proba(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        # SHAP's permutation explainer hands in bare arrays of the same columns.
        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X, columns=list(INPUTS))
        lives = np.asarray(self.survives(frame), dtype=float)
        return np.column_stack([1.0 - lives, lives])

    def predict(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        return np.asarray(self.predict_proba(X)[:, 1] > 0.5, dtype=int)


class Gender(_Rule):
    """Women survive."""

    def survives(self, X: pd.DataFrame) -> np.ndarray:
        return np.asarray(X["Female"] > 0)


class WomanChildGroup(_Rule):
    """Women and children survive unless their group's women and children all died; men die
    unless their group's women and children all lived."""

    def survives(self, X: pd.DataFrame) -> np.ndarray:
        known = X["GroupMates"] > 0
        all_died = known & (X["GroupLived"] == 0)
        all_lived = known & (X["GroupLived"] == X["GroupMates"])
        return np.asarray(np.where(X["WomanOrChild"] > 0, ~all_died, all_lived))
