"""The baselines: two hand-written rules as model families, fitted, scored and served like the
others, so that every ranking has a floor to read against.

- `gender`: women survive, men die.
- `wcg`, the woman-child-group rule as Chris Deotte published it on Kaggle ("Titanic using Name
  only"): all males die except boys in families where all females and boys live; all females
  live except those in families where all females and boys die. A passenger is a man (a male
  not titled Master), a boy (titled Master, at any age) or a woman (any female). Groups hold
  women and boys only, keyed as the refined rule keys them: surname, class, ticket without its
  last character, fare and port, so that unrelated namesakes do not merge; a woman or boy
  with no such mate among the training rows joins the group of one who shares her ticket.
  How a group fared is learned from the training rows' labels; a training passenger never
  counts towards its own group.

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
    is_itself,
    per_value,
    positions,
    stored,
    surname_of,
    ticket_codes,
    title_of,
)
from titanic.passengers import ID

INPUTS = ("Female", "WomanOrChild", "GroupMates", "GroupLived")


def female(X: pd.DataFrame) -> np.ndarray:
    return np.asarray(X["Sex"].astype(object).eq("female").to_numpy(dtype=bool))


def woman_or_boy(X: pd.DataFrame) -> np.ndarray:
    """Women (any female) and boys (titled Master): the passengers a group is made of."""
    codes, distinct = pd.factorize(X["Name"])
    boys = per_value(codes, distinct, lambda name: title_of(name) == "Master").astype(bool)
    return np.asarray(female(X) | boys)


def group_codes(X: pd.DataFrame) -> tuple[np.ndarray, pd.Index]:
    """Each woman's and boy's group key, surname|class|ticket less its last character|fare|
    port, as codes into the distinct keys; -1 for men and for passengers without a name. The
    class is written as a decimal number, so that a file read with whole classes (3) and one
    read with decimal ones (3.0) name the same groups."""
    names, distinct = pd.factorize(X["Name"])
    surnames = pd.Series(per_value(names, distinct, surname_of), index=X.index)
    parts = [
        surnames,
        pd.to_numeric(X["Pclass"], errors="coerce").astype(float).map(repr),
        X["Ticket"].astype(object).map(lambda t: "" if pd.isna(t) else str(t)[:-1]),
        pd.to_numeric(X["Fare"], errors="coerce").astype(float).map(repr),
        X["Embarked"].astype(object).map(lambda port: "" if pd.isna(port) else str(port)),
    ]
    keys = parts[0].str.cat(parts[1:], sep="|")
    grouped = woman_or_boy(X) & (surnames != "").to_numpy()
    codes, keys_found = pd.factorize(keys.where(grouped))
    return codes, keys_found


class RuleInputs(BaseEstimator, TransformerMixin):  # type: ignore[misc]  # sklearn has no types
    """What the rules read of a passenger: female, woman or boy, and how many other women and
    boys of its group the training rows hold and how many of them lived. A woman or boy whose
    group holds no other training passenger is counted in the group of a training woman or boy
    with her ticket, if there is one."""

    def fit(self, X: pd.DataFrame, y: pd.Series) -> RuleInputs:
        label = np.asarray(y, dtype=float)
        self.groups_ = Counted(*group_codes(X), label)
        tickets, distinct_tickets = ticket_codes(X)
        members = np.flatnonzero((self.groups_.keys >= 0) & (tickets >= 0))
        first = ~pd.Series(tickets[members]).duplicated().to_numpy()  # a ticket's first group
        self.tickets_ = stored(distinct_tickets[tickets[members[first]]])
        self.ticket_groups_ = self.groups_.keys[members[first]]
        self.training_ = TrainingRows(X[ID])
        self.labels_ = label
        return self

    def _mates(self, keys: np.ndarray, training_row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Other training women and boys in each row's group, and how many of them lived."""
        group, own = self.groups_, self.labels_[np.maximum(training_row, 0)]
        itself = is_itself(training_row, keys, group.keys)
        mates = group.at(keys, group.counts) - itself
        lived = group.at(keys, group.sums) - np.where(itself, own, 0.0)
        return mates, lived

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        training_row = self.training_.training_row(X[ID])
        codes, distinct = group_codes(X)
        keys = positions(codes, distinct, self.groups_.vocabulary)
        mates, lived = self._mates(keys, training_row)
        # Alone in its own group: the group of a training woman or boy on the same ticket.
        tickets = positions(*ticket_codes(X), self.tickets_)
        lone = (codes >= 0) & (mates == 0) & (tickets >= 0)
        by_ticket = np.where(lone, self.ticket_groups_[np.maximum(tickets, 0)], -1)
        by_ticket = np.where(by_ticket == keys, -1, by_ticket)  # not its own group again
        ticket_mates, ticket_lived = self._mates(by_ticket, training_row)
        use = by_ticket >= 0
        columns = (
            female(X),
            codes >= 0,
            np.where(use, ticket_mates, mates),
            np.where(use, ticket_lived, lived),
        )
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
    """Men die; a boy lives if every other woman and boy of his group in the training rows
    lived; a woman dies if every one of them died; everyone else as the gender rule."""

    def survives(self, X: pd.DataFrame) -> np.ndarray:
        known = X["GroupMates"] > 0
        all_lived = known & (X["GroupLived"] == X["GroupMates"])
        all_died = known & (X["GroupLived"] == 0)
        women, boys = X["Female"] > 0, (X["WomanOrChild"] > 0) & (X["Female"] == 0)
        return np.asarray(np.where(women, ~all_died, boys & all_lived))


