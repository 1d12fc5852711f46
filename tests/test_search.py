"""The `sweep` and `tune` entry points: one parent run, a child per configuration holding its
three steps, a ranked report, failures and interrupts; judged by what MLflow recorded."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import mlflow
import optuna
import pandas as pd
import pytest
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from orchestration.project.params import parse_params
from orchestration.registry.champion import choose
from steps.train import cv_scores
from tests.support import (
    QUICK,
    Launch,
    all_runs,
    children,
    default_training_rows,
    error_lines,
    finished,
    launcher_id,
    mlflow_run,
    mlflow_run_command,
    run_here,
    started_mlflow_run,
)
from titanic.models import ModelSpec

# Sweeps and tuning, through `mlflow run` where the launcher is part of what is tested (its
# signals, its parameters), in this process otherwise: the workers are processes either way.
pytestmark = pytest.mark.slow


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def searches() -> list[Run]:
    return [r for r in all_runs() if "mlflow.parentRunId" not in r.data.tags]


def configurations(search: Run) -> dict[str, Run]:
    """A search's children by run name, each finished one checked to hold the three steps."""
    kids = {
        r.info.run_name: r
        for r in all_runs()
        if r.data.tags.get("mlflow.parentRunId") == search.info.run_id
    }
    for kid in kids.values():
        if kid.info.status == "FINISHED":
            children(kid)
    return kids


def test_sweep_on_a_new_store_runs_every_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No set-up step: the sweep's own run creates the store before any worker starts."""
    uri = f"sqlite:///{tmp_path / 'new' / 'mlflow.db'}"
    (tmp_path / "new").mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    mlflow.set_tracking_uri(uri)
    result = ok(
        run_here(
            "-e",
            "sweep",
            "-P",
            "C=0.03,0.1,0.3,1",
            "-P",
            "features=tutorial,engineered",
            "-P",
            "jobs=4",
            *QUICK,
        )
    )
    (sweep,) = searches()
    assert sweep.info.status == "FINISHED"
    kids = configurations(sweep)
    assert len(kids) == 8 and all(k.info.status == "FINISHED" for k in kids.values())
    assert "features=tutorial C=0.03" in kids
    assert kids["features=tutorial C=0.03"].data.params["C"] == "0.03"
    steps = [children(k) for k in kids.values()]
    computed = [s["prepare"] for s in steps if "titanic.reused_from" not in s["prepare"].data.tags]
    assert len(computed) == 1  # prepare once per sweep

    # The parent: ranked results, a plot, the best child, its metrics and parameters.
    client = MlflowClient()
    artifacts = {f.path for f in client.list_artifacts(sweep.info.run_id)}
    assert {"results.csv", "cv_accuracy_by_parameter.png"} <= artifacts
    results = pd.read_csv(
        mlflow.artifacts.download_artifacts(run_id=sweep.info.run_id, artifact_path="results.csv")
    )
    assert len(results) == 8 and results["cv_accuracy"].is_monotonic_decreasing
    best = max(kids.values(), key=lambda k: k.data.metrics["cv_accuracy"])
    assert results["run_id"][0] == best.info.run_id == sweep.data.tags["titanic.best_run"]
    assert sweep.data.tags["titanic.best_model_uri"] == best.data.tags["titanic.model_uri"]
    assert sweep.data.metrics["cv_accuracy"] == best.data.metrics["cv_accuracy"]
    assert sweep.data.params["best.C"] == best.data.params["C"]
    header = sweep.data.tags["mlflow.note.content"].splitlines()[0]
    assert [cell.strip() for cell in header.strip("|").split("|")][:4] == [
        "configuration",
        "features",
        "C",
        "cv_accuracy",
    ]
    assert sweep.info.run_name == "sweep features=tutorial,engineered C=0.03,0.1,0.3,1"
    assert f'mlflow.pyfunc.load_model("{best.data.tags["titanic.model_uri"]}")' in result.stdout


