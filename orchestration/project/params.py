"""Parameters: one check per name, and a name means the same in every entry point; which
parameters change what a run computes.

Light on purpose (no scikit-learn, no pandas): `main` imports it on every run, including runs
where every step is reused and nothing heavy is needed.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from typing import Any

from orchestration.record.names import STEPS
from titanic.errors import InputError
from titanic.families import (
    FAMILIES,
    FAMILY_PARAMS,
    FEATURE_SETS,
    HYPERPARAMETERS,
    RULES,
    SOLVERS,
)

FORCE_CHOICES = ("none", "all", *STEPS)


def _number(
    kind: type, hint: str, valid: Callable[[float], bool], example: str
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


def _registered_name(name: str, raw: str) -> str:
    # What every MLflow store accepts and a `models:/<name>@<alias>` URI can carry.
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", raw):
        raise InputError(
            f"{name} {raw!r} is not allowed: use letters, digits, '_', '.' or '-' "
            f"(at most 100), e.g. -P {name}=titanic"
        )
    return raw


def _jobs(name: str, raw: str) -> int | None:
    """Configurations at once: `auto` (None) is one per core, or per thread of a cluster."""
    if raw == "auto":
        return None
    return _number(
        int,
        "a whole number >= 1, or auto (one per core, or per cluster thread)",
        lambda v: v >= 1,
        "2",
    )(name, raw)


def _cluster(name: str, raw: str) -> str:
    """`local`, or a Dask scheduler's address (checked when the search connects)."""
    if raw != "local" and not raw.startswith(("tcp://", "tls://")):
        raise InputError(
            f"{name} must be local or a Dask scheduler address such as "
            f"tls://scheduler:8786 or tcp://127.0.0.1:8786; got {raw!r}"
        )
    return raw


def _text(name: str, raw: str) -> str:
    if not raw.strip():
        raise InputError(f"{name} must not be empty")
    return raw


PARSERS: dict[str, Callable[[str, str], Any]] = {
    "data": _text,
    "test_size": _number(
        float, "a number between 0 and 1 (exclusive)", lambda v: 0 < v < 1, "0.25"
    ),
    "seed": _number(int, "a whole number from 0 to 4294967295", lambda v: 0 <= v < 2**32, "123"),
    "prepared": _text,
    "model": _choice(FAMILIES),
    "features": _choice(FEATURE_SETS),
    "C": _number(float, "a number > 0", lambda v: 0 < v < float("inf"), "1.5"),
    "max_iter": _number(int, "a whole number > 0", lambda v: v > 0, "1000"),
    "solver": _choice(SOLVERS),
    "learning_rate": _number(float, "a number in (0, 1]", lambda v: 0 < v <= 1, "0.05"),
    "max_depth": _number(int, "a whole number from 1 to 100", lambda v: 1 <= v <= 100, "5"),
    "n_trees": _number(int, "a whole number from 1 to 5000", lambda v: 1 <= v <= 5000, "200"),
    "min_samples_leaf": _number(
        int, "a whole number from 1 to 1000", lambda v: 1 <= v <= 1000, "5"
    ),
    "cv_folds": _number(int, "a whole number >= 2", lambda v: v >= 2, "5"),
    "cv_repeats": _number(int, "a whole number from 1 to 100", lambda v: 1 <= v <= 100, "3"),
    "model_uri": _text,
    "test_data": _text,
    "explain": _choice(("false", "true")),
    "force": _choice(FORCE_CHOICES),
    "promote": _choice(("false", "true")),
    "even_if_worse": _choice(("false", "true")),
    "registered_model": _registered_name,
    "run": _text,
    "jobs": _jobs,
    "cluster": _cluster,
    "max_configs": _number(int, "a whole number >= 1", lambda v: v >= 1, "500"),
    "trials": _number(int, "a whole number from 1 to 10000", lambda v: 1 <= v <= 10000, "40"),
    "storage": _text,
    "study": _text,
    "pruner": _choice(("auto", "median", "halving", "wilcoxon", "none")),
}
# `main` parameters that say what to do besides computing a model (reuse, explain, register):
# left out of run names, summaries, leaderboards and registered versions' tags.
PIPELINE_ONLY = ("explain", "force", "promote", "registered_model")
# Parameters of a search (sweep, tune) itself rather than of its configurations.
SEARCH_SETTINGS = (
    "jobs",
    "cluster",
    "max_configs",
    "trials",
    "storage",
    "study",
    "pruner",
    "promote",
    "registered_model",
)

# Parameters whose value names data: their content is part of a step's cache key.
INPUT_PARAMS = ("data", "prepared", "model_uri", "test_data")


def parse_params(raw: dict[str, str]) -> dict[str, Any]:
    """Typed values for an entry point's string parameters; InputError on the first bad one."""
    return {name: PARSERS[name](name, value) for name, value in raw.items()}


def applicable(params: dict[str, str]) -> dict[str, str]:
    """The parameters that change what a run computes: a family's unused hyperparameters left
    out, so that a tree model run with another `C` is the same work; a rule (a baseline)
    reads no feature set either."""
    model = params.get("model", "")
    used = FAMILY_PARAMS.get(model, HYPERPARAMETERS)
    unused = "features" if model in RULES else None
    return {
        k: v for k, v in params.items() if (k not in HYPERPARAMETERS or k in used) and k != unused
    }


def recorded(params: dict[str, Any]) -> dict[str, str]:
    """Parameter values written the way `mlflow run` logs them."""
    return {name: shlex.quote(str(value)) for name, value in params.items()}
