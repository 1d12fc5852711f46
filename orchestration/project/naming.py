"""Run names that say what a run did, unless its user chose one."""

from __future__ import annotations

from mlflow.entities import Run
from mlflow.tracking import MlflowClient

# Private, with no public equivalent: the word lists MLflow draws generated run names from.
from mlflow.utils.name_utils import _GENERATOR_NOUNS, _GENERATOR_PREDICATES

from orchestration.project.params import (
    HEADLINE,
    PIPELINE_ONLY,
    applicable,
    entry_point_defaults,
)


def describe(params: dict[str, str]) -> str:
    """A run name that says what a pipeline computed: the family, its headline parameter and
    every other computed-on value that is not the default, e.g. `vote features=tutorial`."""
    defaults = entry_point_defaults("main")
    model = params.get("model") or defaults["model"]
    shown = [
        f"{k}={v}"
        for k, v in applicable(params).items()
        if k != "model"
        and k not in PIPELINE_ONLY
        and (k in HEADLINE.get(model, ()) or v != defaults.get(k))
    ]
    return " ".join([model, *shown])


def name_unless_named(run: Run, name: str) -> None:
    """Give a run a name that says what it did, unless its user chose one: MLflow names an
    unnamed run `<adjective>-<animal>-<number>` from its own word lists."""
    words = run.info.run_name.split("-")
    generated = (
        len(words) == 3
        and words[0] in _GENERATOR_PREDICATES
        and words[1] in _GENERATOR_NOUNS
        and words[2].isdigit()
    )
    if generated:
        MlflowClient().update_run(run.info.run_id, name=name)
