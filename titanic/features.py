"""Passenger features as small scikit-learn transformers, fitted on training rows only.

Each transformer takes a frame of raw passenger rows (Kaggle's columns) and returns it with
its own columns added, so they chain in one Pipeline and the logged model takes raw rows.
"""

from __future__ import annotations

import re
from typing import Callable

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from titanic.passengers import ID
COMMON_TITLES = ("Mr", "Mrs", "Miss", "Master")
# Spellings of the common titles; anything else, or no title at all, is "Rare".
TITLE_ALIASES = {"Mlle": "Miss", "Ms": "Miss", "Mme": "Mrs"}
WOMEN_AND_BOYS = ("Mrs", "Miss", "Master")
NO_DECK = "U"
DECKS = tuple("ABCDEFG")  # "T" (one boat-deck cabin) and anything else count as unknown


class _Added(BaseEstimator, TransformerMixin):
    """A transformer that adds columns to a copy of the frame it is given."""

    def fit(self, X: pd.DataFrame, y: pd.Series | None = None) -> _Added:
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        return X.assign(**self.columns(X))

    def columns(self, X: pd.DataFrame) -> dict[str, pd.Series]:
        raise NotImplementedError


def title_of(name: object) -> str:
    """The honorific in "Surname, Title. Given names", grouped into the common ones and Rare."""
    found = re.search(r",\s*([^.,]+)\.", name) if isinstance(name, str) else None
    title = TITLE_ALIASES.get(found.group(1).strip(), found.group(1).strip()) if found else ""
    return title if title in COMMON_TITLES else "Rare"


def surname_of(name: object) -> str:
    return name.split(",", 1)[0].strip().lower() if isinstance(name, str) and "," in name else ""


def per_value(values: pd.Series, function: Callable[[object], str]) -> pd.Series:
    """`function` of each value, computed once per distinct value (names and tickets repeat
    across a large file) and spread back to the rows; missing values are passed as None."""
    codes, distinct = pd.factorize(values, use_na_sentinel=True)
    results = np.array([function(v) for v in distinct] + [function(None)], dtype=object)
    return pd.Series(results[codes], index=values.index, dtype=object)  # -1: the last, None


def by_id(ids: pd.Series, values: pd.Series | np.ndarray) -> pd.Series:
    """Training values to look up by PassengerId (a repeated id keeps its last row)."""
    table = pd.Series(np.asarray(values, dtype=object), index=pd.Index(ids))
    return table[~table.index.duplicated(keep="last")]


def _is_itself(ids: pd.Series, keys: pd.Series, training_keys: pd.Series) -> pd.Series:
    """Rows that are a training passenger counted under this same key: the same id with the
    same key (a new passenger may reuse an id, but then not the same ticket and name)."""
    return (ids.map(training_keys) == keys) & keys.notna()


class Title(_Added):
    """Title from Name: Mr, Mrs, Miss, Master or Rare (rare, unseen and missing titles)."""

    def columns(self, X: pd.DataFrame) -> dict[str, pd.Series]:
        return {"Title": per_value(X["Name"], title_of)}


class Family(_Added):
    """Family size on board (SibSp + Parch + the passenger) and travelling alone."""

    def columns(self, X: pd.DataFrame) -> dict[str, pd.Series]:
        size = X["SibSp"].fillna(0) + X["Parch"].fillna(0) + 1
        return {"FamilySize": size, "IsAlone": (size == 1).astype(int)}


class Cabin(_Added):
    """Deck letter from Cabin (U when unknown) and whether a cabin was recorded."""

    def columns(self, X: pd.DataFrame) -> dict[str, pd.Series]:
        cabin = X["Cabin"].where(X["Cabin"].notna(), "").astype(str).str.strip()
        deck = cabin.str[:1].where(cabin.str[:1].isin(DECKS), NO_DECK)
        return {"Deck": deck, "HasCabin": (cabin != "").astype(int)}


