"""main: prepare -> train -> evaluate as nested runs under one parent, reusing unchanged steps.

Steps run in this process (one interpreter start, one set of imports) rather than as one
`mlflow run` each; every child run still records what `mlflow run . -e <step>` would.
"""

from __future__ import annotations

from contextlib import ExitStack
from typing import NoReturn

import mlflow
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PROJECT_ENTRY_POINT

from steps.common import (OUT_MODEL, PIPELINE_FILE, STEPS, InputError, entry_point_defaults,
                          parse_params, recorded)
from steps.tracking import (NOTE_TAG, PROJECT_TAGS, TAG_MODEL_URI, TAG_REUSED_FROM, active_run,
                            execute_step, log_batch, outputs_of, parse_args,
                            raise_if_interrupted, run_cli)


def step_params(step: str, chosen: dict[str, str], outputs: dict[str, str]) -> dict[str, str]:
    """A step's parameters: main's value, else an upstream output, else the step's default."""
    return {name: chosen.get(name, outputs.get(name, default))
            for name, default in entry_point_defaults(step).items()}


def forced(step: str, force: str) -> bool:
    """`force` names the first step to recompute (`all`: every step, `none`: reuse freely)."""
    return force == "all" or (force in STEPS and STEPS.index(step) >= STEPS.index(force))


def run_pipeline(chosen: dict[str, str]) -> list[dict[str, object]]:
    """Run the steps as children of the active run; returns what each child did."""
    force = parse_params(chosen)["force"]  # every value checked before any step starts
    parent = mlflow.active_run()
    given = recorded(chosen)
    # `mlflow run` has logged them already; a direct `python -m steps.main` has not.
    mlflow.log_params({k: v for k, v in given.items() if k not in parent.data.params})
    inherited = {k: v for k, v in parent.data.tags.items() if k in PROJECT_TAGS}
    client = MlflowClient()
    outputs: dict[str, str] = {}
    record = []
    for step in STEPS:
        raise_if_interrupted()
        params = step_params(step, chosen, outputs)
        with ExitStack() as cache, active_run(
                nested=True, run_name=step,
                tags={**inherited, MLFLOW_PROJECT_ENTRY_POINT: step}) as child:
            mlflow.log_params(recorded(params))
            try:
                outputs.update(execute_step(step, params,
                                            cache=None if forced(step, force) else cache))
            except InputError as err:
                raise InputError(f"step {step} failed: {err}") from None
        done = client.get_run(child.info.run_id)
        record.append({"step": step, "run_id": done.info.run_id,
                       "reused_from": done.data.tags.get(TAG_REUSED_FROM),
                       "outputs": outputs_of(done), "metrics": done.data.metrics})

    rows = [f"| {r['step']} | `{r['run_id']}` | "
            f"{'reused from `' + r['reused_from'] + '`' if r['reused_from'] else 'computed'} |"
            for r in record]
    note = "\n".join(["| step | run | |", "|---|---|---|", *rows, "",
                      f"Model: `{outputs[OUT_MODEL]}`"])
    log_batch(parent.info.run_id, record[-1]["metrics"],
              {TAG_MODEL_URI: outputs[OUT_MODEL], NOTE_TAG: note})
    mlflow.log_dict({"steps": record}, PIPELINE_FILE)
    return record


def summary(parent_id: str, record: list[dict[str, object]]) -> str:
    model_uri = next(r["outputs"][OUT_MODEL] for r in record if OUT_MODEL in r["outputs"])
    lines = [f"Pipeline finished. Parent run: {parent_id}"]
    for r in record:
        how = f"reused run {r['reused_from']}" if r["reused_from"] else "computed"
        lines.append(f"  {r['step']:<9} run {r['run_id']}  {how}")
    lines.append("Metrics (validation split):")
    lines += [f"  {name:<14} {value:.4f}" for name, value in sorted(record[-1]["metrics"].items())]
    lines.append(f"Model: {model_uri}")
    lines.append(f"Load it: mlflow.pyfunc.load_model(\"{model_uri}\")")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> NoReturn:
    chosen = parse_args("main", argv)

    def body() -> None:
        with active_run() as parent:
            record = run_pipeline(chosen)
        print(summary(parent.info.run_id, record))
    run_cli(body)


if __name__ == "__main__":
    main()
