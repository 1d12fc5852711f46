"""Reading passenger CSVs: the Titanic columns, rows and types, checked at the edge."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from titanic.errors import InputError
from titanic.features import FEATURES, TARGET

NUMERIC = ("PassengerId", "Pclass", "Age", "SibSp", "Parch", "Fare")


def read_passengers(path: Path, *, with_target: bool, source: str) -> pd.DataFrame:
    """Load a passenger CSV and check it has the Titanic columns, rows and types."""
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise InputError(f"{source} is empty ({path}): it needs a header and passenger rows") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise InputError(f"{source} is not a readable CSV ({path}): {err}".splitlines()[0]) from None
    required = (TARGET, *FEATURES) if with_target else FEATURES
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise InputError(f"{source} ({path}) lacks required column(s) {', '.join(missing)}: "
                         f"it needs {', '.join(required)}")
    if frame.empty:
        raise InputError(f"{source} ({path}) has a header but no rows: add passenger rows")
    for column in NUMERIC:
        if not pd.api.types.is_numeric_dtype(frame[column]):
            raise InputError(f"{source} ({path}) column {column} must be numeric, "
                             f"found {frame[column].dropna().iloc[0]!r}")
    if with_target:
        target = frame[TARGET]
        if target.isna().any() or not target.isin((0, 1)).all():
            raise InputError(f"{source} ({path}) column {TARGET} must be 0 or 1 in every row")
    return frame
