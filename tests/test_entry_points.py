"""Each entry point through `mlflow run`, alone, and every kind of bad input."""

from __future__ import annotations

import re
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from tests.pages import block, commands, fill, shell
from tests.support import (
    PROJECT,
    QUICK,
    Launch,
    all_runs,
    error_lines,
    launcher_id,
    mlflow_run,
    parents,
    run_here,
)

# Each entry point through `mlflow run`. Inputs that take a path already taken through it
# run in this process instead (`run_here`), without seconds of MLflow's start-up each.
pytestmark = pytest.mark.slow

STEP_TAGS = (
    "titanic.step",
    "titanic.cache_key",
    "titanic.code_digest",
    "mlflow.project.entryPoint",
    "mlflow.source.type",
    "mlflow.source.name",
)


def output(result, name: str) -> str:
    """The `<name>: <uri>` line that a step prints on success."""
    return next(
        line.split(": ", 1)[1]
        for line in result.stdout.splitlines()
        if line.startswith(f"{name}: ")
    )


def test_steps_alone_chain_by_uri_and_main_reuses_them(store: str) -> None:
    """docs/parameters.md's hand-chained steps, after an earlier identical `prepare`: `main`
    reuses that first `prepare` and still finds the hand-run `train` and `evaluate`, because a
    step's inputs count by content, not by the run URI that names them."""
    prepare, train, evaluate = commands(block("steps-by-hand"))
    earlier = mlflow_run("-e", "prepare")
    assert earlier.returncode == 0, earlier.stderr
    prepared = shell(prepare, PROJECT)
    assert prepared.returncode == 0, prepared.stderr
    prepared_uri = output(prepared, "prepared")
    ids = {"<id>": prepared_uri.split("/")[1]}
    trained = shell(fill(train, ids), PROJECT)
    assert trained.returncode == 0, trained.stderr
    model_uri = output(trained, "model_uri")
    assert "cv_accuracy" in trained.stdout  # a step alone prints its metrics
    evaluated = shell(fill(evaluate, {**ids, "<model_id>": model_uri.split("/")[1]}), PROJECT)
    assert evaluated.returncode == 0, evaluated.stderr
    assert re.search(r"val_accuracy\s+0\.\d{4}", evaluated.stdout)

    first_prepare, *hand = all_runs()
    alone = {r.data.tags["mlflow.project.entryPoint"]: r for r in hand}
    assert [r.info.status for r in alone.values()] == ["FINISHED"] * 3
    assert alone["train"].data.params == {
        "prepared": prepared_uri,
        "model": "logreg",
        "features": "engineered",
        "C": "0.5",
        "max_iter": "1000",
        "solver": "newton-cholesky",
        "learning_rate": "0.03",
        "max_depth": "3",
        "n_trees": "200",
        "min_samples_leaf": "2",
        "cv_folds": "5",
        "cv_repeats": "3",
        "seed": "123",
    }
    assert alone["train"].data.tags["titanic.applied_params"] == "C,max_iter,solver"
    assert model_uri.startswith("models:/")
    assert (
        MlflowClient().get_logged_model(model_uri.split("/")[-1]).source_run_id
        == alone["train"].info.run_id
    )
    assert alone["evaluate"].data.metrics["val_accuracy"] > 0.7
    artifacts = {
        f.path for f in MlflowClient().list_artifacts(alone["prepare"].info.run_id, "prepared")
    }
    assert artifacts == {"prepared/train.csv", "prepared/valid.csv"}

    # main with the same inputs finds every step already done, by its cache key.
    result = mlflow_run("-P", "C=0.5")
    assert result.returncode == 0, result.stderr
    (parent,) = parents()[-1:]
    steps = {
        r.info.run_name: r
        for r in all_runs()
        if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id
    }
    assert steps["prepare"].data.tags["titanic.reused_from"] == first_prepare.info.run_id
    for name in ("train", "evaluate"):
        assert steps[name].data.tags["titanic.reused_from"] == alone[name].info.run_id
    for name, run in steps.items():
        # A step run inside main records what the step run alone recorded.
        source = first_prepare if name == "prepare" else alone[name]
        assert {k: v for k, v in run.data.params.items() if k != "prepared"} == {
            k: v for k, v in source.data.params.items() if k != "prepared"
        }
        for tag in STEP_TAGS:
            assert run.data.tags[tag] == source.data.tags[tag], tag


def test_train_validates_values_mlflow_does_not(store: str) -> None:
    result = mlflow_run(
        "-e", "train", "-P", "prepared=runs:/0123456789abcdef/prepared", "-P", "max_iter=ten"
    )
    assert result.returncode != 0
    assert error_lines(result) == [
        "titanic: error: max_iter must be a whole number >= 1, got 'ten': pass e.g. "
        "-P max_iter=1000"
    ]
    (run,) = all_runs()
    assert run.info.status == "FAILED"


