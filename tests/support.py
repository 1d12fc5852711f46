"""What the tests share: the project's paths and defaults, `mlflow run` and its in-process
stand-in, and questions to the tracking store about what a run recorded."""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import chdir, redirect_stderr, redirect_stdout
from functools import partial
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
from mlflow.entities import Experiment, Run
from mlflow.tracking import MlflowClient

from orchestration.project.params import entry_point_defaults

PROJECT = Path(__file__).resolve().parent.parent
EXPERIMENT = "titanic-test"
# What `mlflow run .` runs with when given no -P: the defaults declared for main.
MAIN_DEFAULTS = entry_point_defaults("main")
# One pass of cross-validation, for tests of the machinery rather than of the model.
QUICK = ("-P", "cv_repeats=1")
# The interpreter running the tests is the one `mlflow run --env-manager local` must find.
BIN = str(Path(sys.executable).parent)


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on at `host` now, for a server a test starts there."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def run_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", **extra}


def mlflow_run_command(*args: str, project: Path | str = PROJECT) -> list[str]:
    """`mlflow run <project> --env-manager local <args>`, as a user would type it."""
    return [sys.executable, "-m", "mlflow", "run", str(project), "--env-manager", "local", *args]


def mlflow_run(
    *args: str, project: Path | str = PROJECT, cwd: Path = PROJECT, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """`mlflow run` (`mlflow_run_command`) to its end, its output captured."""
    return subprocess.run(
        mlflow_run_command(*args, project=project),
        cwd=cwd,
        env=run_env(),
        capture_output=True,
        text=True,
        timeout=300,
        **kwargs,
    )


def run_here(*args: str, project: Path = PROJECT) -> subprocess.CompletedProcess[str]:
    """`mlflow_run(*args, project=project)` (`-e` and `-P` only) without MLflow's launcher:
    the entry point's own code in this process, with its checks, runs, error line and exit
    code, in `project`'s folder (its data; its code as the cache keys read it). For the many
    inputs that take one path, whose launcher part is checked through `mlflow run` once: a
    `mlflow run` costs seconds of start-up before the entry point's first line."""
    from orchestration.cache import keys
    from orchestration.cli import step_main

    entry, argv = "main", []
    pairs = iter(args)
    for flag, value in zip(pairs, pairs, strict=True):
        if flag == "-e":
            entry = value
        elif flag == "-P":
            name, _, given = value.partition("=")
            argv += [f"--{name}", given]
        else:
            raise ValueError(f"run_here takes -e and -P, not {flag}")
    module = importlib.import_module(f"steps.{entry}")
    command = module.main if hasattr(module, "main") else partial(step_main, entry, module.run)
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    out, err = io.StringIO(), io.StringIO()
    try:
        # The command exits (sys.exit), as in the process `mlflow run` started for it.
        with (
            chdir(project),
            redirect_stdout(out),
            redirect_stderr(err),
            patched(keys, "PROJECT_DIR", project),
        ):
            command(argv)
        raise AssertionError(f"{entry} returned instead of exiting")
    except SystemExit as exited:
        code = int(exited.code or 0)
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    return subprocess.CompletedProcess(["run_here", *args], code, out.getvalue(), err.getvalue())


@contextlib.contextmanager
def patched(owner: object, name: str, value: object) -> Iterator[None]:
    before = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, before)