def test_a_workers_later_configuration_scores_as_its_whole_pipeline_refitted(store: str) -> None:
    """One worker runs both: the second configuration fits only its classifier on the folds
    whose features the first one fitted, and scores what refitting its whole pipeline on
    every fold scores."""
    ok(run_here("-e", "sweep", "-P", "C=0.1,1", "-P", "jobs=1", *QUICK))
    kids = configurations(searches()[0])
    training = default_training_rows()
    assert sorted(kids) == ["C=0.1", "C=1"]
    for kid in kids.values():
        chosen = parse_params(kid.data.params)
        alone = cv_scores(training, ModelSpec.of(chosen), chosen["cv_folds"], chosen["cv_repeats"])
        assert kid.data.metrics["cv_accuracy"] == float(alone.mean()), kid.info.run_name


def test_a_failing_configuration_fails_the_sweep_and_a_rerun_does_only_it(store: str) -> None:
    # cv_folds=1000 is a valid number but more than the smaller class has rows.
    args = ("-e", "sweep", "-P", "cv_folds=2,1000", "-P", "jobs=2", *QUICK)
    first = run_here(*args)
    assert first.returncode != 0
    (line,) = error_lines(first)
    assert (
        "1 of 2 configurations did not finish: cv_folds=1000 (step train failed: "
        "cv_folds=1000 is more than the 258 training rows" in line
    )
    (sweep,) = searches()
    assert sweep.info.status == "FAILED" and sweep.data.tags["titanic.error"] in line
    kids = configurations(sweep)
    assert kids["cv_folds=2"].info.status == "FINISHED"
    assert kids["cv_folds=1000"].info.status == "FAILED"
    assert "cv_folds=2" in first.stdout  # the table still printed

    again = run_here(*args)
    assert again.returncode != 0
    rerun = searches()[-1]
    steps = children(configurations(rerun)["cv_folds=2"])
    assert all("titanic.reused_from" in run.data.tags for run in steps.values())
    assert "RUNNING" not in {r.info.status for r in all_runs()}


@pytest.mark.parametrize(
    ("launch", "args", "message"),
    [
        (mlflow_run, ("-P", "C=0.1,abc"), "C=0.1,abc: C must be a number > 0, got 'abc'"),
        (run_here, ("-P", "C=0.1,,1"), "C='0.1,,1' holds an empty value"),
        (
            run_here,
            (
                "-P",
                "C=" + ",".join(str(i + 1) for i in range(30)),
                "-P",
                "n_trees=" + ",".join(str(i + 1) for i in range(20)),
                "-P",
                "model=vote",
            ),
            "has 600 configurations (30 C x 20 n_trees), more than max_configs=500",
        ),
        (run_here, ("-P", "jobs=0"), "jobs must be a whole number >= 1, or auto"),
    ],
    ids=launcher_id,
)
def test_sweep_refuses_bad_input_before_any_child(
    store: str, launch: Launch, args: tuple[str, ...], message: str
) -> None:
    result = launch("-e", "sweep", *args)
    assert result.returncode != 0
    (line,) = error_lines(result)
    assert message in line
    (sweep,) = searches()
    assert sweep.info.status == "FAILED" and len(all_runs()) == 1


def start_sweep(*args: str) -> subprocess.Popen[str]:
    return started_mlflow_run(mlflow_run_command("-e", "sweep", *args), start_new_session=True)


