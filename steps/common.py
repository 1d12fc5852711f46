"""Names, parameter checks and data loading shared by the steps.

Kept free of scikit-learn and plotting imports: `main` imports it on every run,
including runs where every step is reused and nothing heavy is needed.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import yaml

if TYPE_CHECKING:
    import pandas as pd

PROJECT_DIR = Path(__file__).resolve().parent.parent
MLPROJECT = PROJECT_DIR / "MLproject"
STEPS = ("prepare", "train", "evaluate")

# Artifacts, as named inside each run.
PREPARED_DIR = "prepared"
TRAIN_FILE = "train.csv"
VALID_FILE = "valid.csv"
PROFILE_FILE = "profile.json"
MODEL_NAME = "model"
CONFUSION_PNG = "confusion_matrix.png"
ROC_PNG = "roc_curve.png"
SUBMISSION_FILE = "submission.csv"
PIPELINE_FILE = "pipeline.json"

# Outputs a step hands to the next one (recorded on the run as `titanic.output.<name>`).
OUT_PREPARED = "prepared"
OUT_MODEL = "model"

# The raw passenger columns (Kaggle's test.csv) and the target that train.csv adds.
TARGET = "Survived"
ID_COLUMN = "PassengerId"
FEATURES = ("PassengerId", "Pclass", "Name", "Sex", "Age", "SibSp", "Parch",
            "Ticket", "Fare", "Cabin", "Embarked")
NUMERIC = ("PassengerId", "Pclass", "Age", "SibSp", "Parch", "Fare")
SOLVERS = ("lbfgs", "liblinear", "newton-cg", "newton-cholesky", "sag", "saga")
FORCE_CHOICES = ("none", "all", *STEPS)

log = logging.getLogger("titanic")


class InputError(Exception):
    """Bad input from the user: reported as one line that says how to fix it."""


# --- parameters -------------------------------------------------------------------------------

def _number(kind: type, hint: str, valid: Callable[[float], bool], example: str
            ) -> Callable[[str, str], Any]:
    def parse(name: str, raw: str) -> Any:
        try:
            value = kind(raw)
        except (TypeError, ValueError):
            value = None
        if value is None or not valid(value):
            raise InputError(f"{name} must be {hint}, got {raw!r}: pass e.g. -P {name}={example}")
        return value
    return parse


def _choice(options: tuple[str, ...]) -> Callable[[str, str], str]:
    def parse(name: str, raw: str) -> str:
        if raw not in options:
            raise InputError(f"{name} must be one of {', '.join(options)}; got {raw!r}")
        return raw
    return parse


def _text(name: str, raw: str) -> str:
    if not raw.strip():
        raise InputError(f"{name} must not be empty")
    return raw


# One check per parameter name; a name means the same thing in every entry point.
PARSERS: dict[str, Callable[[str, str], Any]] = {
    "data": _text,
    "test_size": _number(float, "a number between 0 and 1 (exclusive)", lambda v: 0 < v < 1, "0.25"),
    "seed": _number(int, "a whole number from 0 to 4294967295", lambda v: 0 <= v < 2**32, "123"),
    "prepared": _text,
    "C": _number(float, "a number > 0", lambda v: 0 < v < float("inf"), "1.5"),
    "max_iter": _number(int, "a whole number > 0", lambda v: v > 0, "1000"),
    "solver": _choice(SOLVERS),
    "model": _text,
    "test_data": _text,
    "force": _choice(FORCE_CHOICES),
}

# Parameters whose value names data: their content is part of a step's cache key.
INPUT_PARAMS = ("data", "prepared", "model", "test_data")


def parse_params(raw: dict[str, str]) -> dict[str, Any]:
    """Typed values for an entry point's string parameters; InputError on the first bad one."""
    return {name: PARSERS[name](name, value) for name, value in raw.items()}


@functools.cache
def _entry_points() -> dict[str, Any]:
    return yaml.safe_load(MLPROJECT.read_text())["entry_points"]


def entry_point_defaults(entry_point: str) -> dict[str, str | None]:
    """Parameters of an entry point with their MLproject defaults (None where required)."""
    spec = _entry_points()[entry_point]["parameters"]
    return {name: None if p.get("default") is None else str(p["default"])
            for name, p in spec.items()}


def recorded(params: dict[str, Any]) -> dict[str, str]:
    """Parameter values written the way `mlflow run` logs them."""
    return {name: shlex.quote(str(value)) for name, value in params.items()}


# --- files --------------------------------------------------------------------------------------

def local_file(path: str, param: str) -> Path:
    """An existing local file named by a parameter, resolved against the project directory."""
    resolved = Path(path).expanduser()
    if not resolved.is_absolute():
        resolved = Path.cwd() / resolved
    if not resolved.is_file():
        raise InputError(f"{param} file not found: {path} (relative paths are read from the "
                         f"project directory): pass -P {param}=<path to an existing CSV>")
    return resolved


def sha256_files(root: Path) -> str:
    """Digest of a file, or of a folder's files with their relative names."""
    digest = hashlib.sha256()
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    for path in files:
        digest.update(str(path.relative_to(root)).encode() if path != root else b"")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def read_passengers(path: Path, *, with_target: bool, source: str) -> pd.DataFrame:
    """Load a passenger CSV and check it has the Titanic columns, rows and types."""
    import pandas as pd

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
