"""Passenger features as small scikit-learn transformers, fitted on training rows only.

Each transformer takes a frame of raw passenger rows (Kaggle's columns) and returns it with
its own columns added, so they chain in one Pipeline and the logged model takes raw rows.
Work on text (names, tickets, cabins) is done once per distinct value and spread back to the
rows by integer codes, so a million rows cost little more than the few thousand values they
repeat.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from titanic.passengers import ID

COMMON_TITLES = ("Mr", "Mrs", "Miss", "Master")
RARE = "Rare"
TITLES = (*COMMON_TITLES, RARE)
# Spellings of the common titles; anything else, or no title at all, is "Rare".
TITLE_ALIASES = {"Mlle": "Miss", "Ms": "Miss", "Mme": "Mrs"}
WOMEN_AND_BOYS = ("Mrs", "Miss", "Master")
NO_DECK = "U"
DECKS = tuple("ABCDEFG")  # "T" (one boat-deck cabin) and anything else count as unknown
DECK_VALUES = (*DECKS, NO_DECK)
TITLE = re.compile(r",\s*([^.,]+)\.")  # "Surname, Title. Given names"


class _Added(BaseEstimator, TransformerMixin):  # type: ignore[misc]  # scikit-learn ships no types
    """A transformer that adds columns to a copy of the frame it is given. What it reads of
    the rows before anything else (`read`: text as integer codes) is read once when it is
    fitted on the rows it then transforms, as a pipeline's fit does."""

    def read(self, X: pd.DataFrame) -> Any:
        return None

    def learn(self, X: pd.DataFrame, y: pd.Series | None, read: Any) -> None:
        """Keep what `columns` needs of the training rows."""

    def columns(self, X: pd.DataFrame, read: Any) -> dict[str, pd.Series | np.ndarray]:
        raise NotImplementedError

    def fit(self, X: pd.DataFrame, y: pd.Series | None = None) -> _Added:
        self.learn(X, y, self.read(X))
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        return X.assign(**self.columns(X, self.read(X)))

    def fit_transform(self, X: pd.DataFrame, y: pd.Series | None = None) -> pd.DataFrame:
        read = self.read(X)
        self.learn(X, y, read)
        return X.assign(**self.columns(X, read))


# Names repeat across the folds of a cross-validation and the configurations of a search.
@functools.lru_cache(maxsize=2**16)
def title_of(name: object) -> str:
    """The honorific in "Surname, Title. Given names", grouped into the common ones and Rare."""
    found = TITLE.search(name) if isinstance(name, str) else None
    title = TITLE_ALIASES.get(found.group(1).strip(), found.group(1).strip()) if found else ""
    return title if title in COMMON_TITLES else RARE


@functools.lru_cache(maxsize=2**16)
def surname_of(name: object) -> str:
    return name.split(",", 1)[0].strip().lower() if isinstance(name, str) and "," in name else ""


def deck_of(cabin: object) -> str:
    letter = "" if cabin is None else str(cabin).strip()[:1]
    return letter if letter in DECKS else NO_DECK


def has_cabin(cabin: object) -> int:
    return int(cabin is not None and str(cabin).strip() != "")


def per_value(
    codes: np.ndarray, distinct: pd.Index, function: Callable[[object], object]
) -> np.ndarray:
    """`function` of each distinct value (from `pd.factorize`), spread back to the rows by
    their codes; missing values (code -1) are passed as None."""
    # A list, not the Index: reading an Arrow-backed Index item by item costs microseconds each.
    return np.asarray(np.array([function(v) for v in distinct.tolist()] + [function(None)])[codes])


def title_codes(names: pd.Series) -> np.ndarray:
    """Each name's position in TITLES."""
    codes, distinct = pd.factorize(names)
    return per_value(codes, distinct, lambda name: TITLES.index(title_of(name)))


def titles(names: pd.Series) -> pd.Categorical:
    return pd.Categorical.from_codes(title_codes(names), categories=list(TITLES))


def stored(values: object) -> np.ndarray:
    """Values as the array a fitted transformer keeps: numpy text when they are all text,
    which skops writes as one block, rather than objects, which it writes one by one (about
    0.1 s more per logged model)."""
    array = np.asarray(values, dtype=object)
    return array.astype(str) if all(isinstance(v, str) for v in array) else array


def positions(
    codes: np.ndarray, distinct: pd.Index, vocabulary: np.ndarray, missing: int = -1
) -> np.ndarray:
    """Where each row's value (`distinct[code]`) stands in `vocabulary`: -1 where it is
    absent, `missing` where the row has none (code -1). Hashed once per distinct value, not
    once per row."""
    return np.asarray(np.append(pd.Index(vocabulary).get_indexer(distinct), missing)[codes])


