"""The whole `main` pipeline through `mlflow run`, judged by what MLflow recorded."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from orchestration.cache import keys as cache
from tests.pages import block, commands, fill, output_after, shell
from tests.support import (
    MAIN_DEFAULTS,
    PROJECT,
    QUICK,
    all_runs,
    children,
    error_lines,
    experiment_id,
    finished,
    mlflow_run,
    mlflow_run_command,
    parents,
    reused,
    run_env,
    run_here,
    started_mlflow_run,
)

pytestmark = pytest.mark.slow  # whole pipelines through `mlflow run`

TEST_CSV = PROJECT / "data" / "titanic" / "test.csv"
VAL_METRICS = {
    "val_accuracy",
    "val_precision",
    "val_recall",
    "val_f1",
    "val_roc_auc",
    "val_log_loss",
}
CV_METRICS = {"cv_accuracy", "cv_accuracy_std", "cv_accuracy_se"}


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_main_records_a_parent_with_three_linked_steps(store: str) -> None:
    """The quick start's second command, as the README gives it; its summary as shown there."""
    result = ok(shell(commands(block("quick-start"))[1], PROJECT))
    shown = [line for line in output_after("quick-start").splitlines() if "…" not in line]
    assert [line for line in shown if line.startswith("  cv_") or line.startswith("  val_")] == [
        "  cv_accuracy          0.8353",
        "  cv_accuracy_std      0.0374",
        "  cv_accuracy_se       0.0218",
        "  val_accuracy         0.8744",
    ]
    assert set(shown) <= set(result.stdout.splitlines()), result.stdout
    (parent,) = parents()
    steps = children(parent)
    assert parent.info.status == "FINISHED"
    assert all(run.info.status == "FINISHED" for run in steps.values())
    assert {name: run.data.tags["mlflow.project.entryPoint"] for name, run in steps.items()} == {
        "prepare": "prepare",
        "train": "train",
        "evaluate": "evaluate",
    }
    assert parent.data.params == MAIN_DEFAULTS
    assert reused(parent) == {"prepare": None, "train": None, "evaluate": None}

    # prepare: the splits, the profile, and the datasets as run inputs.
    prepare = steps["prepare"]
    assert prepare.data.metrics["train_rows"] == 668 and prepare.data.metrics["valid_rows"] == 223
    client = MlflowClient()
    prepared_uri = prepare.data.tags["titanic.output.prepared"]
    assert prepared_uri == f"runs:/{prepare.info.run_id}/prepared"
    assert {f.path for f in client.list_artifacts(prepare.info.run_id)} == {
        "prepared",
        "profile.json",
    }
    assert prepare.inputs
    inputs = {i.dataset.name: [t.value for t in i.tags] for i in prepare.inputs.dataset_inputs}
    assert inputs == {"titanic-train": ["training"], "titanic-valid": ["validation"]}

    # train: got prepare's output by URI, logged a model with a signature.
    train = steps["train"]
    assert train.data.params["prepared"] == prepared_uri
    assert train.data.params["C"] == "1.5"
    model_uri = train.data.tags["titanic.output.model_uri"]
    assert CV_METRICS <= set(train.data.metrics)
    assert train.data.metrics["cv_accuracy"] >= 0.83  # engineered features, logreg, defaults
    assert parent.data.tags["titanic.model_uri"] == model_uri
    model = mlflow.models.get_model_info(model_uri)
    # No input types (the model checks its rows itself, so a CSV's ticket of digits scores);
    # the input example shows test.csv's columns.
    assert model.signature.inputs is None
    assert model.signature.outputs.input_names() == ["PassengerId", "Survived", "probability"]
    example = mlflow.models.Model.load(model_uri).load_input_example(
        mlflow.artifacts.download_artifacts(model_uri)
    )
    assert isinstance(example, pd.DataFrame)
    assert list(example.columns) == list(pd.read_csv(TEST_CSV, nrows=1).columns)

    # evaluate: metrics, plots and a Kaggle submission; the parent carries the metrics.
    evaluate = steps["evaluate"]
    assert evaluate.data.params == {
        "model_uri": model_uri,
        "prepared": prepared_uri,
        "test_data": "data/titanic/test.csv",
        "explain": "false",
    }
    assert set(evaluate.data.metrics) == VAL_METRICS | {"unseen_values_valid", "unseen_values_test"}
    assert (
        evaluate.data.metrics["unseen_values_test"] == 0
        and "titanic.warning" not in evaluate.data.tags
    )
    assert parent.data.metrics == {**evaluate.data.metrics, **train.data.metrics}
    # Each fold's accuracy, and which folds: on train and on the parent the leaderboard reads.
    folds = {k: train.data.tags[k] for k in ("titanic.folds", "titanic.fold_accuracy")}
    assert folds["titanic.folds"].startswith("5-fold x 3, seed 123, rows ")
    assert len(folds["titanic.fold_accuracy"].split(",")) == 15
    assert {k: parent.data.tags[k] for k in folds} == folds
    assert 0.75 < evaluate.data.metrics["val_accuracy"] < 0.95
    assert {f.path for f in client.list_artifacts(evaluate.info.run_id)} == {"submission.csv"}
    submission = pd.read_csv(
        mlflow.artifacts.download_artifacts(
            run_id=evaluate.info.run_id, artifact_path="submission.csv"
        )
    )
    assert list(submission.columns) == ["PassengerId", "Survived"]
    assert submission["PassengerId"].tolist() == list(range(892, 1310))
    assert set(submission["Survived"]) == {0, 1}

    # The summary names the parent, the metrics and how to load the model; the model loads
    # and predicts on raw test.csv rows (missing Age, Fare and Cabin included).
    assert f"Parent run: {parent.info.run_id}" in result.stdout
    assert f'mlflow.pyfunc.load_model("{model_uri}")' in result.stdout
    metric_lines = [
        line.split()[0]
        for line in result.stdout.splitlines()
        if line.startswith("  cv_") or line.startswith("  val_")
    ]
    assert metric_lines[0] == "cv_accuracy" and set(metric_lines) == VAL_METRICS | CV_METRICS
    assert "model=logreg features=engineered C=1.5" in result.stdout
    predictions = mlflow.pyfunc.load_model(model_uri).predict(pd.read_csv(TEST_CSV))
    assert list(predictions.columns) == ["PassengerId", "Survived", "probability"]
    pd.testing.assert_frame_equal(
        predictions[["PassengerId", "Survived"]], submission, check_dtype=False
    )


