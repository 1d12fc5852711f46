"""Inputs named by parameters: local paths or MLflow URIs, as local files, and their digests."""

from __future__ import annotations

import functools
import hashlib
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import mlflow
from mlflow.exceptions import MlflowException

from orchestration.record.names import TRAIN_FILE, VALID_FILE
from titanic.errors import InputError
from titanic.passengers import read_passengers

if TYPE_CHECKING:
    import pandas as pd

_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")
_fetched: dict[str, Path] = {}


@functools.cache
def _downloads() -> tempfile.TemporaryDirectory[str]:
    """This process's folder for downloaded inputs, made on first use and removed at exit."""
    return tempfile.TemporaryDirectory(prefix="titanic-inputs-")


def fetch(value: str, param: str) -> Path:
    """A local copy of an input: a file path as it is, a URI downloaded once per process."""
    if not _URI.match(value) or Path(value).exists():
        return local_file(value, param)
    if value not in _fetched:
        try:
            _fetched[value] = Path(
                mlflow.artifacts.download_artifacts(
                    artifact_uri=value, dst_path=tempfile.mkdtemp(dir=_downloads().name)
                )
            )
        except (MlflowException, OSError) as err:
            raise InputError(
                f"{param} {value!r} cannot be read ({str(err).splitlines()[0]}): "
                f"pass the URI that the previous step printed"
            ) from None
    return _fetched[value]


def local_file(path: str, param: str) -> Path:
    """An existing local file named by a parameter, resolved against the project directory."""
    resolved = Path(path).expanduser()
    if not resolved.is_absolute():
        resolved = Path.cwd() / resolved
    if resolved.is_dir():
        csvs = sorted(p.name for p in resolved.glob("*.csv"))[:3]
        raise InputError(
            f"{param} is a folder, not a file: {path}: pass the CSV inside it, "
            f"e.g. -P {param}={Path(path) / (csvs[0] if csvs else '<file>.csv')}"
        )
    if not resolved.is_file():
        raise InputError(
            f"{param} file not found: {path} (relative paths are read from the "
            f"project directory): pass -P {param}=<path to an existing CSV>"
        )
    return resolved


def sha256_files(root: Path) -> str:
    """Digest of a file, or of a folder's files with their relative names."""
    digest = hashlib.sha256()
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    for path in files:
        digest.update(str(path.relative_to(root)).encode() if path != root else b"")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def prepared_split(prepared: str, name: str) -> pd.DataFrame:
    """A split `prepare` made (`TRAIN_FILE` or `VALID_FILE`), read and checked."""
    split = {TRAIN_FILE: "train", VALID_FILE: "valid"}[name]
    return read_passengers(
        fetch(prepared, "prepared") / name, with_target=True, source=f"prepared {split} split"
    )