def test_train_rejects_a_uri_that_is_not_prepared_data(store: str) -> None:
    result = run_here("-e", "train", "-P", "prepared=runs:/0123456789abcdef/prepared")
    assert result.returncode != 0
    (line,) = error_lines(result)
    assert "prepared 'runs:/0123456789abcdef/prepared' cannot be read" in line
    assert [r.info.status for r in all_runs()] == ["FAILED"]


def _bad_files(tmp: Path) -> dict[str, Path]:
    header = (PROJECT / "data" / "titanic" / "train.csv").read_text().splitlines()[0]
    files = {
        "empty": "",
        "header-only": header + "\n",
        "missing-columns": "PassengerId,Survived,Name\n1,0,A\n2,1,B\n",
    }
    for name, text in files.items():
        (tmp / f"{name}.csv").write_text(text)
    return {name: tmp / f"{name}.csv" for name in files} | {"no-file": tmp / "absent.csv"}


@pytest.mark.parametrize(
    "launch, case, says",
    [
        (mlflow_run, "no-file", "step prepare failed: data file not found"),
        (run_here, "empty", "step prepare failed: data is empty"),
        (run_here, "header-only", "step prepare failed: data .* has a header but no rows"),
        (
            run_here,
            "missing-columns",
            "step prepare failed: data .* lacks required column\\(s\\) Pclass, Sex",
        ),
    ],
    ids=launcher_id,
)
def test_main_with_bad_data_fails_the_step_and_the_parent(
    store: str, tmp_path: Path, launch: Launch, case: str, says: str
) -> None:
    result = launch("-P", f"data={_bad_files(tmp_path)[case]}")
    assert result.returncode != 0
    (line,) = error_lines(result)
    assert re.search(says, line), line
    runs = all_runs()
    assert [
        (r.info.run_name if "mlflow.parentRunId" in r.data.tags else "parent", r.info.status)
        for r in runs
    ] == [("parent", "FAILED"), ("prepare", "FAILED")]


def test_mlflow_run_records_a_refused_value_on_the_failed_run(store: str) -> None:
    """`mlflow run` logs every -P value before the entry point starts: the value refused is
    there to see on the FAILED run, beside the reason."""
    result = mlflow_run("-P", "C=abc")
    assert result.returncode != 0
    assert error_lines(result) == [
        "titanic: error: C must be a number > 0, got 'abc': pass e.g. -P C=1.5"
    ]
    (run,) = all_runs()  # the parent only: no step started
    assert run.info.status == "FAILED"
    assert run.data.params["C"] == "abc"
    assert run.data.tags["titanic.error"] == "C must be a number > 0, got 'abc': pass e.g. -P C=1.5"


@pytest.mark.parametrize(
    "param, says",
    [
        ("C=0", "C must be a number > 0, got '0'"),
        ("max_iter=0", "max_iter must be a whole number >= 1, got '0'"),
        ("test_size=1.5", "test_size must be a number between 0 and 1 (exclusive), got '1.5'"),
        (
            "solver=adam",
            "solver must be one of lbfgs, liblinear, newton-cg, newton-cholesky, sag, "
            "saga; got 'adam'",
        ),
    ],
)
def test_main_rejects_bad_parameters_before_any_step(store: str, param: str, says: str) -> None:
    result = run_here("-P", param)
    assert result.returncode != 0
    (line,) = error_lines(result)
    assert says in line
    (run,) = all_runs()  # the parent only: no step started
    assert run.info.status == "FAILED"
    assert says in run.data.tags["titanic.error"]


# Small forests and one pass of cross-validation: what is tested is the wiring, not quality.
SMALL = ("-P", "n_trees=20", *QUICK)


@pytest.mark.parametrize(
    "launch, model, applied",
    [
        (run_here, "logreg", "C,max_iter,solver"),
        (run_here, "hgb", "learning_rate,max_depth,n_trees,min_samples_leaf"),
        (run_here, "rf", "max_depth,n_trees,min_samples_leaf"),
        (run_here, "vote", "C,max_iter,solver,learning_rate,max_depth,n_trees,min_samples_leaf"),
    ],
    ids=launcher_id,
)
def test_every_family(store: str, launch: Launch, model: str, applied: str) -> None:
    features = "tutorial" if model == "rf" else "engineered"
    result = launch("-P", f"model={model}", "-P", f"features={features}", *SMALL)
    assert result.returncode == 0, result.stderr[-3000:]
    (parent,) = parents()
    train = next(r for r in all_runs() if r.info.run_name == "train")
    assert parent.info.status == train.info.status == "FINISHED"
    assert (train.data.params["model"], train.data.params["features"]) == (model, features)
    assert train.data.tags["titanic.applied_params"] == applied
    assert 0.7 < train.data.metrics["cv_accuracy"] < 0.95
    assert 0 < train.data.metrics["cv_accuracy_std"] < 0.1
    scores = mlflow.artifacts.load_dict(f"runs:/{train.info.run_id}/cv_scores.json")
    assert (scores["folds"], scores["repeats"], len(scores["accuracy"])) == (5, 1, 5)
    assert parent.data.metrics["cv_accuracy"] == train.data.metrics["cv_accuracy"]


