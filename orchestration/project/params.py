"""Every parameter of every entry point, declared once (`PARAMETERS`): its type, default, check,
meaning, the entry points that take it, its role, and its range where `tune` searches it.

MLproject, docs/parameters.md's table, the command lines, `tune`'s search space, run names and
the tests' defaults are derived from it (`python -m orchestration.project.mlproject` writes the
two files; a test fails when they are stale). A family's hyperparameters are the estimator's own
parameters (`titanic.families`): adding one touches that estimator and its row here.

Light on purpose (no scikit-learn, no pandas): `main` imports it on every run, including runs
where every step is reused and nothing heavy is needed.
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from orchestration.record.names import STEPS
from titanic.errors import InputError
from titanic.families import FAMILIES, FAMILY_PARAMS, FEATURE_SETS, HYPERPARAMETERS, OWN_INPUTS

ENTRY_POINTS = (*STEPS, "main", "promote", "sweep", "tune")
# Roles: what a parameter is to the work.
VALUE = "value"  # what a step computes from: keys its cache by value, names the run
INPUT = "input"  # names data: keys a step's cache by the data's content
OPTION = "option"  # how a pipeline runs (explain, force): not what it computes
SETTING = "setting"  # of a command as a whole (a search's workers, promotion): no configuration's


@dataclass(frozen=True)
class Tuned:
    """Where `tune` searches a hyperparameter: from `low` to `high`, on a log scale or not;
    whole numbers when both ends are."""

    low: float
    high: float
    log: bool = True

    def suggest(self, trial: Any, name: str) -> str:
        """A value drawn by an Optuna trial, as the parameter's string."""
        if isinstance(self.low, int) and isinstance(self.high, int):
            return str(trial.suggest_int(name, self.low, self.high, log=self.log))
        return f"{trial.suggest_float(name, self.low, self.high, log=self.log):.3g}"


@dataclass(frozen=True)
class Parameter:
    name: str
    type: str  # as MLproject declares it: string, float or int
    default: str | None  # None: required
    parse: Callable[[str, str], Any]  # (name, raw value) -> typed value; InputError if bad
    entry_points: tuple[str, ...]
    role: str
    meaning: str
    tuned: Tuned | None = None
    headline: tuple[str, ...] = ()  # families whose run names show it even at its default


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
    hint = "a whole number >= 1, or auto (one per core, or per cluster thread)"
    return _number(int, hint, lambda v: v >= 1, "2")(name, raw)


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


def _whole(low: int, high: float = math.inf, example: str = "") -> Callable[[str, str], Any]:
    hint = (
        f"a whole number >= {low}" if high == math.inf else f"a whole number from {low} to {high}"
    )
    return _number(int, hint, lambda v: low <= v <= high, example or str(low))


BOOLEAN = ("false", "true")
SOLVERS = ("lbfgs", "liblinear", "newton-cg", "newton-cholesky", "sag", "saga")
PRUNERS = ("auto", "median", "halving", "wilcoxon", "none")
FORCE_CHOICES = ("none", "all", *STEPS)
# Who takes what: a step's parameters, what `main` (and a sweep's configurations) take of
# them, and a tuning study's fixed ones.
MODEL = ("train", "main", "sweep")
PIPELINE = ("main", "sweep", "tune")
SEARCHES = ("sweep", "tune")