def test_cache_reuses_unchanged_steps_and_recomputes_from_the_change(store: str) -> None:
    ok(mlflow_run(*QUICK))
    first = parents()[-1]
    first_ids = {name: run.info.run_id for name, run in children(first).items()}

    ok(run_here(*QUICK))  # nothing changed: every step reused, its outputs and metrics carried
    again = parents()[-1]
    assert reused(again) == first_ids
    assert again.data.metrics == first.data.metrics
    assert again.data.tags["titanic.model_uri"] == first.data.tags["titanic.model_uri"]
    again_steps = children(again)
    assert again_steps["train"].data.tags["titanic.applied_params"] == "C,max_iter,solver"
    for tag in ("titanic.folds", "titanic.fold_accuracy"):  # what pairs it with other runs
        assert again_steps["train"].data.tags[tag] == again.data.tags[tag] == first.data.tags[tag]
    for step in again_steps.values():  # a reused step records its own process, not the source's
        assert step.data.tags["titanic.pid"] == again.data.tags["titanic.pid"]
        assert step.data.tags["titanic.pid"] != first.data.tags["titanic.pid"]
    assert MlflowClient().list_artifacts(again.info.run_id)[0].path == "pipeline.json"

    # The cache finds the runs `mlflow run` made from a run made without it, and the reverse.
    ok(run_here("-P", "C=0.1", *QUICK))  # a train parameter: prepare reused, the rest recomputed
    assert reused(parents()[-1]) == {
        "prepare": first_ids["prepare"],
        "train": None,
        "evaluate": None,
    }

    ok(run_here("-P", "force=train", *QUICK))  # forced from train on, though nothing changed
    assert reused(parents()[-1]) == {
        "prepare": first_ids["prepare"],
        "train": None,
        "evaluate": None,
    }

    ok(run_here("-P", "force=all", *QUICK))
    assert reused(parents()[-1]) == {"prepare": None, "train": None, "evaluate": None}