def test_the_families_as_the_parameters_page_runs_them(store: str) -> None:
    """Through `mlflow run`, as docs/parameters.md gives them, with what its comments say."""
    for command in commands(block("families")):
        done = shell(command, PROJECT)
        assert done.returncode == 0, done.stderr[-3000:]
    vote, hgb, tutorial = (r.data for r in parents())
    assert (vote.params["model"], hgb.params["model"], tutorial.params["features"]) == (
        "vote",
        "hgb",
        "tutorial",
    )
    assert (hgb.params["learning_rate"], hgb.params["max_depth"]) == ("0.1", "3")
    assert round(tutorial.metrics["cv_accuracy"], 4) == 0.7884  # "the tutorial's features: 0.7884"
    assert vote.metrics["cv_accuracy"] > max(
        hgb.metrics["cv_accuracy"],  # "the best mean"
        tutorial.metrics["cv_accuracy"],
    )


def test_a_family_ignores_and_the_cache_skips_hyperparameters_it_does_not_use(store: str) -> None:
    first = run_here("-P", "model=rf", *SMALL)
    assert first.returncode == 0, first.stderr[-3000:]
    again = run_here("-P", "model=rf", "-P", "C=0.01", "-P", "solver=saga", *SMALL)
    assert again.returncode == 0, again.stderr[-3000:]
    other = run_here("-P", "model=rf", "-P", "features=tutorial", *SMALL)
    assert other.returncode == 0, other.stderr[-3000:]
    runs = [r for r in all_runs() if r.info.run_name == "train"]
    assert [r.data.params["C"] for r in runs] == ["1.5", "0.01", "1.5"]
    assert "titanic.reused_from" not in runs[0].data.tags
    assert runs[1].data.tags["titanic.reused_from"] == runs[0].info.run_id
    assert "titanic.reused_from" not in runs[2].data.tags  # another feature set is new work


def test_a_baseline_rule_runs_as_a_family_and_reads_no_feature_set(store: str) -> None:
    first = run_here("-P", "model=wcg", *QUICK)
    assert first.returncode == 0, first.stderr[-3000:]
    again = run_here("-P", "model=wcg", "-P", "features=tutorial", "-P", "C=9", *QUICK)
    assert again.returncode == 0, again.stderr[-3000:]
    runs = [r for r in all_runs() if r.info.run_name == "train"]
    assert runs[0].data.tags["titanic.applied_params"] == ""
    assert runs[1].data.tags["titanic.reused_from"] == runs[0].info.run_id  # the same work
    assert 0.7 < runs[0].data.metrics["cv_accuracy"] < 0.85
    assert "  with data=data/titanic/train.csv test_size=0.25 seed=123 model=wcg cv_folds" in (
        first.stdout
    )


@pytest.mark.parametrize(
    "param, says",
    [
        (
            "model=xgboost",
            "model must be one of logreg, hgb, rf, vote, wcgplus, gender, wcg; got 'xgboost'",
        ),
        ("features=all", "features must be one of tutorial, engineered; got 'all'"),
        ("learning_rate=2", "learning_rate must be a number in (0, 1], got '2'"),
        ("max_depth=0", "max_depth must be a whole number from 1 to 100, got '0'"),
        ("n_trees=-5", "n_trees must be a whole number from 1 to 5000, got '-5'"),
        ("min_samples_leaf=x", "min_samples_leaf must be a whole number from 1 to 1000"),
        ("cv_folds=1", "cv_folds must be a whole number >= 2, got '1': pass e.g. -P cv_folds=5"),
        ("cv_repeats=0", "cv_repeats must be a whole number from 1 to 100, got '0'"),
    ],
)
def test_main_rejects_bad_model_parameters(store: str, param: str, says: str) -> None:
    result = run_here("-P", param)
    assert result.returncode != 0
    (line,) = error_lines(result)
    assert says in line, line
    assert [r.info.status for r in all_runs()] == ["FAILED"]


def test_more_folds_than_the_smaller_class_fails_train(store: str) -> None:
    result = run_here("-P", "cv_folds=300")
    assert result.returncode != 0
    (line,) = error_lines(result)
    assert re.search(
        r"step train failed: cv_folds=300 is more than the \d+ training rows of "
        r"the smaller class: pass -P cv_folds=<2 to \d+>",
        line,
    ), line
    statuses = {
        ("parent" if "mlflow.parentRunId" not in r.data.tags else r.info.run_name): r.info.status
        for r in all_runs()
    }
    assert statuses == {"parent": "FAILED", "prepare": "FINISHED", "train": "FAILED"}
    train = next(r for r in all_runs() if r.info.run_name == "train")
    assert not any(t.startswith("titanic.output.") for t in train.data.tags)
