"""The best models of an experiment's pipeline runs, the selection rule's choice first, each
with its standard error, its mark against the best mean, and its registered version.

    titanic-leaderboard [--experiment NAME] [--limit 10] [--every_run]
        [--filter "params.model = 'hgb'"] [--format table|markdown|csv|json]
        [--registered_model titanic]

Runs that reused the same model are one row (`runs` counts them) unless --every_run. Reads the
tracking store (MLFLOW_TRACKING_URI) and creates no run: one `search_runs` call for the best
POOL runs, among which the rule looks for ties, and one registry search for their versions.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime
from typing import Any

import mlflow
import pandas as pd
from mlflow.entities import Run
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from orchestration.project.params import PARSERS, PIPELINE_ONLY, applicable, entry_point_defaults
from orchestration.record.names import (
    CV_ACCURACY_SE,
    RANKING_METRIC,
    STEPS,
    TAG_REUSED_STEPS,
    VAL_ACCURACY,
)
from orchestration.registry.champion import best_runs, choose, model_uri_of, run_entry
from orchestration.registry.selection import MARKS_NOTE, POOL
from orchestration.team.access import refusal
from titanic.errors import InputError

FORMATS = ("table", "markdown", "csv", "json")


def read_board(
    client: MlflowClient, experiment: str, filter_string: str, registered_model: str
) -> tuple[list[Run], dict[str, tuple[str, list[str]]]]:
    """The best POOL runs by mean and, by model URI, the registered versions of their models."""
    found = client.get_experiment_by_name(experiment)
    if found is None:
        names = ", ".join(e.name for e in client.search_experiments(max_results=20))
        raise InputError(
            f"no experiment named {experiment!r} in {mlflow.get_tracking_uri()}: "
            f"pass --experiment with one of: {names}"
        )
    try:
        runs = best_runs(client, found.experiment_id, POOL, filter_string.strip())
    except MlflowException as err:
        raise InputError(
            f"the filter {filter_string!r} is not one MLflow accepts "
            f"({err.message.splitlines()[0]}): e.g. --filter \"params.model = 'hgb'\""
        ) from None
    if not runs:
        raise InputError(
            f"experiment {experiment!r} has no finished pipeline run"
            f"{' matching the filter' if filter_string.strip() else ''}: run "
            f"`mlflow run .` first (or loosen --filter)"
        )
    return runs, registered_versions(client, registered_model)


def registered_versions(client: MlflowClient, name: str) -> dict[str, tuple[str, list[str]]]:
    """By model URI: the version registered from it and the aliases that version holds."""
    found = client.search_registered_models(f"name = '{name}'", max_results=1)
    if not found:
        return {}
    aliases: dict[str, list[str]] = {}
    for alias, version in found[0].aliases.items():
        aliases.setdefault(str(version), []).append(alias)
    return {
        v.source: (str(v.version), sorted(aliases.get(str(v.version), [])))
        for v in client.search_model_versions(f"name='{name}'")
        if v.source
    }


def shown(runs: list[Run], limit: int, every_run: bool) -> list[tuple[Run, str, int]]:
    """The rows, the rule's choice first: each run with its mark and how many runs it stands
    for (runs that reused the same model collapse into their first, unless `every_run`)."""
    ranking = choose(runs)
    kept: dict[str, tuple[Run, str, int]] = {}
    for i in ranking.order:
        run = runs[i]
        key = run.info.run_id if every_run else (model_uri_of(run) or run.info.run_id)
        first, mark, count = kept.get(key, (run, ranking.marks[i], 0))
        kept[key] = (first, mark, count + 1)
    return list(kept.values())[:limit]


def rows(
    board: list[tuple[Run, str, int]], versions: dict[str, tuple[str, list[str]]]
) -> list[dict[str, Any]]:
    """One row per model: when, name, the parameters that differ between the rows (blank where
    the run's model family does not use one), the scores with their mark, and what it became."""
    runs = [run for run, _, _ in board]
    used = [
        applicable(
            {k: v for k, v in r.data.params.items() if k in PARSERS and k not in PIPELINE_ONLY}
        )
        for r in runs
    ]
    # Varying: different values among the rows whose family uses the parameter.
    varying = [k for k in entry_point_defaults("main") if len({u[k] for u in used if k in u}) > 1]
    table = []
    for (run, mark, count), params in zip(board, used, strict=True):
        model_uri = model_uri_of(run) or ""
        scored = run_entry(run)
        version, aliases = versions.get(model_uri, ("", []))
        reused = [s for s in run.data.tags.get(TAG_REUSED_STEPS, "").split(",") if s]
        table.append(
            {
                "when": datetime.fromtimestamp(run.info.start_time / 1000).strftime(
                    "%Y-%m-%d %H:%M"
                ),
                "run_name": run.info.run_name,
                **{k: params.get(k, "") for k in varying},
                RANKING_METRIC: run.data.metrics.get(RANKING_METRIC),
                CV_ACCURACY_SE: scored.standard_error if scored else None,
                "selection": mark,
                VAL_ACCURACY: run.data.metrics.get(VAL_ACCURACY),
                "runs": count,
                "steps": "computed"
                if not reused
                else ("all reused" if len(reused) == len(STEPS) else "reused " + ",".join(reused)),
                "run_id": run.info.run_id,
                "model_uri": model_uri,
                "version": version,
                "alias": ",".join(aliases),
            }
        )
    return table


def render(table: list[dict[str, Any]], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(table, indent=2)
    text = pd.DataFrame(table).map(
        lambda v: "" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v)
    )
    if fmt == "csv":
        return text.to_csv(index=False, lineterminator="\n").rstrip("\n")
    board = text.to_markdown(
        index=False, tablefmt="pipe" if fmt == "markdown" else "plain", disable_numparse=True
    )
    return f"{board}\n\n{MARKS_NOTE}."


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="titanic-leaderboard", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--experiment", default=os.environ.get("MLFLOW_EXPERIMENT_NAME", "Default"))
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument("--every_run", action="store_true", help="a row per run, not per model")
    parser.add_argument("--filter", default="", help="an MLflow search filter, ANDed")
    parser.add_argument("--format", choices=FORMATS, default="table")
    parser.add_argument("--registered_model", default="titanic")
    args = parser.parse_args(argv)
    try:
        if not 1 <= args.limit <= 50000:
            raise InputError(f"--limit must be from 1 to 50000, got {args.limit}")
        runs, versions = read_board(
            MlflowClient(), args.experiment, args.filter, args.registered_model
        )
    except InputError as err:
        sys.exit(f"titanic: error: {err}")
    except MlflowException as err:
        known = refusal(err)
        if known is None:
            raise
        sys.exit(f"titanic: error: {known}")
    print(render(rows(shown(runs, args.limit, args.every_run), versions), args.format))


if __name__ == "__main__":
    main()