def test_cache_sees_edited_code_and_changed_data(store: str, project_copy: Path) -> None:
    """A project's code as it is on disk and its data (in-process: what `mlflow run` reads of
    a project folder is its MLproject, checked on its own)."""
    ok(run_here(*QUICK, project=project_copy))
    first = {name: run.info.run_id for name, run in children(parents()[-1]).items()}

    with open(project_copy / "steps" / "train.py", "a") as handle:
        handle.write("# an edit, not committed anywhere\n")
    ok(run_here(*QUICK, project=project_copy))
    assert reused(parents()[-1]) == {"prepare": first["prepare"], "train": None, "evaluate": None}

    data = project_copy / "data" / "titanic" / "train.csv"
    data.write_text("".join(data.read_text().splitlines(keepends=True)[:-1]))  # one row fewer
    ok(run_here(*QUICK, project=project_copy))
    latest = parents()[-1]
    assert reused(latest) == {"prepare": None, "train": None, "evaluate": None}
    assert children(latest)["prepare"].data.metrics["rows"] == 890


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))


def test_machinery_edits_reuse_every_step_and_model_edits_recompute(
    store: str, project_copy: Path
) -> None:
    ok(run_here(*QUICK, project=project_copy))
    first = {name: run.info.run_id for name, run in children(parents()[-1]).items()}
    edit(
        project_copy / "orchestration" / "lifecycle" / "liveness.py",
        "HEARTBEAT_SECONDS = 30.0",
        "HEARTBEAT_SECONDS = 20.0",
    )
    edit(
        project_copy / "orchestration" / "cache" / "claims.py",
        "SETTLE_SECONDS = 1.0",
        "SETTLE_SECONDS = 1.5",
    )
    ok(run_here(*QUICK, project=project_copy))
    assert reused(parents()[-1]) == first

    edit(
        project_copy / "titanic" / "features.py",
        '        return {"Title": ',
        '        # Edited: the same titles, another line of code.\n        return {"Title": ',
    )
    ok(run_here(*QUICK, project=project_copy))
    assert reused(parents()[-1]) == {"prepare": first["prepare"], "train": None, "evaluate": None}


