"""The MLproject file as the one source of entry points, their parameters and defaults."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import yaml

PROJECT_DIR = Path(__file__).resolve().parents[2]
MLPROJECT = PROJECT_DIR / "MLproject"


@functools.cache
def entry_points() -> dict[str, Any]:
    return yaml.safe_load(MLPROJECT.read_text())["entry_points"]


def entry_point_parameters(entry_point: str) -> dict[str, str | None]:
    """Parameters of an entry point with their MLproject defaults (None where required)."""
    spec = entry_points()[entry_point]["parameters"]
    return {
        name: None if p.get("default") is None else str(p["default"]) for name, p in spec.items()
    }


def entry_point_defaults(entry_point: str) -> dict[str, str]:
    """The parameters of an entry point that have an MLproject default, with it."""
    return {k: v for k, v in entry_point_parameters(entry_point).items() if v is not None}


def command_arguments(entry_point: str) -> dict[str, str]:
    """The `--name {placeholder}` pairs an entry point's command passes: MLflow fills only the
    placeholders a command names, so a declared parameter missing here would be dropped."""
    return dict(re.findall(r"--(\w+) \{(\w+)\}", entry_points()[entry_point]["command"]))