class TrainingRows:
    """Training rows by PassengerId, to tell a row that *is* a training passenger (the same id
    under the same key) from a new passenger reusing an id; a repeated id keeps its last row.
    Fitted state, here and in every transformer, is plain arrays: what skops stores."""

    def __init__(self, ids: pd.Series) -> None:
        last = ~ids.duplicated(keep="last").to_numpy()
        self.rows = np.flatnonzero(last)
        self.ids = ids.to_numpy()[last]

    def training_row(self, ids: pd.Series) -> np.ndarray:
        """The training row of each id, -1 for ids no training row has."""
        found = pd.Index(self.ids).get_indexer(ids.to_numpy())
        return np.where(found >= 0, self.rows[np.maximum(found, 0)], -1)


def is_itself(training_row: np.ndarray, keys: np.ndarray, training_keys: np.ndarray) -> np.ndarray:
    """Rows that are a training passenger counted under this same key (key codes -1: none)."""
    known = (training_row >= 0) & (keys >= 0)
    return np.asarray(known & (training_keys[np.maximum(training_row, 0)] == keys))


class Counted:
    """A key's training rows (their count, and the sum of a value over them), and each
    training row's key, so that a row can be left out of its own key's figures."""

    def __init__(
        self, codes: np.ndarray, distinct: pd.Index, values: np.ndarray | None = None
    ) -> None:
        used = np.unique(codes[codes >= 0])  # keys that no counted row has are dropped
        self.vocabulary = stored(distinct[used])
        self.keys = positions(codes, distinct, self.vocabulary)
        known = self.keys >= 0
        size = len(self.vocabulary)
        self.counts = np.bincount(self.keys[known], minlength=size).astype(float)
        self.sums = (
            np.bincount(self.keys[known], weights=values[known], minlength=size)
            if values is not None
            else np.zeros(size)
        )

    def at(self, keys: np.ndarray, table: np.ndarray) -> np.ndarray:
        """`table` (counts or sums) at each row's key, 0 where it has no known key."""
        return np.where(keys >= 0, table[np.maximum(keys, 0)], 0.0)


def ticket_codes(X: pd.DataFrame) -> tuple[np.ndarray, pd.Index]:
    codes, distinct = pd.factorize(X["Ticket"])
    return codes, distinct


class Title(_Added):
    """Title from Name: Mr, Mrs, Miss, Master or Rare (rare, unseen and missing titles)."""

    def columns(self, X: pd.DataFrame, read: None) -> dict[str, pd.Categorical]:
        return {"Title": titles(X["Name"])}


class Family(_Added):
    """Family size on board (SibSp + Parch + the passenger) and travelling alone."""

    def columns(self, X: pd.DataFrame, read: None) -> dict[str, pd.Series]:
        size = X["SibSp"].fillna(0) + X["Parch"].fillna(0) + 1
        return {"FamilySize": size, "IsAlone": (size == 1).astype(int)}


class Cabin(_Added):
    """Deck letter from Cabin (U when unknown) and whether a cabin was recorded."""

    def columns(self, X: pd.DataFrame, read: None) -> dict[str, object]:
        codes, distinct = pd.factorize(X["Cabin"])
        decks = per_value(codes, distinct, lambda cabin: DECK_VALUES.index(deck_of(cabin)))
        return {
            "Deck": pd.Categorical.from_codes(decks, categories=list(DECK_VALUES)),
            "HasCabin": per_value(codes, distinct, has_cabin),
        }


class TicketGroup(_Added):
    """Passengers travelling on the same ticket, counted among the training rows (plus the
    passenger), and the fare per person: a ticket's fare covers the whole group."""

    def read(self, X: pd.DataFrame) -> tuple[np.ndarray, pd.Index]:
        return ticket_codes(X)

    def learn(
        self, X: pd.DataFrame, y: pd.Series | None, read: tuple[np.ndarray, pd.Index]
    ) -> None:
        self.tickets_ = Counted(*read)
        self.training_ = TrainingRows(X[ID])

    def columns(self, X: pd.DataFrame, read: tuple[np.ndarray, pd.Index]) -> dict[str, np.ndarray]:
        tickets = positions(*read, self.tickets_.vocabulary)
        itself = is_itself(self.training_.training_row(X[ID]), tickets, self.tickets_.keys)
        size = self.tickets_.at(tickets, self.tickets_.counts) - itself + 1
        return {"TicketGroupSize": size, "FarePerPerson": X["Fare"] / size}


