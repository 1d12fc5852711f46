"""main: prepare -> train -> evaluate as nested runs under one parent, reusing unchanged steps;
ends with a summary, and with a promotion to the registry if asked."""

from __future__ import annotations

from typing import NoReturn

from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from orchestration.cli import recorded_args, run_cli
from orchestration.lifecycle.runs import active_run
from orchestration.pipeline import StepRecord, pipeline_metrics, run_pipeline
from orchestration.project.naming import describe, name_unless_named
from orchestration.project.params import PIPELINE_ONLY, applicable
from orchestration.record.links import load_line, ui_line
from orchestration.record.names import OUT_MODEL
from orchestration.registry.champion import ship
from steps import step


def summary(parent: Run, chosen: dict[str, str], record: list[StepRecord]) -> str:
    model_uri = next(r["outputs"][OUT_MODEL] for r in record if OUT_MODEL in r["outputs"])
    ran_with = {k: v for k, v in applicable(chosen).items() if k not in PIPELINE_ONLY}
    lines = [
        f"Pipeline finished. Parent run: {parent.info.run_id}",
        "  with " + " ".join(f"{k}={v}" for k, v in ran_with.items()),
    ]
    for r in record:
        how = f"reused run {r['reused_from']}" if r["reused_from"] else "computed"
        lines.append(f"  {r['step']:<9} run {r['run_id']}  {how}")
    lines.append("Metrics (cv_*: cross-validation on the training split; val_*: validation split):")
    lines += [f"  {name:<20} {value:.4f}" for name, value in pipeline_metrics(record).items()]
    lines += [f"Warning ({r['step']}): {r['warning']}" for r in record if r["warning"]]
    lines.append(f"Model: {model_uri}")
    lines.append(load_line(model_uri))
    lines.append(ui_line(parent.info.experiment_id, parent.info.run_id))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> NoReturn:
    def body() -> None:
        promotion = None
        with active_run() as parent:
            chosen = recorded_args("main", argv)
            name_unless_named(parent, describe(chosen))
            record = run_pipeline(chosen, step)
            if chosen["promote"] == "true":
                promotion = ship(
                    MlflowClient().get_run(parent.info.run_id), chosen["registered_model"]
                )
        print(summary(parent, chosen, record))
        if promotion:
            print(promotion.summary())

    run_cli(body)


if __name__ == "__main__":
    main()
