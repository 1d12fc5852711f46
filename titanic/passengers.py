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
TEXT = tuple(c for c in FEATURES if c not in NUMERIC)
# How a message counts the rows it names: a file's lines (line 1 is its header), or the rows
# handed to the model, from 1.
FILE_LINES = ("line(s)", 2)
ROWS = ("row(s)", 1)

log = logging.getLogger("titanic")


def _lines(index: pd.Index, unit: tuple[str, int] = FILE_LINES) -> str:
    """Where rows of the frame are, the first few: `line(s) 5, 55 and 3 more`."""
    word, first = unit
    lines = [str(i + first) for i in index[:SHOWN]]
    more = f" and {len(index) - SHOWN} more" if len(index) > SHOWN else ""
    return f"{word} " + ", ".join(lines) + more


def _decode(path: Path) -> tuple[str, str]:
    raw = path.read_bytes()
    for encoding in ENCODINGS:
        try:
            return raw.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise AssertionError("latin-1 decodes any bytes")


def _numeric(
    frame: pd.DataFrame, column: str, decimal_comma: bool, where: str, unit: tuple[str, int]
) -> pd.Series:
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
                f"{_lines(bad, unit)}; correct those cells or leave them empty"
            )
    infinite = numbers.index[np.isinf(numbers)]
    if len(infinite):
        raise InputError(
            f"{where} column {column} holds an infinite value on "
            f"{_lines(infinite, unit)}; correct those cells or leave them empty"
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
    frame = checked(frame, where, with_target, decimal_comma, FILE_LINES)
    if frame.empty:
        raise InputError(f"{where} has a header but no rows: add passenger rows")
    ids = frame[ID]
    repeated = ids.index[ids.duplicated(keep=False)]
    if len(repeated):
        raise InputError(
            f"{where} repeats {ID} {', '.join(map(str, ids[repeated].unique()[:SHOWN]))}"
            f" ({_lines(repeated, ('lines', FILE_LINES[1]))}): a passenger in both "
            f"splits inflates the metrics; remove the duplicate rows"
        )
    if with_target:
        target = pd.to_numeric(frame[TARGET], errors="coerce")
        bad = frame.index[~target.isin((0, 1))]
        if len(bad):
            raise InputError(
                f"{where} column {TARGET} must be 0 or 1 in every row: found "
                f"{', '.join(repr(v) for v in frame[TARGET][bad].unique()[:SHOWN])} "
                f"on {_lines(bad)}"
            )
        frame[TARGET] = target.astype(int)
    return frame


def checked(
    frame: pd.DataFrame,
    where: str,
    with_target: bool,
    decimal_comma: bool = False,
    unit: tuple[str, int] = FILE_LINES,
) -> pd.DataFrame:
    """Rows with the Titanic columns, numbers read as numbers and an id for every passenger;
    an InputError names the column, and the values and rows at fault."""
    required = (TARGET, *FEATURES) if with_target else FEATURES
    missing = [c for c in required if c not in frame.columns]
    if missing:
        found = ", ".join(map(str, frame.columns[:6])) + (" …" if len(frame.columns) > 6 else "")
        raise InputError(
            f"{where} lacks required column(s) {', '.join(missing)}: it needs "
            f"{', '.join(required)}, separated by commas or semicolons; the "
            f"columns read were: {found}"
        )
    for column in NUMERIC:
        frame[column] = _numeric(frame, column, decimal_comma, where, unit)
    ids = frame[ID]
    if ids.isna().any():
        raise InputError(
            f"{where} column {ID} is empty on {_lines(ids.index[ids.isna()], unit)}: every "
            f"passenger needs an id"
        )
    if not pd.api.types.is_integer_dtype(ids) and (ids == ids.round()).all():
        frame[ID] = ids.astype("int64")  # read as text (decimal commas): ids stay whole
    return frame


def rows_to_score(rows: pd.DataFrame) -> pd.DataFrame:
    """Passenger rows handed to the model as a user's CSV of test.csv rows holds them, checked:
    one passenger whose ticket is all digits, text columns empty in every row (read as
    numbers), or no row at all. Text columns become text (missing cells stay missing)."""
    frame = checked(rows.reset_index(drop=True), "input", with_target=False, unit=ROWS)
    for column in TEXT:
        values = frame[column].astype(object)
        frame[column] = values.where(values.isna(), values.astype(str))
    return frame