class AgeByTitle(_Added):
    """Missing ages filled with the median age of the passenger's title among training rows
    (a Master is a boy, a Miss often young), else the overall training median."""

    def read(self, X: pd.DataFrame) -> np.ndarray:
        return title_codes(X["Name"])

    def learn(self, X: pd.DataFrame, y: pd.Series | None, read: np.ndarray) -> None:
        age = pd.to_numeric(X["Age"], errors="coerce")
        overall = age.median()
        self.overall_ = 0.0 if pd.isna(overall) else float(overall)
        medians = age.groupby(read).median()
        self.medians_ = medians.reindex(range(len(TITLES))).fillna(self.overall_).to_numpy()

    def columns(self, X: pd.DataFrame, read: np.ndarray) -> dict[str, pd.Series]:
        fallback = self.medians_[read]
        return {
            "Age": pd.to_numeric(X["Age"], errors="coerce").fillna(
                pd.Series(fallback, index=X.index)
            )
        }


# Each row's code of its family and of its ticket group, and the distinct keys.
GroupKeys = dict[str, tuple[np.ndarray, pd.Index]]


class GroupSurvival(_Added):
    """How the passenger's group fared, learned from training labels: the survival rate of
    the women and boys (Mrs, Miss, Master) who share the passenger's family (surname and
    class) or ticket, for a woman or boy; such groups tended to live or die together, while
    men mostly died whatever their group did. A passenger never sees its own label: training
    rows are matched by PassengerId and left out of their own group. Men, and women or boys
    with no such mate among the training rows, get the training survival rate and
    `GroupKnown` 0."""

    def read(self, X: pd.DataFrame) -> GroupKeys:
        return group_keys(X)

    def learn(self, X: pd.DataFrame, y: pd.Series | None, read: GroupKeys) -> None:
        label = np.asarray(y, dtype=float)
        self.prior_ = float(label.mean())
        self.groups_ = {
            kind: Counted(codes, distinct, label) for kind, (codes, distinct) in read.items()
        }
        self.training_ = TrainingRows(X[ID])
        self.labels_ = label

    def columns(self, X: pd.DataFrame, read: GroupKeys) -> dict[str, np.ndarray]:
        training_row = self.training_.training_row(X[ID])
        own = self.labels_[np.maximum(training_row, 0)]  # used only where the row is itself
        survived = np.zeros(len(X))
        mates = np.zeros(len(X))
        for kind, (codes, distinct) in read.items():
            group = self.groups_[kind]
            keys = positions(codes, distinct, group.vocabulary)
            itself = is_itself(training_row, keys, group.keys)
            mates += group.at(keys, group.counts) - itself
            survived += group.at(keys, group.sums) - np.where(itself, own, 0.0)
        known = mates > 0
        rate = np.where(known, survived / np.where(known, mates, 1.0), self.prior_)
        return {"GroupSurvival": rate, "GroupKnown": known.astype(int)}


def family_codes(X: pd.DataFrame) -> tuple[np.ndarray, pd.Index, np.ndarray]:
    """Every row's family key (surname and class) as codes into the distinct keys (-1 where the
    name is unknown), and which rows are women or boys by title. Keys are made once per
    distinct pair of name and class, the class as a decimal number, so that a file read with
    whole classes (3) and one read with decimal ones (3.0) name the same families."""
    names, distinct_names = pd.factorize(X["Name"])  # code -1: no name
    classes, distinct_classes = pd.factorize(X["Pclass"], use_na_sentinel=False)
    width = len(distinct_classes)
    pairs, distinct_pairs = pd.factorize((names + 1) * width + classes)  # (name, class) codes
    name_list, class_list = [None, *distinct_names.tolist()], distinct_classes.tolist()
    family, woman_or_boy = [], []
    for pair in distinct_pairs.tolist():
        name_code, class_code = divmod(pair, width)
        name = name_list[name_code]
        surname = surname_of(name)
        woman_or_boy.append(title_of(name) in WOMEN_AND_BOYS)
        pclass = float(class_list[class_code])
        family.append(f"{surname}|{pclass!r}" if surname else None)
    codes, families = pd.factorize(pd.Series(family, dtype=object))
    return codes[pairs], pd.Index(families), np.array(woman_or_boy, dtype=bool)[pairs]


def group_keys(X: pd.DataFrame) -> GroupKeys:
    """For women and boys: their family key (surname and class) and their ticket, as codes
    into the distinct keys; -1 (no group) for men and where the name or ticket is unknown."""
    families, distinct_families, grouped = family_codes(X)
    tickets, distinct_tickets = ticket_codes(X)
    return {
        "family": (np.where(grouped, families, -1), distinct_families),
        "ticket": (np.where(grouped, tickets, -1), distinct_tickets),
    }