class RuleColumns(BaseEstimator, TransformerMixin):  # type: ignore[misc]  # sklearn has no types
    """The rules' inputs (`RuleInputs`) added to the passenger frame, for a model that reads
    them beside the features."""

    def fit(self, X: pd.DataFrame, y: pd.Series) -> RuleColumns:
        self.inputs_ = RuleInputs().fit(X, y)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        return X.assign(**self.inputs_.transform(X))


# Thresholds a fitted model's probability must reach to overturn the gender rule: from 0.7,
# very sure, up; the last never does.
THRESHOLDS = (0.7, 0.8, 0.9, 0.95, 1.01)


class RuleOverturned(BaseEstimator, ClassifierMixin):  # type: ignore[misc]  # sklearn has no types
    """The woman-child-group rule for the passengers it speaks about (a boy whose group all
    lived, a woman whose group all died); for the rest (men, women and boys of no such group),
    the gender rule, which `model` may overturn only where it is very sure: where its
    probability of the other outcome reaches a threshold chosen, for men and for the others
    apart, by the accuracy of its out-of-fold predictions inside the training rows (the
    highest threshold among equals: overturning is the exception). Its columns are the
    encoded features and the rules' inputs (`INPUTS`, unscaled)."""

    def __init__(self, model: Any = None, seed: int = 0, inner_folds: int = 3) -> None:
        self.model = model
        self.seed = seed
        self.inner_folds = inner_folds

    def _frame(self, X: pd.DataFrame | np.ndarray) -> pd.DataFrame:
        # SHAP's permutation explainer hands in bare arrays of the same columns.
        if isinstance(X, pd.DataFrame):
            return X
        return pd.DataFrame(X, columns=self.feature_names_in_)

    def fit(self, X: pd.DataFrame, y: pd.Series) -> RuleOverturned:
        from sklearn.base import clone
        from sklearn.model_selection import StratifiedKFold, cross_val_predict

        X = self._frame(X)
        self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        self.classes_ = np.array([0, 1])
        labels = np.asarray(y, dtype=int)
        folds = StratifiedKFold(self.inner_folds, shuffle=True, random_state=self.seed)
        likely = cross_val_predict(clone(self.model), X, labels, cv=folds, method="predict_proba")
        default, speaks, men = self._rule(X)
        self.thresholds_ = np.array(
            [self._threshold(likely[:, 1], labels, default, ~speaks & kind) for kind in (men, ~men)]
        )
        self.model_ = clone(self.model).fit(X, labels)
        return self

    @staticmethod
    def _rule(X: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """What the woman-child-group rule says, where it speaks beyond the gender rule, and
        which passengers are men."""
        says = WomanChildGroup().fit(X, None).survives(X).astype(bool)
        women = np.asarray(X["Female"] > 0)
        men = np.asarray(X["WomanOrChild"] == 0) & ~women
        return says, says != women, men

    @staticmethod
    def _threshold(
        p: np.ndarray, labels: np.ndarray, default: np.ndarray, rows: np.ndarray
    ) -> float:
        """The threshold at which overturning the default on `rows` is most accurate."""
        best, chosen = -1, THRESHOLDS[-1]
        for threshold in reversed(THRESHOLDS):
            flips = rows & np.where(default, 1 - p >= threshold, p >= threshold)
            right = int(((default ^ flips) == labels)[rows].sum())
            if right > best:
                best, chosen = right, threshold
        return float(chosen)

    def predict_proba(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        X = self._frame(X)
        default, speaks, men = self._rule(X)
        p = self.model_.predict_proba(X)[:, 1]
        threshold = np.where(men, self.thresholds_[0], self.thresholds_[1])
        flips = ~speaks & np.where(default, 1 - p >= threshold, p >= threshold)
        lives = np.where(flips, p, default.astype(float))
        return np.column_stack([1.0 - lives, lives])

    def predict(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        return np.asarray(self.predict_proba(X)[:, 1] > 0.5, dtype=int)
