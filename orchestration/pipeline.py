"""The pipeline: prepare -> train -> evaluate as nested runs of the active run, reusing
unchanged steps; what `main` runs, and what each configuration of a sweep or tuning study runs.

Steps run in this process (one interpreter start, one set of imports) rather than as one
`mlflow run` each; every child run still records what `mlflow run . -e <step>` would.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import TYPE_CHECKING, TypedDict

import mlflow
import pandas as pd
from mlflow.entities import Run
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PROJECT_ENTRY_POINT

from orchestration.cache.reuse import Steps, execute_step
from orchestration.lifecycle.runs import active_run, raise_if_interrupted
from orchestration.project.params import (
    entry_point_defaults,
    entry_point_parameters,
    parse_params,
    recorded,
)
from orchestration.record.folds import folds_of
from orchestration.record.names import (
    NOTE_TAG,
    OUT_MODEL,
    PIPELINE_FILE,
    PIPELINE_METRICS,
    PROJECT_TAGS,
    STEPS,
    TAG_MODEL_URI,
    TAG_REUSED_FROM,
    TAG_REUSED_STEPS,
    TAG_WARNING,
)
from orchestration.record.store import current_run, log_batch, outputs_of
from titanic.errors import InputError

if TYPE_CHECKING:
    from titanic.models import Hooks


def step_params(step: str, chosen: dict[str, str], outputs: dict[str, str]) -> dict[str, str]:
    """A step's parameters: main's value, else an upstream output, else the step's default."""
    given = {**entry_point_defaults(step), **outputs, **chosen}
    return {name: given[name] for name in entry_point_parameters(step)}


def forced(step: str, force: str) -> bool:
    """`force` names the first step to recompute (`all`: every step, `none`: reuse freely)."""
    return force == "all" or (force in STEPS and STEPS.index(step) >= STEPS.index(force))


def reused_steps(record: list[StepRecord]) -> str:
    return ",".join(r["step"] for r in record if r["reused_from"])


class StepRecord(TypedDict):
    """What one step's child run did, as main prints it and the parent's pipeline.json keeps it."""

    step: str
    run_id: str
    reused_from: str | None
    warning: str | None
    outputs: dict[str, str]
    metrics: dict[str, float]
    folds: dict[str, str]  # train's fold scores (`record.folds`), which the parent shows too


def run_step(
    step: str,
    steps: Steps,
    params: dict[str, str],
    inherited: dict[str, str],
    *,
    reuse: bool,
    hooks: Hooks | None,
) -> StepRecord:
    """Run one step as a child run of the active run, standing in for a finished run with the
    same key if `reuse`; returns what the child did."""
    try:
        with (
            ExitStack() as cache,
            active_run(
                nested=True,
                experiment_id=current_run().info.experiment_id,  # the parent's, whatever
                run_name=step,  # the environment says
                tags={**inherited, MLFLOW_PROJECT_ENTRY_POINT: step},
            ) as child,
        ):
            mlflow.log_params(recorded(params))
            execute_step(step, steps, params, cache=cache if reuse else None, hooks=hooks)
    except InputError as err:  # the step's run says why; the pipeline's, which step failed
        raise InputError(f"step {step} failed: {err}") from None
    done = MlflowClient().get_run(child.info.run_id)
    return {
        "step": step,
        "run_id": done.info.run_id,
        "reused_from": done.data.tags.get(TAG_REUSED_FROM),
        "warning": done.data.tags.get(TAG_WARNING),
        "outputs": outputs_of(done),
        "metrics": done.data.metrics,
        "folds": folds_of(done.data.tags),
    }


def project_tags(run: Run) -> dict[str, str]:
    """The tags `mlflow run` put on a run, which its children take."""
    return {k: v for k, v in run.data.tags.items() if k in PROJECT_TAGS}


def run_pipeline(
    chosen: dict[str, str], steps: Steps, hooks: Hooks | None = None
) -> list[StepRecord]:
    """Run the steps (`steps(name)` gives a step's `run`, loaded when it is computed) as
    children of the active run, handing each the `hooks` (a search's configuration: its trial's
    reporter, its worker's kept folds); returns what each child did."""
    force = parse_params(chosen)["force"]  # every value checked before any step starts
    parent = current_run()
    client = MlflowClient()
    outputs: dict[str, str] = {}
    record: list[StepRecord] = []
    for step in STEPS:
        raise_if_interrupted()
        record.append(
            run_step(
                step,
                steps,
                step_params(step, chosen, outputs),
                project_tags(parent),
                reuse=not forced(step, force),
                hooks=hooks,
            )
        )
        outputs.update(record[-1]["outputs"])
        if record[-1]["reused_from"]:  # said at once: a later step may be pruned
            client.set_tag(parent.info.run_id, TAG_REUSED_STEPS, reused_steps(record))

    table = pd.DataFrame(
        {
            "step": [r["step"] for r in record],
            "run": [f"`{r['run_id']}`" for r in record],
            "": [
                f"reused from `{r['reused_from']}`" if r["reused_from"] else "computed"
                for r in record
            ],
        }
    )
    note = f"{table.to_markdown(index=False)}\n\nModel: `{outputs[OUT_MODEL]}`"
    log_batch(
        parent.info.run_id,
        pipeline_metrics(record),
        {
            TAG_MODEL_URI: outputs[OUT_MODEL],
            TAG_REUSED_STEPS: reused_steps(record),
            NOTE_TAG: note,
            **{k: v for r in record for k, v in r["folds"].items()},
        },
    )
    mlflow.log_dict({"steps": record}, PIPELINE_FILE)
    return record


def pipeline_metrics(record: list[StepRecord]) -> dict[str, float]:
    """What the parent run shows: every metric of train and evaluate, the model's, in their
    declared order (cross-validation first)."""
    found = {
        name: value
        for r in record
        if r["step"] != STEPS[0]  # prepare's describe the data, not the model
        for name, value in r["metrics"].items()
    }
    order = [*PIPELINE_METRICS, *sorted(found.keys() - set(PIPELINE_METRICS))]
    return {name: found[name] for name in order if name in found}