def test_failed_killed_and_running_runs_are_never_reused(
    store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(PROJECT)
    key = cache.cache_key(
        "prepare",
        {"data": "data/titanic/train.csv", "test_size": "0.25", "seed": "123"},
        cache.code_digest("prepare"),
    )
    client = MlflowClient()
    decoys = []
    for status in ("FAILED", "KILLED", "RUNNING"):
        run = client.create_run(
            experiment_id(),
            tags={"titanic.cache_key": key, "titanic.output.prepared": "runs:/nothing/here"},
        )
        if status != "RUNNING":
            client.set_terminated(run.info.run_id, status)
        decoys.append(run.info.run_id)

    ok(run_here(*QUICK))
    prepare = children(parents()[-1])["prepare"]
    assert prepare.data.tags["titanic.cache_key"] == key  # same inputs, so the same key...
    assert "titanic.reused_from" not in prepare.data.tags  # ...but nothing finished to reuse
    assert prepare.info.run_id not in decoys


def test_resume_recomputes_only_what_failed(store: str, project_copy: Path) -> None:
    test_csv = project_copy / "data" / "titanic" / "test.csv"
    good = test_csv.read_text()
    pd.read_csv(test_csv).drop(columns="Fare").to_csv(test_csv, index=False)

    failed = run_here(*QUICK, project=project_copy)
    assert failed.returncode != 0
    (line,) = error_lines(failed)
    assert "step evaluate failed: test_data" in line and "Fare" in line
    broken = parents()[-1]
    steps = children(broken)
    assert broken.info.status == "FAILED"
    assert {n: r.info.status for n, r in steps.items()} == {
        "prepare": "FINISHED",
        "train": "FINISHED",
        "evaluate": "FAILED",
    }

    test_csv.write_text(good)
    ok(run_here(*QUICK, project=project_copy))
    resumed = parents()[-1]
    assert resumed.info.status == "FINISHED"
    assert reused(resumed) == {
        "prepare": steps["prepare"].info.run_id,
        "train": steps["train"].info.run_id,
        "evaluate": None,
    }


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_interrupt_marks_parent_and_running_step_killed(store: str, signum: int) -> None:
    """As a terminal's Ctrl-C or a `kill` of the job: the signal reaches the process group."""
    proc = started_mlflow_run(mlflow_run_command("-P", "force=all"), start_new_session=True)
    deadline = time.monotonic() + 120
    running = None
    while running is None and time.monotonic() < deadline and proc.poll() is None:
        running = next(
            (
                r
                for r in all_runs()
                if r.info.status == "RUNNING" and "mlflow.parentRunId" in r.data.tags
            ),
            None,
        )
        time.sleep(0.05)
    assert running is not None, "no step was seen running"
    os.killpg(proc.pid, signum)
    _, stderr = finished(proc, timeout=120)
    assert proc.returncode != 0

    # A SIGTERM ends `mlflow run` at once, and the pipeline's KILLED stands; after a Ctrl-C
    # `mlflow run` marks its run FAILED on its way out, whatever the pipeline recorded. Either
    # way the reason is on the run.
    (parent,) = parents()
    expected = "KILLED" if signum == signal.SIGTERM else "FAILED"
    assert parent.info.status == expected, stderr[-2000:]
    assert parent.data.tags["titanic.error"] == f"stopped by {signal.Signals(signum).name}"
    statuses = {r.info.run_id: r.info.status for r in all_runs()}
    assert "RUNNING" not in statuses.values()
    assert statuses[running.info.run_id] in ("KILLED", "FINISHED")  # it may just have ended
    assert list(statuses.values()).count("KILLED") >= 1


def test_run_from_a_git_url_at_a_branch_and_a_commit(
    store: str, project_copy: Path, tmp_path: Path
) -> None:
    """docs/environments.md's commands, with a local repository's file:// URL for GitHub's."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=project_copy, check=True, text=True, capture_output=True
        ).stdout.strip()

    git("init", "-q", "-b", "main")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "x", "--allow-empty")
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "project")
    commit = git("rev-parse", "HEAD")
    git("checkout", "-qb", "fewer-iterations")
    mlproject = project_copy / "MLproject"
    mlproject.write_text(mlproject.read_text().replace("default: 1000", "default: 500"))
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "fewer iterations")
    git("checkout", "-q", "main")
    url = {"https://github.com/<you>/<this-repo>": project_copy.as_uri()}

    head, at_version = commands(block("git-url", url))
    runs = {}
    for name, command in (
        ("head", head),
        ("commit", fill(at_version, {"<commit-or-branch>": commit})),
        ("branch", fill(at_version, {"<commit-or-branch>": "fewer-iterations"})),
    ):
        ok(shell(command, tmp_path))
        runs[name] = parents()[-1]

    assert runs["head"].data.tags["mlflow.source.git.commit"] == commit
    assert runs["commit"].data.tags["mlflow.source.git.commit"] == commit
    assert runs["branch"].data.tags["mlflow.source.git.branch"] == "fewer-iterations"
    assert [runs[n].data.params["max_iter"] for n in ("head", "commit", "branch")] == [
        "1000",
        "1000",
        "500",
    ]
    for parent in runs.values():
        assert parent.info.status == "FINISHED" and parent.data.params["C"] == "0.5"
        train = children(parent)["train"]
        assert (train.data.params["C"], train.data.params["max_iter"]) == (
            parent.data.params["C"],
            parent.data.params["max_iter"],
        )
        assert (
            train.data.tags["mlflow.source.git.commit"]
            == parent.data.tags["mlflow.source.git.commit"]
        )


def test_plain_mlflow_run_with_the_default_env_manager(store: str, tmp_path: Path) -> None:
    """`mlflow run . -P C=1.5`: MLflow's default manager for this project is virtualenv.

    MLflow builds the environment once from python_env.yaml and reuses it when its folder
    exists. The test provides that folder, a venv that sees the test's own packages, so it
    stays offline; what is exercised is MLflow choosing, activating and running in it."""
    from mlflow.utils.environment import _PythonEnv
    from mlflow.utils.virtualenv import _get_virtualenv_name

    env_root = tmp_path / "envs"
    python_env = _PythonEnv.from_yaml(str(PROJECT / "python_env.yaml"))
    env_dir = env_root / _get_virtualenv_name(python_env, PROJECT)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    site_packages = next(env_dir.glob("lib/python*/site-packages"))
    here = next(p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir())
    (site_packages / "project_packages.pth").write_text(here + "\n")

    result = subprocess.run(
        [sys.executable, "-m", "mlflow", "run", ".", "-P", "C=1.5"],
        cwd=PROJECT,
        env=run_env(MLFLOW_ENV_ROOT=str(env_root)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    ok(result)
    (parent,) = parents()
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["mlflow.project.env"] == "virtualenv"
    assert f"source {env_dir}/bin/activate" in result.stderr
    assert all(
        run.data.tags["mlflow.project.env"] == "virtualenv" for run in children(parent).values()
    )


def test_a_deleted_run_is_not_reused_nor_what_stood_for_it(store: str) -> None:
    ok(run_here(*QUICK))
    first = children(parents()[-1])
    ok(run_here(*QUICK))
    assert reused(parents()[-1])["prepare"] == first["prepare"].info.run_id

    MlflowClient().delete_run(first["prepare"].info.run_id)
    ok(run_here(*QUICK))
    latest = children(parents()[-1])
    assert "titanic.reused_from" not in latest["prepare"].data.tags
    assert (
        latest["prepare"].data.tags["titanic.output.prepared"]
        == f"runs:/{latest['prepare'].info.run_id}/prepared"
    )


LOAD_ELSEWHERE = """
import sys, pandas as pd
{load_line}
predicted = model.predict(pd.read_csv(sys.argv[1]))
where = sys.modules["titanic.features"].__file__
print(len(predicted), int(predicted["Survived"].sum()), where)
"""


def test_model_loads_and_predicts_outside_the_project(store: str, tmp_path: Path) -> None:
    """The engineered model holds the project's transformer classes: their code travels
    with it, so a fresh process elsewhere, without the project on its path, can use it; the
    load line main prints names the store, so it works pasted into another folder."""
    result = ok(run_here(*QUICK))
    model_uri = parents()[-1].data.tags["titanic.model_uri"]
    (load_line,) = [
        line.removeprefix("Load it: ")
        for line in result.stdout.splitlines()
        if line.startswith("Load it: ")
    ]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in run_env().items() if k not in ("PYTHONPATH", "MLFLOW_TRACKING_URI")}
    loaded = subprocess.run(
        [sys.executable, "-c", LOAD_ELSEWHERE.format(load_line=load_line), str(TEST_CSV)],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    count, survivors, where = loaded.stdout.split()
    assert int(count) == 418 and 100 < int(survivors) < 250
    assert not where.startswith(str(PROJECT)) and "/code/titanic/features.py" in where
    assert list(elsewhere.iterdir()) == []  # no stray store left where it ran

    predictions = elsewhere / "predictions.json"

    def predicted(rows: Path) -> list[dict[str, Any]]:
        """`mlflow models predict` of a CSV of raw rows, from the folder elsewhere."""
        cli = subprocess.run(
            [
                *(sys.executable, "-m", "mlflow", "models", "predict", "-m", model_uri),
                *("-i", str(rows), "-t", "csv", "--env-manager", "local", "-o", str(predictions)),
            ],
            cwd=elsewhere,
            env={**env, "MLFLOW_TRACKING_URI": store},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert cli.returncode == 0, cli.stderr[-3000:]
        return list(json.loads(predictions.read_text())["predictions"])

    answers = predicted(TEST_CSV)
    assert sum(answer["Survived"] for answer in answers) == int(survivors)
    # One passenger, as test.csv's header and first row: its ticket is all digits.
    (elsewhere / "one.csv").write_text("".join(TEST_CSV.open().readlines()[:2]))
    (alone,) = predicted(elsewhere / "one.csv")
    assert alone == {**answers[0], "probability": pytest.approx(answers[0]["probability"])}


LOAD_WITH_ONLY_THE_MODEL = """
import importlib.util, json, sys
import mlflow, pandas as pd
rows = pd.read_csv(sys.argv[2])
model = mlflow.pyfunc.load_model(sys.argv[1])
predicted = model.predict(rows)
pipeline = mlflow.sklearn.load_model(sys.argv[1])
project = [m for m in sys.modules if m.split(".")[0] in ("orchestration", "steps")]
absent = [m for m in ("orchestration", "steps", "optuna", "psutil", "pebble", "filelock")
          if importlib.util.find_spec(m) is not None]
print(json.dumps({"rows": len(predicted), "columns": list(predicted.columns),
                  "project": project, "absent": absent,
                  "where": sys.modules["titanic.survival"].__file__,
                  "sklearn": type(pipeline).__module__ + "." + type(pipeline).__name__,
                  "same": bool((pipeline.predict(rows) == predicted["Survived"]).all())}))
"""


def test_the_logged_model_carries_only_the_model_package(store: str, tmp_path: Path) -> None:
    """What a model ships is `titanic/` and its pinned requirements: it loads and predicts raw
    rows in a new environment holding only those, in another folder, with no project code."""
    ok(run_here(*QUICK))
    model_uri = parents()[-1].data.tags["titanic.model_uri"]
    model = Path(mlflow.artifacts.download_artifacts(model_uri, dst_path=str(tmp_path / "m")))
    shipped = sorted(str(p.relative_to(model / "code")) for p in (model / "code").rglob("*.py"))
    assert shipped == sorted(f"titanic/{p.name}" for p in (PROJECT / "titanic").glob("*.py"))

    from uv import find_uv_bin

    env_dir = tmp_path / "model-env"
    subprocess.run(
        [find_uv_bin(), "venv", "-q", "--python", sys.executable, str(env_dir)], check=True
    )
    subprocess.run(
        [
            find_uv_bin(),
            "pip",
            "install",
            "-q",
            "--python",
            str(env_dir / "bin" / "python"),
            "-r",
            str(model / "requirements.txt"),
        ],
        check=True,
        timeout=600,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    loaded = subprocess.run(
        [
            str(env_dir / "bin" / "python"),
            "-I",
            "-c",
            LOAD_WITH_ONLY_THE_MODEL,
            model_uri,
            str(TEST_CSV),
        ],
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), "MLFLOW_TRACKING_URI": store},
    )
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    found = json.loads(loaded.stdout.strip().splitlines()[-1])
    assert found["rows"] == 418
    assert found["columns"] == ["PassengerId", "Survived", "probability"]
    assert found["project"] == [] and found["absent"] == []
    assert "/code/titanic/survival.py" in found["where"]
    assert not found["where"].startswith(str(PROJECT))
    # The same model is the scikit-learn pipeline, stored with skops: no pickle in it.
    assert found["sklearn"] == "sklearn.pipeline.Pipeline" and found["same"]
    assert not [p for p in model.rglob("*") if p.suffix in (".pkl", ".pickle")]
