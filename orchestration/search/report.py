"""What a search run (sweep or tuning study) shows when it ends: the configurations ranked by
the selection rule, as `results.csv` and in its description; a plot of the metric against each
varied parameter; and the rule's choice, named in tags, with its metrics and parameters."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from orchestration.project.params import applicable
from orchestration.record.links import load_line, ui_line
from orchestration.record.names import (
    BEST_PARAM_PREFIX,
    CV_ACCURACY_SE,
    NOTE_TAG,
    RANKING_METRIC,
    RESULTS_FILE,
    SEARCH_PLOT,
    TAG_BEST_MODEL_URI,
    TAG_BEST_RUN,
    VAL_ACCURACY,
)
from orchestration.record.store import log_batch
from orchestration.registry.champion import candidate, ship
from orchestration.registry.selection import MARKS_NOTE, Entry, Ranking, entry, rank
from orchestration.search.driver import failed_line
from orchestration.search.points import PRUNED, Outcome

SHOWN_ROWS = 50  # rows of the table in the run's description and the printed summary


def selection(outcomes: list[Outcome]) -> tuple[list[Outcome], Ranking]:
    """The finished configurations, best mean first (in the order they were asked for on a
    tie), and the selection rule's ranking of them."""
    done = sorted(
        (o for o in outcomes if o.score is not None),
        key=lambda o: -(o.score or 0.0),
    )
    return done, rank([e for o in done if (e := outcome_entry(o)) is not None])


def outcome_entry(outcome: Outcome) -> Entry | None:
    return entry(outcome.metrics, outcome.config, outcome.folds)


def ranked(outcomes: list[Outcome], names: list[str]) -> pd.DataFrame:
    """One row per configuration, the rule's choice first, then by mean; unfinished ones last."""
    done, ranking = selection(outcomes)
    marks = {id(done[i]): ranking.marks[i] for i in range(len(done))}
    order = [done[i] for i in ranking.order] + [o for o in outcomes if o.score is None]
    rows = [
        {
            "configuration": o.label,
            **{n: applicable(o.config).get(n, "") for n in names},
            RANKING_METRIC: o.score,
            CV_ACCURACY_SE: e.standard_error if (e := outcome_entry(o)) else None,
            "selection": marks.get(id(o), ""),
            VAL_ACCURACY: o.metrics.get(VAL_ACCURACY),
            "status": o.status,
            "steps": "reused " + o.reused if o.reused else "computed",
            "run_id": o.run_id or "",
            "model_uri": o.model_uri or "",
            "error": o.error or "",
        }
        for o in order
    ]
    return pd.DataFrame(rows)


def markdown(table: pd.DataFrame) -> str:
    shown = table.drop(columns=["model_uri", "error"]).head(SHOWN_ROWS)
    text = shown.to_markdown(index=False, floatfmt=".4f", missingval="")
    if len(table) > SHOWN_ROWS:
        text += f"\n\n{len(table) - SHOWN_ROWS} more rows in {RESULTS_FILE}"
    return f"{text}\n\n{MARKS_NOTE}."


def plot(table: pd.DataFrame, names: list[str]) -> Figure:
    """The ranking metric against each varied parameter, one panel each."""
    done = table[table["status"] == "FINISHED"]
    panels = names or ["configuration"]
    fig = Figure(figsize=(4 * len(panels), 3.5))
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, name in zip(axes, panels, strict=True):
        shown = done[done[name].astype(str) != ""]  # configurations whose family uses it
        values = pd.to_numeric(shown[name], errors="coerce")
        if values.notna().all() and len(values):
            ax.scatter(values, shown[RANKING_METRIC])
            if values.min() > 0 and values.max() / values.min() >= 100:
                ax.set_xscale("log")
                # Ticks as the values are written (0.01, not 10 to the power -2), which
                # also spares typesetting powers of ten.
                ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        else:
            categories = sorted(shown[name].astype(str).unique())
            ax.scatter(
                [categories.index(v) for v in shown[name].astype(str)], shown[RANKING_METRIC]
            )
            ax.set_xticks(range(len(categories)), categories, rotation=30, ha="right")
        ax.set(xlabel=name, ylabel=RANKING_METRIC)
    fig.suptitle(f"{RANKING_METRIC} by parameter\n({len(done)} finished configurations)")
    fig.tight_layout()
    return fig


def best_of(outcomes: list[Outcome]) -> Outcome | None:
    """The finished configuration the selection rule picks, if any finished."""
    done, ranking = selection(outcomes)
    return done[ranking.chosen] if done else None


def record(
    run_id: str, outcomes: list[Outcome], names: list[str]
) -> tuple[pd.DataFrame, Outcome | None]:
    """Write the report on the search run; returns the ranked table and the best outcome."""
    table = ranked(outcomes, names)
    best = best_of(outcomes)
    with tempfile.TemporaryDirectory() as tmp:
        table.to_csv(Path(tmp) / RESULTS_FILE, index=False)
        plot(table, names).savefig(Path(tmp) / SEARCH_PLOT)
        mlflow.log_artifacts(tmp)
    tags = {NOTE_TAG: markdown(table)}
    metrics: dict[str, float] = {}
    if best is not None and best.run_id and best.model_uri:
        tags |= {TAG_BEST_RUN: best.run_id, TAG_BEST_MODEL_URI: best.model_uri}
        metrics = best.metrics  # every metric of its pipeline run, as `main`'s parent shows them
        mlflow.log_params({BEST_PARAM_PREFIX + k: v for k, v in best.config.items()})
    log_batch(run_id, metrics, tags)
    return table, best


def summary(table: pd.DataFrame, best_uri: str | None, load_line: str) -> str:
    shown = table[
        [
            "configuration",
            RANKING_METRIC,
            CV_ACCURACY_SE,
            "selection",
            VAL_ACCURACY,
            "status",
            "steps",
            "run_id",
        ]
    ].head(SHOWN_ROWS)
    lines = [shown.to_string(index=False, na_rep="", float_format=lambda v: f"{v:.4f}")]
    if len(table) > SHOWN_ROWS:
        lines.append(f"… {len(table) - SHOWN_ROWS} more in {RESULTS_FILE}")
    lines.append(f"{MARKS_NOTE}.")
    if best_uri:
        lines += [f"Best model: {best_uri}", load_line]
    return "\n".join(lines)


def finish(run: Run, outcomes: list[Outcome], names: list[str], settings: dict[str, Any]) -> None:
    """End a search: the report on its run, the ranked table printed with the line that loads
    the best model, the best model promoted if asked; an error naming what did not finish."""
    table, best = record(run.info.run_id, outcomes, names)
    pruned = sum(o.status == PRUNED for o in outcomes)
    print(
        f"{len(outcomes)} configurations under run {run.info.run_id}"
        f"{f' ({pruned} pruned)' if pruned else ''}, best first:"
    )
    best_uri = best.model_uri if best else None
    print(summary(table, best_uri, load_line(best_uri) if best_uri else ""))
    print(ui_line(run.info.experiment_id, run.info.run_id))
    if best and settings.get("promote") == "true":
        source = candidate(MlflowClient(), run.info.run_id, run.info.experiment_id)
        print(ship(source, settings["registered_model"]).summary())
    error = failed_line(outcomes)
    if error:
        raise error