def started_mlflow_run(
    command: list[str], cwd: Path = PROJECT, env: dict[str, str] | None = None, **kwargs: Any
) -> subprocess.Popen[str]:
    """`command` (an `mlflow run`) started in the background, its output piped as text."""
    return subprocess.Popen(
        command,
        cwd=cwd,
        env=env or run_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def finished(proc: subprocess.Popen[str], timeout: float) -> tuple[str, str]:
    """The output of `proc` once it, and whatever it started that holds its pipes, has exited.
    Past `timeout`, the failure lists the project's processes still alive (which one holds
    the pipes) and the output so far, and the session `proc` leads is killed."""
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        listing = subprocess.run(
            ["ps", "-eo", "pid,ppid,pgid,sid,stat,etimes,args"], capture_output=True, text=True
        ).stdout.splitlines()
        alive = [line[:300] for line in listing if re.search(r"mlflow|steps\.|orchestration", line)]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate(timeout=30)
        raise AssertionError(
            f"{proc.args!r} still held its pipes after {timeout} s; alive:\n"
            + "\n".join([listing[0], *alive])
            + f"\nits stderr:\n{err[-3000:]}"
        ) from None


Launch = Callable[..., subprocess.CompletedProcess[str]]


def default_training_rows() -> pd.DataFrame:
    """The training split `prepare` makes of MLproject's default data at its defaults."""
    from steps.prepare import prepare
    from titanic.passengers import read_passengers

    defaults = entry_point_defaults("main")
    passengers = read_passengers(PROJECT / defaults["data"], with_target=True, source="train.csv")
    training, _ = prepare(passengers, float(defaults["test_size"]), int(defaults["seed"]))
    return training


def launcher_id(value: object) -> str | None:
    """Test ids that say how a parametrized case was run: `mlflow_run` or `run_here`."""
    return value.__name__ if value in (mlflow_run, run_here) else None


def experiment_id() -> str:
    """The experiment `mlflow run` puts runs in here: the test's own, else MLflow's Default."""
    return experiment(os.environ.get("MLFLOW_EXPERIMENT_NAME", "Default")).experiment_id


def experiment(name: str) -> Experiment:
    """An experiment that must exist in the current store."""
    found = MlflowClient().get_experiment_by_name(name)
    assert found is not None, f"no experiment {name} in {mlflow.get_tracking_uri()}"
    return found


def matched(pattern: str, text: str, flags: int = 0) -> re.Match[str]:
    """`pattern` searched in `text`, which must hold it."""
    found = re.search(pattern, text, flags)
    assert found is not None, f"{pattern!r} not in {text!r}"
    return found


def all_runs() -> list[Run]:
    return MlflowClient().search_runs(
        [experiment_id()], order_by=["attributes.start_time ASC"], max_results=1000
    )


def parents() -> list[Run]:
    return [r for r in all_runs() if "mlflow.parentRunId" not in r.data.tags]


def children(parent: Run) -> dict[str, Run]:
    """A parent's child runs by name, checking there are exactly the three steps."""
    kids = [r for r in all_runs() if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    by_name = {r.info.run_name: r for r in kids}
    assert sorted(by_name) == ["evaluate", "prepare", "train"] and len(kids) == 3, by_name
    return by_name


def reused(parent: Run) -> dict[str, str | None]:
    """For each step of a parent run: the run whose outputs it reused, or None if computed."""
    return {
        name: run.data.tags.get("titanic.reused_from") for name, run in children(parent).items()
    }


def error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("titanic: error:")]


# A logistic regression that fits small frames quickly.
LOGREG = {"C": 1.0, "max_iter": 200, "solver": "lbfgs"}

# The Kaggle files the project ships.
DATA = PROJECT / "data" / "titanic"


def passengers(n: int = 40) -> pd.DataFrame:
    """A tiny synthetic passenger list in Kaggle's layout, women surviving and men not."""
    rng = np.random.default_rng(0)
    sex = np.where(np.arange(n) % 2 == 0, "female", "male")
    return pd.DataFrame(
        {
            "PassengerId": np.arange(1, n + 1),
            "Survived": (sex == "female").astype(int),
            "Pclass": rng.integers(1, 4, n),
            "Name": [f"P{i}" for i in range(n)],
            "Sex": sex,
            "Age": np.where(np.arange(n) % 5 == 0, np.nan, rng.uniform(1, 70, n)),
            "SibSp": rng.integers(0, 3, n),
            "Parch": rng.integers(0, 3, n),
            "Ticket": ["T"] * n,
            "Fare": rng.uniform(5, 100, n),
            "Cabin": [None] * n,
            "Embarked": [None if i % 7 == 0 else "S" for i in range(n)],
        }
    )


def write(frame: pd.DataFrame, path: Path) -> Path:
    frame.to_csv(path, index=False)
    return path
