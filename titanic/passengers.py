"""Reading passenger CSVs: the Titanic columns, rows and types, checked at the edge.

Files come from spreadsheets as often as from Kaggle: a `;` separator with decimal commas
(Excel in many locales) and Latin-1 text are read as such; anything that cannot be read as
passenger rows is an InputError that names the column, the values and their lines.
"""

from __future__ import annotations

import logging
from io import StringIO
from pathlib import Path

import numpy as np
import pandas as pd

from titanic.errors import InputError

# The raw passenger columns (Kaggle's test.csv) and the target that train.csv adds.
ID = "PassengerId"
TARGET = "Survived"
FEATURES = (
    "PassengerId",
    "Pclass",
    "Name",
    "Sex",
    "Age",
    "SibSp",
    "Parch",
    "Ticket",
    "Fare",
    "Cabin",
    "Embarked",
)
NUMERIC = ("PassengerId", "Pclass", "Age", "SibSp", "Parch", "Fare")
CATEGORICAL = ("Sex", "Embarked")
SEPARATORS = (",", ";", "\t")
ENCODINGS = ("utf-8-sig", "latin-1")  # latin-1 reads any bytes: the last resort
SHOWN = 3  # offending values named in a message

log = logging.getLogger("titanic")


def _lines(index: pd.Index) -> str:
    """File line numbers of frame rows (line 1 is the header), the first few."""
    lines = [str(i + 2) for i in index[:SHOWN]]
    return ", ".join(lines) + (f" and {len(index) - SHOWN} more" if len(index) > SHOWN else "")


def _decode(path: Path) -> tuple[str, str]:
    raw = path.read_bytes()
    for encoding in ENCODINGS:
        try:
            return raw.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes any bytes")


def _numeric(frame: pd.DataFrame, column: str, decimal_comma: bool, where: str) -> pd.Series:
    values = frame[column]
    if pd.api.types.is_numeric_dtype(values):
        numbers = values
    else:
        text = values.astype("string").str.strip()
        if decimal_comma:
            text = text.str.replace(",", ".", regex=False)
        numbers = pd.to_numeric(text, errors="coerce")
        bad = values.index[numbers.isna() & values.notna() & (text != "")]
        if len(bad):
            shown = ", ".join(repr(v) for v in values[bad].unique()[:SHOWN])
            raise InputError(
                f"{where} column {column} must be numeric: found {shown} on "
                f"line(s) {_lines(bad)}; correct those cells or leave them empty"
            )
    infinite = numbers.index[np.isinf(numbers)]
    if len(infinite):
        raise InputError(
            f"{where} column {column} holds an infinite value on line(s) "
            f"{_lines(infinite)}; correct those cells or leave them empty"
        )
    return numbers


def unseen_values(training: pd.DataFrame, rows: pd.DataFrame) -> dict[str, int]:
    """Categories in `rows` that no training row has (`Sex='other'`), with their counts: the
    model scores them as if nothing were known of that column."""
    found: dict[str, int] = {}
    for column in CATEGORICAL:
        known = set(training[column].dropna())
        new = rows[column][rows[column].notna() & ~rows[column].isin(known)]
        found |= {f"{column}={value!r}": int(n) for value, n in new.value_counts().items()}
    return found


def read_passengers(path: Path, *, with_target: bool, source: str) -> pd.DataFrame:
    """Load a passenger CSV and check it has the Titanic columns, rows and types."""
    where = f"{source} ({path})"
    text, encoding = _decode(path)
    if not text.strip():
        raise InputError(f"{source} is empty ({path}): it needs a header and passenger rows")
    header = text.splitlines()[0]
    separator = max(SEPARATORS, key=header.count)
    decimal_comma = separator != ","
    try:
        frame = pd.read_csv(
            StringIO(text),
            sep=separator,
            dtype={c: "string" for c in NUMERIC} if decimal_comma else None,
        )
    except pd.errors.ParserError as err:
        raise InputError(f"{where} is not a readable CSV: {str(err).splitlines()[0]}") from None
    if encoding != ENCODINGS[0]:
        log.warning("%s is not UTF-8: read as Latin-1", where)
    required = (TARGET, *FEATURES) if with_target else FEATURES
    missing = [c for c in required if c not in frame.columns]
    if missing:
        found = ", ".join(map(str, frame.columns[:6])) + (" …" if len(frame.columns) > 6 else "")
        raise InputError(
            f"{where} lacks required column(s) {', '.join(missing)}: it needs "
            f"{', '.join(required)}, separated by commas or semicolons; the "
            f"columns read were: {found}"
        )
    if frame.empty:
        raise InputError(f"{where} has a header but no rows: add passenger rows")
    for column in NUMERIC:
        frame[column] = _numeric(frame, column, decimal_comma, where)
    ids = frame[ID]
    if ids.isna().any():
        raise InputError(
            f"{where} column {ID} is empty on line(s) "
            f"{_lines(ids.index[ids.isna()])}: every passenger needs an id"
        )
    repeated = ids.index[ids.duplicated(keep=False)]
    if len(repeated):
        raise InputError(
            f"{where} repeats {ID} {', '.join(map(str, ids[repeated].unique()[:SHOWN]))}"
            f" (lines {_lines(repeated)}): a passenger in both splits inflates the "
            f"metrics; remove the duplicate rows"
        )
    if not pd.api.types.is_integer_dtype(ids) and (ids == ids.round()).all():
        frame[ID] = ids.astype("int64")  # read as text (decimal commas): ids stay whole
    if with_target:
        target = pd.to_numeric(frame[TARGET], errors="coerce")
        bad = frame.index[~target.isin((0, 1))]
        if len(bad):
            raise InputError(
                f"{where} column {TARGET} must be 0 or 1 in every row: found "
                f"{', '.join(repr(v) for v in frame[TARGET][bad].unique()[:SHOWN])} "
                f"on line(s) {_lines(bad)}"
            )
        frame[TARGET] = target.astype(int)
    return frame