def a_running_train(proc: subprocess.Popen[str]) -> Run:
    """Wait for a configuration's train step to be running, and return it."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        running = [
            r
            for r in all_runs()
            if r.info.run_name == "train"
            and r.info.status == "RUNNING"
            and "titanic.pid" in r.data.tags
        ]
        if running:
            return running[0]
        time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"no train step started: {proc.communicate()[1][-3000:]}")


@pytest.mark.parametrize("how", ["Ctrl-C", "SIGTERM to mlflow run alone"])
def test_an_interrupted_sweep_leaves_nothing_running(store: str, how: str) -> None:
    proc = start_sweep("-P", "C=0.1,1,10,100", "-P", "jobs=2", "-P", "force=all")
    try:
        a_running_train(proc)
        if how == "Ctrl-C":
            os.killpg(proc.pid, signal.SIGINT)  # the whole foreground group
        else:
            proc.terminate()
        finished(proc, timeout=180)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode != 0
    statuses = {r.info.status for r in all_runs()}
    assert "RUNNING" not in statuses and "KILLED" in statuses
    (sweep,) = searches()
    # After a Ctrl-C `mlflow run` marks its own run FAILED, whatever the sweep recorded; the
    # reason stays on it.
    assert sweep.info.status == ("FAILED" if how == "Ctrl-C" else "KILLED")
    signal_name = "SIGINT" if how == "Ctrl-C" else "SIGTERM"
    assert sweep.data.tags["titanic.error"] == f"stopped by {signal_name}"
    assert "KILLED" in {k.info.status for k in configurations(sweep).values()}
    assert "FINISHED" not in {
        k.info.status for k in configurations(sweep).values() if k.info.run_name == "C=100"
    }


def test_a_killed_worker_costs_only_its_configuration_which_is_retried(store: str) -> None:
    proc = start_sweep("-P", "C=0.1,1,10,100", "-P", "jobs=2", "-P", "force=all", *QUICK)
    try:
        victim = a_running_train(proc)
        os.kill(int(victim.data.tags["titanic.pid"]), signal.SIGKILL)
        _, err = finished(proc, timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, err[-3000:]
    (sweep,) = searches()
    assert sweep.info.status == "FINISHED"
    kids = [r for r in all_runs() if r.data.tags.get("mlflow.parentRunId") == sweep.info.run_id]
    by_status = sorted((k.info.run_name, k.info.status) for k in kids)
    dead_config = next(k for k in kids if k.info.run_id == victim.data.tags["mlflow.parentRunId"])
    name = dead_config.info.run_name
    # Every configuration finished; the one on the killed worker has a FAILED first attempt.
    assert by_status == sorted(
        [(n, "FINISHED") for n in ("C=0.1", "C=1", "C=10", "C=100")] + [(name, "FAILED")]
    )
    assert re.fullmatch(
        r"its worker process \d+ died \(exit code -9\); the configuration "
        r"was retried",
        dead_config.data.tags["titanic.error"],
    )
    assert mlflow.get_run(victim.info.run_id).info.status == "FAILED"
    assert "RUNNING" not in {r.info.status for r in all_runs()}
    assert (
        pd.read_csv(
            mlflow.artifacts.download_artifacts(
                run_id=sweep.info.run_id, artifact_path="results.csv"
            )
        )["status"].tolist()
        == ["FINISHED"] * 4
    )


def test_tune_runs_trials_as_children_and_two_commands_share_a_study(
    store: str, tmp_path: Path
) -> None:
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    command = mlflow_run_command(
        "-e",
        "tune",
        "-P",
        "trials=2",
        "-P",
        "jobs=1",
        "-P",
        f"storage={storage}",
        "-P",
        "study=shared",
        *QUICK,
    )
    both = [started_mlflow_run(command) for _ in range(2)]
    for proc in both:
        out, err = finished(proc, timeout=600)
        assert proc.returncode == 0, err[-3000:]
        assert "Best model: models:/" in out
    tunes = searches()
    assert len(tunes) == 2 and all(t.info.status == "FINISHED" for t in tunes)
    for tune in tunes:
        kids = configurations(tune)
        assert len(kids) == 2 and all(k.info.status == "FINISHED" for k in kids.values())
        assert all(name.startswith("trial ") for name in kids)
        assert tune.data.tags["titanic.study"] == f"shared in {storage}"
        # The selection rule's choice among its own trials (the simplest family tied with
        # the best mean), not the other command's.
        ordered = sorted(
            kids.values(), key=lambda k: (-k.data.metrics["cv_accuracy"], k.info.start_time)
        )
        best = ordered[choose(ordered).chosen]
        assert tune.data.tags["titanic.best_run"] == best.info.run_id
    study = optuna.load_study(study_name="shared", storage=storage)
    assert len(study.trials) == 4
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials)
    assert len({t.number for t in study.trials}) == 4
    ids = {t.user_attrs["mlflow_run_id"] for t in study.trials}
    assert ids == {k.info.run_id for t in tunes for k in configurations(t).values()}


def test_tune_prunes_trials_that_cannot_win_and_records_why(store: str, tmp_path: Path) -> None:
    """Five earlier trials that reported a mean of 0.99 after every fold: `-P pruner=auto`
    picks the median pruner for such a study, it stops each new trial after its first full
    pass, and the tuning command still succeeds."""
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(storage=storage, study_name="strong", direction="maximize")
    for _ in range(5):
        study.add_trial(
            optuna.trial.create_trial(
                state=optuna.trial.TrialState.COMPLETE,
                value=0.99,
                intermediate_values={step: 0.99 for step in range(1, 7)},
            )
        )
    result = ok(
        run_here(
            "-e",
            "tune",
            "-P",
            "trials=2",
            "-P",
            "jobs=2",
            "-P",
            "cv_folds=3",
            "-P",
            "cv_repeats=2",
            "-P",
            f"storage={storage}",
            "-P",
            "study=strong",
        )
    )
    (tune,) = searches()
    assert re.search(r"2 configurations under run \w+ \(2 pruned\)", result.stdout)
    assert tune.info.status == "FINISHED" and "titanic.best_run" not in tune.data.tags
    assert tune.data.params["pruner"] == "auto" and tune.data.tags["titanic.pruner"] == "median"
    trials = configurations(tune)
    assert len(trials) == 2
    for trial in trials.values():
        assert trial.info.status == "KILLED"
        assert re.fullmatch(
            r"stopped after 3 of 6 folds: mean accuracy 0\.\d{4} is below the "
            r"median of earlier trials after as many folds",
            trial.data.tags["titanic.pruned"],
        )
        steps = {
            r.info.run_name: r
            for r in all_runs()
            if r.data.tags.get("mlflow.parentRunId") == trial.info.run_id
        }
        assert sorted(steps) == ["prepare", "train"]  # evaluate never started
        assert steps["prepare"].info.status == "FINISHED"
        assert steps["train"].info.status == "KILLED"
        assert steps["train"].data.tags["titanic.pruned"] == trial.data.tags["titanic.pruned"]
    report = pd.read_csv(
        mlflow.artifacts.download_artifacts(run_id=tune.info.run_id, artifact_path="results.csv")
    )
    assert report["status"].tolist() == ["PRUNED", "PRUNED"]
    assert report["error"].str.startswith("stopped after 3 of 6 folds").all()
    # The two trials share one prepare (the step lock makes the second wait for the first).
    assert sorted(report["steps"]) == ["computed", "reused prepare"]
    new = optuna.load_study(study_name="strong", storage=storage).trials[5:]
    assert [t.state for t in new] == [optuna.trial.TrialState.PRUNED] * 2
    assert all(list(t.intermediate_values) == [3] for t in new)
    assert {t.user_attrs["mlflow_run_id"] for t in new} == {r.info.run_id for r in trials.values()}


@pytest.mark.parametrize(
    ("launch", "args", "message"),
    [
        (mlflow_run, ("-P", "trials=0"), "trials must be a whole number from 1 to 10000"),
        (
            run_here,
            ("-P", "storage=postgresql://nobody@127.0.0.1:1/none"),
            "cannot open the Optuna storage",
        ),
    ],
    ids=launcher_id,
)
def test_tune_refuses_bad_input_before_any_trial(
    store: str, launch: Launch, args: tuple[str, ...], message: str
) -> None:
    result = launch("-e", "tune", *args)
    assert result.returncode != 0
    (line,) = error_lines(result)
    assert message in line
    (tune,) = searches()
    assert tune.info.status == "FAILED" and len(all_runs()) == 1