class TicketGroup(_Added):
    """Passengers travelling on the same ticket, counted among the training rows (plus the
    passenger), and the fare per person: a ticket's fare covers the whole group."""

    def fit(self, X: pd.DataFrame, y: pd.Series | None = None) -> TicketGroup:
        tickets = X["Ticket"].where(X["Ticket"].notna())
        self.counts_ = tickets.value_counts()
        self.tickets_ = by_id(X[ID], tickets)
        return self

    def columns(self, X: pd.DataFrame) -> dict[str, pd.Series]:
        tickets = X["Ticket"].where(X["Ticket"].notna())
        size = tickets.map(self.counts_).fillna(0) - _is_itself(X[ID], tickets, self.tickets_) + 1
        return {"TicketGroupSize": size, "FarePerPerson": X["Fare"] / size}


class AgeByTitle(_Added):
    """Missing ages filled with the median age of the passenger's title among training rows
    (a Master is a boy, a Miss often young), else the overall training median."""

    def fit(self, X: pd.DataFrame, y: pd.Series | None = None) -> AgeByTitle:
        age = pd.to_numeric(X["Age"], errors="coerce")
        overall = age.median()
        self.overall_ = 0.0 if pd.isna(overall) else float(overall)
        self.medians_ = age.groupby(per_value(X["Name"], title_of)).median().dropna().to_dict()
        return self

    def columns(self, X: pd.DataFrame) -> dict[str, pd.Series]:
        fallback = per_value(X["Name"], title_of).map(self.medians_).fillna(self.overall_)
        return {"Age": pd.to_numeric(X["Age"], errors="coerce").fillna(fallback)}


class GroupSurvival(_Added):
    """How the passenger's group fared, learned from training labels: the survival rate of
    the women and boys (Mrs, Miss, Master) who share the passenger's family (surname and
    class) or ticket, for a woman or boy; such groups tended to live or die together, while
    men mostly died whatever their group did. A passenger never sees its own label: training
    rows are matched by PassengerId and left out of their own group. Men, and women or boys
    with no such mate among the training rows, get the training survival rate and
    `GroupKnown` 0."""

    def fit(self, X: pd.DataFrame, y: pd.Series) -> GroupSurvival:
        label = pd.Series(np.asarray(y, dtype=float), index=X.index)
        self.prior_ = float(label.mean())
        self.tables_ = {}
        groups = group_keys(X)
        for kind, keys in groups.items():
            known = keys.notna()
            grouped = label[known].groupby(keys[known])
            self.tables_[kind] = (grouped.sum(), grouped.count())
        self.labels_ = by_id(X[ID], label).astype(float)
        self.keys_ = {kind: by_id(X[ID], keys) for kind, keys in groups.items()}
        return self

    def columns(self, X: pd.DataFrame) -> dict[str, pd.Series]:
        own = X[ID].map(self.labels_)  # NaN for passengers not among the training rows
        survived = pd.Series(0.0, index=X.index)
        mates = pd.Series(0.0, index=X.index)
        for kind, keys in group_keys(X).items():
            sums, counts = self.tables_[kind]
            self_counted = _is_itself(X[ID], keys, self.keys_[kind])
            mates += keys.map(counts).fillna(0) - self_counted
            survived += keys.map(sums).fillna(0) - own.where(self_counted, 0.0)
        known = mates > 0
        rate = (survived / mates.where(known, 1.0)).where(known, self.prior_)
        return {"GroupSurvival": rate, "GroupKnown": known.astype(int)}


def group_keys(X: pd.DataFrame) -> dict[str, pd.Series]:
    """For women and boys: their family key (surname and class) and their ticket; missing
    (no group) for men and where the name or ticket is unknown."""
    woman_or_boy = per_value(X["Name"], title_of).isin(WOMEN_AND_BOYS)
    surname = per_value(X["Name"], surname_of)
    family = (surname + "|" + X["Pclass"].astype(str)).where(surname != "")
    ticket = X["Ticket"].where(X["Ticket"].notna()).astype(object)
    return {"family": family.where(woman_or_boy), "ticket": ticket.where(woman_or_boy)}
