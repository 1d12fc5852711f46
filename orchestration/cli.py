"""The command line of every entry point: arguments from MLproject, one-line errors, exit codes."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from collections.abc import Callable
from typing import NoReturn

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from orchestration.cache.reuse import StepRun, execute_step
from orchestration.lifecycle.runs import Interrupted, active_run, catch_interrupts, follow_launcher
from orchestration.project.params import entry_point_parameters, recorded
from orchestration.record.store import current_run
from orchestration.stores import StoreUnreachable
from orchestration.team.access import refusal
from titanic.errors import InputError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise InputError(message)


def parse_args(entry_point: str, argv: list[str] | None) -> dict[str, str]:
    """The entry point's parameters from `--name value` arguments; defaults come from MLproject.
    `mlflow run` passes an unknown `-P name=value` on as `--name value`: named here."""
    declared = entry_point_parameters(entry_point)
    parser = _Parser(prog=f"python -m steps.{entry_point}", add_help=False)
    for name, default in declared.items():
        parser.add_argument(f"--{name}", default=default, required=default is None)
    known, unknown = parser.parse_known_args(argv)
    if unknown:
        names = [arg[2:].split("=")[0] for arg in unknown if arg.startswith("--")]
        raise InputError(
            f"unknown parameter(s) {', '.join(names) or ' '.join(unknown)} for "
            f"{entry_point}: it takes {', '.join(declared)}"
        )
    return vars(known)


def recorded_args(entry_point: str, argv: list[str] | None) -> dict[str, str]:
    """`parse_args`, and the parameters recorded on the active run as `mlflow run` records
    them: a command started otherwise (`python -m steps.<entry point>`) has none yet."""
    chosen = parse_args(entry_point, argv)
    logged = current_run().data.params
    mlflow.log_params({k: v for k, v in recorded(chosen).items() if k not in logged})
    return chosen


def run_cli(body: Callable[[], None]) -> NoReturn:
    """Run a command body and exit; bad input becomes one line on stderr and a non-zero exit."""
    sys.exit(_run_body(body))


def _not_model_type_guess(record: logging.LogRecord) -> bool:
    """MLflow's evaluator counts only text, category or boolean labels as a classifier's; the
    passenger files hold Survived as 0 and 1. (One function, so a second call adds no second
    filter: a cluster worker quiets itself for every search.)"""
    return "the model type looks like" not in record.getMessage()


def quiet_known_warnings() -> None:
    """MLflow warnings that do not apply to this project's data and models."""
    # Integer columns are what the passenger files hold; logged models take their schema from
    # rows that include a missing cell of every column the training split has one in.
    warnings.filterwarnings("ignore", message="Hint: Inferred schema contains integer")
    # MLflow registers its local-file dataset source twice and asks which one: either is right.
    warnings.filterwarnings("ignore", message="The specified dataset source can be")
    logging.getLogger("mlflow.models.evaluation.evaluators.classifier").addFilter(
        _not_model_type_guess
    )


def quiet_process() -> None:
    """What a process that runs steps shows: the project's log lines, without MLflow warnings
    that do not apply or its download bars (a step's inputs are a few small files, and the
    bars of parallel workers interleave), unless MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR says."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    quiet_known_warnings()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def _run_body(body: Callable[[], None]) -> int:
    quiet_process()
    catch_interrupts()
    try:
        if os.environ.get("MLFLOW_RUN_ID"):  # set by `mlflow run` for the run it made
            follow_launcher()
        body()
    except (InputError, StoreUnreachable) as err:
        print(f"titanic: error: {err}", file=sys.stderr)
        return 2
    except MlflowException as err:
        known = refusal(err)  # the tracking server turned this machine's credentials away
        if known is None:
            raise
        print(f"titanic: error: {known}", file=sys.stderr)
        return 2
    except Interrupted as stop:
        print(f"titanic: stopped by {stop}; its runs are ended KILLED", file=sys.stderr)
        exit_now(128 + stop.signum)
    return 0


def exit_now(code: int) -> NoReturn:
    """Exit an interrupted command without joining its threads. A signal can land while a
    thread pool (MLflow's artifact uploads) starts a worker, after the thread started and
    before the pool recorded it: that worker never hears the interpreter is exiting, and a
    normal exit waits for it for ever (seen: a stopped `main` idle in `threading._shutdown`
    for hours). Its runs are ended, or left to the next command; logs and output are flushed."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def step_main(step: str, run_step: StepRun, argv: list[str] | None = None) -> NoReturn:
    """`python -m steps.<step>`: the step alone (its `run_step`), in the run `mlflow run` made
    (or a new one)."""

    def body() -> None:
        with active_run() as run:
            params = recorded_args(step, argv)
            outputs = execute_step(step, lambda _: run_step, params, cache=None, hooks=None)
        for name, uri in outputs.items():
            print(f"{name}: {uri}")
        for name, value in sorted(MlflowClient().get_run(run.info.run_id).data.metrics.items()):
            print(f"  {name:<22} {value:.4f}")

    run_cli(body)