# A table: a parameter a row.
# fmt: off
PARAMETERS = (
    Parameter("data", "string", "data/titanic/train.csv", _text, ("prepare", *PIPELINE), INPUT,
              "raw passenger CSV with `Survived` (relative paths are read from the project "
              "folder)"),
    Parameter("prepared", "string", None, _text, ("train", "evaluate"), INPUT,
              "URI that `prepare` printed, e.g. `runs:/<run_id>/prepared`"),
    Parameter("model_uri", "string", None, _text, ("evaluate",), INPUT,
              "model URI that `train` printed, `models:/<model_id>`"),
    Parameter("test_data", "string", "data/titanic/test.csv", _text, ("evaluate",), INPUT,
              "passengers to predict for the submission file"),
    Parameter("test_size", "float", "0.25", _number(float, "a number between 0 and 1 (exclusive)",
              lambda v: 0 < v < 1, "0.25"), ("prepare", *PIPELINE), VALUE,
              "share of rows held out for validation, in (0, 1)"),
    Parameter("seed", "int", "123", _whole(0, 2**32 - 1, "123"), ("prepare", "train", *PIPELINE),
              VALUE, "random state of the split, the folds and the classifier"),
    Parameter("model", "string", "logreg", _choice(FAMILIES), MODEL, VALUE,
              "model family: `logreg`, `hgb` (histogram gradient boosting), `rf` (random forest), "
              "`vote` (soft vote of the three), `wcgplus` (the `wcg` rule where it speaks, hgb "
              "overturning the gender rule elsewhere only where very sure; hgb's "
              "hyperparameters, no feature set), or a baseline rule, `gender` or `wcg` (no "
              "hyperparameters, no feature set; [selection.md](selection.md#baselines))"),
    Parameter("features", "string", "engineered", _choice(FEATURE_SETS), MODEL, VALUE,
              "`engineered`, or `tutorial` (the original seven columns, imputed and "
              "ordinal-encoded)"),
    Parameter("C", "float", "1.5", _number(float, "a number > 0", lambda v: 0 < v < math.inf,
              "1.5"), MODEL, VALUE, "logreg: inverse regularisation strength, > 0",
              tuned=Tuned(0.01, 10.0), headline=("logreg",)),
    Parameter("max_iter", "int", "1000", _whole(1, example="1000"), MODEL, VALUE,
              "logreg: iterations of the solver, > 0"),
    Parameter("solver", "string", "newton-cholesky", _choice(SOLVERS), MODEL, VALUE,
              f"logreg: one of {', '.join(f'`{s}`' for s in SOLVERS)}; the default takes a few "
              "exact Newton steps, fast when rows far outnumber columns (as here) and closer to "
              "the optimum than `lbfgs` stops"),
    Parameter("learning_rate", "float", "0.03", _number(float, "a number in (0, 1]",
              lambda v: 0 < v <= 1, "0.05"), MODEL, VALUE, "hgb: shrinkage, in (0, 1]",
              tuned=Tuned(0.01, 0.3), headline=("hgb",)),
    Parameter("max_depth", "int", "3", _whole(1, 100, "5"), MODEL, VALUE,
              "hgb, rf: depth of each tree, 1 to 100", tuned=Tuned(2, 6, log=False)),
    Parameter("n_trees", "int", "200", _whole(1, 5000, "200"), MODEL, VALUE,
              "hgb: boosting rounds; rf: trees; 1 to 5000", tuned=Tuned(50, 300),
              headline=("rf",)),
    Parameter("min_samples_leaf", "int", "2", _whole(1, 1000, "5"), MODEL, VALUE,
              "hgb, rf: fewest training rows in a leaf, 1 to 1000", tuned=Tuned(1, 20)),
    Parameter("cv_folds", "int", "5", _whole(2, example="5"), ("train", *PIPELINE), VALUE,
              "folds of the cross-validation, 2 up to the training rows of the smaller class"),
    Parameter("cv_repeats", "int", "3", _whole(1, 100, "3"), ("train", *PIPELINE), VALUE,
              "repeats of the k-fold with other shuffles, 1 to 100"),
    Parameter("explain", "string", "false", _choice(BOOLEAN), ("evaluate", "main"), OPTION,
              "`true`: also MLflow's own evaluation, `mlflow.models.evaluate`: its classifier "
              "metrics and figures, and SHAP plots of the encoded features (seconds per model; a "
              "promotion makes it anyway) ([results](results.md))"),
    Parameter("force", "string", "none", _choice(FORCE_CHOICES), ("main", "sweep"), OPTION,
              "recompute regardless of the cache: `all`, or the first step to redo (`prepare`, "
              "`train`, `evaluate`)"),
    Parameter("trials", "int", "40", _whole(1, 10000, "40"), ("tune",), SETTING,
              "Optuna trials to run ([searches](searches.md))"),
    Parameter("jobs", "string", "auto", _jobs, SEARCHES, SETTING,
              "configurations at once, ≥ 1; `auto`: one per core (per worker thread on a cluster)"),
    Parameter("cluster", "string", "local", _cluster, SEARCHES, SETTING,
              "`local`, or a Dask scheduler's address `tcp://…`/`tls://…` ([cluster](cluster.md))"),
    Parameter("max_configs", "int", "500", _whole(1, example="500"), ("sweep",), SETTING,
              "the largest grid it accepts"),
    Parameter("storage", "string", "auto", _text, ("tune",), SETTING,
              "the Optuna study's storage URL; `auto`: `optuna.db` beside a sqlite tracking store"),
    Parameter("study", "string", "titanic", _text, ("tune",), SETTING,
              "the Optuna study's name: commands given the same storage and study share it"),
    Parameter("pruner", "string", "auto", _choice(PRUNERS), ("tune",), SETTING,
              f"what stops trials early: {', '.join(f'`{p}`' for p in PRUNERS)}"),
    Parameter("run", "string", "best", _text, ("promote",), SETTING,
              "run id of a `main`, search or `train` run, or `best`: what the selection rule picks "
              "among the experiment's finished pipeline runs"),
    Parameter("promote", "string", "false", _choice(BOOLEAN), PIPELINE, SETTING,
              "`true`: promote the run's (or the search's best) model at the end, as `promote` "
              "does"),
    Parameter("registered_model", "string", "titanic", _registered_name, ("promote", *PIPELINE),
              SETTING, "the registered model to promote to: letters, digits, `_ . -`"),
    Parameter("even_if_worse", "string", "false", _choice(BOOLEAN), ("promote",), SETTING,
              "`true`: take the `champion` alias even if the selection rule prefers the champion"),
)
# fmt: on
BY_NAME = {p.name: p for p in PARAMETERS}
PARSERS = {p.name: p.parse for p in PARAMETERS}
# Parameters that say how to run rather than what to compute: left out of run names,
# summaries and leaderboards.
PIPELINE_ONLY = tuple(p.name for p in PARAMETERS if p.role in (OPTION, SETTING))
# Parameters of a search (sweep, tune) itself rather than of its configurations.
SEARCH_SETTINGS = tuple(p.name for p in PARAMETERS if p.role == SETTING)
# Parameters whose value names data: their content is part of a step's cache key.
INPUT_PARAMS = tuple(p.name for p in PARAMETERS if p.role == INPUT)
# Where `tune` searches: the family, the feature set and the tuned hyperparameters.
TUNED = {p.name: p.tuned for p in PARAMETERS if p.tuned is not None}
# The parameter each family is best known by, named in a run's name even at its default.
HEADLINE = {
    family: tuple(p.name for p in PARAMETERS if family in p.headline) for family in FAMILIES
}


def entry_point_parameters(entry_point: str) -> dict[str, str | None]:
    """Parameters of an entry point with their defaults (None where required), in order."""
    return {p.name: p.default for p in PARAMETERS if entry_point in p.entry_points}


def entry_point_defaults(entry_point: str) -> dict[str, str]:
    """The parameters of an entry point that have a default, with it."""
    return {k: v for k, v in entry_point_parameters(entry_point).items() if v is not None}


def parse_params(raw: dict[str, str]) -> dict[str, Any]:
    """Typed values for an entry point's string parameters; InputError on the first bad one."""
    return {name: PARSERS[name](name, value) for name, value in raw.items()}


def applicable(params: dict[str, str]) -> dict[str, str]:
    """The parameters that change what a run computes: a family's unused hyperparameters left
    out, so that a tree model run with another `C` is the same work; a family that reads its
    own inputs (a rule, `wcgplus`) reads no feature set either."""
    model = params.get("model", "")
    used = FAMILY_PARAMS.get(model, HYPERPARAMETERS)
    unused = "features" if model in OWN_INPUTS else None
    return {
        k: v for k, v in params.items() if (k not in HYPERPARAMETERS or k in used) and k != unused
    }


def recorded(params: dict[str, Any]) -> dict[str, str]:
    """Parameter values written the way `mlflow run` logs them."""
    return {name: shlex.quote(str(value)) for name, value in params.items()}
