"""Naming, lineage, the registry champion, the leaderboard, batch prediction and serving, on
one store holding three pipeline runs (each test registers under its own model name)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import mlflow
import pytest
import skops.io
from mlflow.entities import Run
from mlflow.models import Model
from mlflow.tracking import MlflowClient
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from orchestration.registry import leaderboard
from orchestration.registry.champion import candidate, promote
from tests.support import (
    BIN,
    EXPERIMENT,
    PROJECT,
    QUICK,
    Launch,
    children,
    error_lines,
    launcher_id,
    mlflow_run,
    run_env,
    run_here,
)
from titanic.errors import InputError

# One worker builds the shared store.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("registry")]

TEST_CSV = PROJECT / "data" / "titanic" / "test.csv"
# Three configurations, by how they rank on cv_accuracy (one pass of cross-validation), and
# how each is run: only the first needs MLflow's launcher.
CONFIGS = {
    "default": (mlflow_run, ()),
    "better": (run_here, ("-P", "C=0.3")),
    "worse": (run_here, ("-P", "features=tutorial")),
}


@pytest.fixture(scope="module")
def runs(
    tmp_path_factory: pytest.TempPathFactory, store_template: Path
) -> Iterator[dict[str, Run]]:
    """Three finished `main` runs on a store of this module's own."""
    folder = tmp_path_factory.mktemp("registry")
    shutil.copy(store_template, folder / "mlflow.db")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        patch.setenv("MLFLOW_EXPERIMENT_NAME", EXPERIMENT)
        mlflow.set_tracking_uri(uri)
        client = MlflowClient()
        experiment = client.create_experiment(
            EXPERIMENT, artifact_location=(folder / "artifacts").as_uri()
        )
        found = {}
        for label, (launch, args) in CONFIGS.items():
            result = launch(*QUICK, *args)
            assert result.returncode == 0, result.stderr[-3000:]
            (found[label],) = client.search_runs(
                [experiment],
                "tags.`titanic.model_uri` LIKE 'models:/%'",
                order_by=["attributes.start_time DESC"],
                max_results=1,
            )
        yield found


def model_uri(run: Run) -> str:
    return run.data.tags["titanic.model_uri"]


def score(run: Run) -> float:
    return run.data.metrics["cv_accuracy"]


def test_the_configurations_rank_as_the_tests_assume(runs: dict[str, Run]) -> None:
    assert score(runs["better"]) > score(runs["default"]) > score(runs["worse"])


def test_runs_are_named_after_what_they_ran(runs: dict[str, Run]) -> None:
    assert {label: run.info.run_name for label, run in runs.items()} == {
        "default": "logreg C=1.5 cv_repeats=1",
        "better": "logreg C=0.3 cv_repeats=1",
        "worse": "logreg features=tutorial C=1.5 cv_repeats=1",
    }
    # A name the user chose stays.
    result = mlflow_run("--run-name", "my try", *QUICK)
    assert result.returncode == 0, result.stderr[-3000:]
    latest = MlflowClient().search_runs(
        [runs["default"].info.experiment_id], "attributes.run_name = 'my try'"
    )
    assert len(latest) == 1
    # The experiment opens on its training runs in the MLflow UI.
    experiment = MlflowClient().get_experiment(runs["default"].info.experiment_id)
    assert experiment.tags["mlflow.experimentKind"] == "custom_model_development"


def test_the_logged_model_shows_its_data_and_scores(runs: dict[str, Run]) -> None:
    client = MlflowClient()
    model_id = runs["default"].data.tags["titanic.model_uri"].removeprefix("models:/")
    model = client.get_logged_model(model_id)
    assert model.metrics and model.source_run_id
    by_dataset = {(m.key, m.dataset_name) for m in model.metrics}
    assert {
        ("cv_accuracy", "train"),
        ("cv_accuracy_std", "train"),
        ("val_accuracy", "valid"),
        ("val_roc_auc", "valid"),
    } <= by_dataset
    steps = children(runs["default"])
    assert {m.run_id for m in model.metrics if m.dataset_name == "valid"} == {
        steps["evaluate"].info.run_id
    }
    trained_by = client.get_run(model.source_run_id)
    assert trained_by.info.run_id == steps["train"].info.run_id and trained_by.inputs
    assert [(d.dataset.name, d.dataset.digest) for d in trained_by.inputs.dataset_inputs] == [
        ("train", model.metrics[0].dataset_digest)
    ]
    assert [m.model_id for m in trained_by.inputs.model_inputs] == [model_id]


def test_only_a_better_model_takes_the_champion_alias(runs: dict[str, Run]) -> None:
    client = MlflowClient()
    name = "rules"

    first = promote(client, runs["worse"], name, even_if_worse=False)
    assert (first.version, first.alias, first.created) == ("1", "champion", True)
    assert "(first champion)" in first.summary()

    better = promote(client, runs["default"], name, even_if_worse=False)
    assert (better.version, better.alias) == ("2", "champion")

    assert "this model is better on the same folds (p = 0.0" in better.summary()

    # The worse model again: its version already exists, and it stays a challenger.
    again = promote(client, runs["worse"], name, even_if_worse=False)
    assert (again.version, again.alias, again.created) == ("1", "challenger", False)
    assert (
        f"the champion, version 2 (cv_accuracy {score(runs['default']):.4f}), stays: this "
        "model is worse on the same folds (p = 0.0"
    ) in again.summary()
    assert str(client.get_model_version_by_alias(name, "champion").version) == "2"

    forced = promote(client, runs["worse"], name, even_if_worse=True)
    assert (forced.version, forced.alias) == ("1", "champion")

    best = promote(client, runs["better"], name, even_if_worse=False)
    assert (best.version, best.alias) == ("3", "champion")
    versions = client.search_model_versions(f"name='{name}'")
    assert len(versions) == 3  # promoting a model twice did not register it twice

    # The default's mean is lower, but on the same folds it cannot be told from the champion
    # (another C of the same family): a tie keeps the champion.
    tied = promote(client, runs["default"], name, even_if_worse=False)
    assert (tied.version, tied.alias) == ("2", "challenger")
    assert "this model is tied with the champion on the same folds (p = 0." in tied.summary()
    assert str(client.get_model_version_by_alias(name, "champion").version) == "3"

    # Linked as `mlflow.register_model` links it: the version names the train run that logged
    # its model (its metrics, parameters, folds, code digest), and the model lists the version.
    version = client.get_model_version(name, "3")
    run = runs["better"]
    assert version.run_id == children(run)["train"].info.run_id
    assert version.source == model_uri(run) and version.tags == {}
    model = client.get_logged_model(model_uri(run).removeprefix("models:/"))
    assert json.loads(model.tags["mlflow.modelVersions"]) == [{"name": name, "version": 3}]
    assert model.params["C"] == "0.3" and model.params["model"] == "logreg"


def test_promote_entry_point_picks_the_best_run(runs: dict[str, Run]) -> None:
    result = mlflow_run("-e", "promote", "-P", "run=best", "-P", "registered_model=best-of")
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Promoting run {runs['better'].info.run_id}" in result.stdout
    assert "Use it: models:/best-of@champion" in result.stdout
    client = MlflowClient()
    assert client.get_model_version_by_alias("best-of", "champion").source == model_uri(
        runs["better"]
    )
    (promote_run,) = client.search_runs(
        [runs["better"].info.experiment_id], "tags.`titanic.promoted` LIKE 'best-of%'"
    )
    assert promote_run.data.tags["titanic.promoted"] == "best-of version 1 (champion)"
    assert promote_run.info.status == "FINISHED"

    # The run that shipped the model holds MLflow's whole evaluation of it, linked to the
    # model: its classifier metrics, figures and SHAP plots of the encoded features.
    assert (
        f"MLflow's evaluation of the model (figures, SHAP): on run {promote_run.info.run_id}"
        in result.stdout
    )
    assert {f.path for f in client.list_artifacts(promote_run.info.run_id)} == {
        "calibration_curve_plot.png",
        "confusion_matrix.png",
        "lift_curve_plot.png",
        "precision_recall_curve_plot.png",
        "roc_curve_plot.png",
        "shap_beeswarm_plot.png",
        "shap_feature_importance_plot.png",
        "shap_summary_plot.png",
    }
    assert promote_run.inputs
    assert {d.dataset.name for d in promote_run.inputs.dataset_inputs} == {"valid", "valid_encoded"}
    model = client.get_logged_model(model_uri(runs["better"]).removeprefix("models:/"))
    assert model.metrics
    assert {(m.key, m.run_id) for m in model.metrics if m.key in ("roc_auc", "f1_score")} == {
        ("roc_auc", promote_run.info.run_id),
        ("f1_score", promote_run.info.run_id),
    }

    # The same model shipped again: its evaluation is the one made already, not made twice.
    again = run_here("-e", "promote", "-P", "run=best", "-P", "registered_model=best-again")
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"(figures, SHAP): on run {promote_run.info.run_id}" in again.stdout
    (second,) = client.search_runs(
        [runs["better"].info.experiment_id], "tags.`titanic.promoted` LIKE 'best-again%'"
    )
    assert client.list_artifacts(second.info.run_id) == []


def crafted_flavor(original: Path) -> SimpleNamespace:
    """What Model.log saves with: this project's model with its skops file replaced by a
    pipeline calling os.system, whose allow-list names that type."""

    def save_model(path: str, mlflow_model: Model, **kwargs: object) -> None:
        shutil.copytree(original, path, dirs_exist_ok=True)
        skops.io.dump(
            Pipeline([("run", FunctionTransformer(os.system))]), Path(path, "model.skops")
        )
        mlflow_model.flavors = Model.load(original / "MLmodel").flavors
        mlflow_model.flavors["sklearn"]["skops_trusted_types"] = ["posix.system"]
        mlflow_model.save(Path(path, "MLmodel"))

    return SimpleNamespace(save_model=save_model)


def test_a_model_holding_a_foreign_type_is_neither_evaluated_nor_promoted(
    runs: dict[str, Run], tmp_path: Path
) -> None:
    client = MlflowClient()
    source = children(runs["default"])["train"]
    prepared = source.data.params["prepared"]
    original = Path(
        mlflow.artifacts.download_artifacts(model_uri(runs["default"]), dst_path=str(tmp_path))
    )
    with mlflow.start_run(experiment_id=runs["default"].info.experiment_id) as run:
        mlflow.log_param("prepared", prepared)
        info = Model.log(artifact_path=None, name="model", flavor=crafted_flavor(original))
        mlflow.log_metric("cv_accuracy", 0.5)
        mlflow.set_tag("titanic.model_uri", info.model_uri)
    try:
        evaluated = run_here(
            "-e", "evaluate", "-P", f"model_uri={info.model_uri}", "-P", f"prepared={prepared}"
        )
        assert evaluated.returncode == 2
        (line,) = error_lines(evaluated)
        assert "is not a model this project trusts: it names or holds posix.system" in line
        (failed,) = client.search_runs(
            [run.info.experiment_id],
            "attributes.status = 'FAILED'",
            max_results=1,
            order_by=["attributes.start_time DESC"],
        )
        assert "posix.system" in failed.data.tags["titanic.error"]

        promoted = run_here(
            "-e",
            "promote",
            "-P",
            f"run={run.info.run_id}",
            "-P",
            "registered_model=crafted",
            "-P",
            "even_if_worse=true",
        )
        assert promoted.returncode == 2
        (line,) = error_lines(promoted)
        assert "is not a model this project trusts: it names or holds posix.system" in line
        assert client.search_registered_models("name = 'crafted'") == []
    finally:
        client.delete_run(run.info.run_id)  # the other tests' leaderboards stay as they were


@pytest.mark.parametrize(
    ("launch", "which", "name", "message"),
    [
        (
            run_here,
            "0123456789abcdef0123456789abcdef",
            "bad-input",
            "no run '0123456789abcdef0123456789abcdef'",
        ),
        (mlflow_run, "prepare", "bad-input", "has no model: pass a main"),
        (run_here, "default", "bad/name", "registered_model 'bad/name' is not allowed"),
    ],
    ids=launcher_id,
)
def test_promote_refuses_bad_input(
    runs: dict[str, Run], launch: Launch, which: str, name: str, message: str
) -> None:
    run_id = (
        children(runs["default"])["prepare"].info.run_id
        if which == "prepare"
        else runs[which].info.run_id
        if which in runs
        else which
    )
    result = launch("-e", "promote", "-P", f"run={run_id}", "-P", f"registered_model={name}")
    assert result.returncode != 0
    (line,) = error_lines(result)
    assert message in line
    client = MlflowClient()
    failed = client.search_runs(
        [runs["default"].info.experiment_id],
        "attributes.status = 'FAILED'",
        order_by=["attributes.start_time DESC"],
    )
    assert message in failed[0].data.tags["titanic.error"]
    assert client.search_registered_models(f"name = '{name}'") == []  # nothing half-registered


def test_a_failed_run_is_not_promoted(runs: dict[str, Run]) -> None:
    client = MlflowClient()
    failed = client.create_run(
        runs["default"].info.experiment_id, tags={"titanic.model_uri": model_uri(runs["default"])}
    )
    client.set_terminated(failed.info.run_id, "FAILED")
    with pytest.raises(InputError, match="is FAILED, not FINISHED"):
        candidate(client, failed.info.run_id, failed.info.experiment_id)


def test_main_can_promote_at_the_end(runs: dict[str, Run]) -> None:
    result = run_here(*QUICK, "-P", "promote=true", "-P", "registered_model=from-main")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "alias 'champion' (first champion)" in result.stdout
    version = MlflowClient().get_model_version_by_alias("from-main", "champion")
    assert version.source == runs["default"].data.tags["titanic.model_uri"]  # all steps reused


LOAD_CHAMPION = """
import mlflow, pandas as pd, sys
rows = pd.read_csv(sys.argv[1])
predicted = mlflow.pyfunc.load_model("models:/served@champion").predict(rows)
pipeline = mlflow.sklearn.load_model("models:/served@champion")
assert (pipeline.predict(rows) == predicted["Survived"]).all()
# As MLflow's tutorial loads a model: by the run that logged it.
logged = f"runs:/{sys.argv[2]}/model"
assert (mlflow.sklearn.load_model(logged).predict(rows) == predicted["Survived"]).all()
assert mlflow.pyfunc.load_model(logged).predict(rows).equals(predicted)
print(list(predicted.columns), len(predicted), int(predicted["Survived"].sum()))
"""


def test_the_champion_loads_anywhere_as_both_flavors(runs: dict[str, Run], tmp_path: Path) -> None:
    promote(MlflowClient(), runs["default"], "served", even_if_worse=False)
    env = {k: v for k, v in run_env().items() if k != "PYTHONPATH"}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    train_run = children(runs["default"])["train"].info.run_id
    loaded = subprocess.run(
        [sys.executable, "-c", LOAD_CHAMPION, str(TEST_CSV), train_run],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    columns, count, _ = loaded.stdout.rsplit(" ", 2)
    assert columns == "['PassengerId', 'Survived', 'probability']" and count == "418"


def test_leaderboard_in_each_format(
    runs: dict[str, Run], capsys: pytest.CaptureFixture[str]
) -> None:
    promote(MlflowClient(), runs["better"], "board", even_if_worse=False)
    table = subprocess.run(
        [f"{BIN}/titanic-leaderboard", "--registered_model", "board"],
        cwd=PROJECT,
        env=run_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert table.returncode == 0, table.stderr
    header, *lines = table.stdout.splitlines()
    assert header.split()[:9] == [
        "when",
        "run_name",
        "features",
        "C",
        "cv_accuracy",
        "cv_accuracy_se",
        "selection",
        "val_accuracy",
        "runs",
    ]
    assert runs["better"].info.run_id in lines[0] and lines[0].split()[-2:] == ["1", "champion"]
    assert "chosen" in lines[0] and lines[-1].startswith("tied: not told apart")

    leaderboard.main(["--format", "json", "--registered_model", "board", "--limit", "2"])
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 2 and rows[0]["run_id"] == runs["better"].info.run_id
    assert rows[0]["C"] == "0.3" and (rows[0]["version"], rows[0]["alias"]) == ("1", "champion")
    assert rows[0]["cv_accuracy"] == pytest.approx(score(runs["better"]))
    assert rows[0]["steps"] == "reused prepare"  # the second main of the store
    assert rows[1]["cv_accuracy"] == pytest.approx(score(runs["default"]))
    assert (rows[0]["selection"], rows[1]["selection"]) == ("chosen", "tied")
    assert 0.01 < rows[0]["cv_accuracy_se"] < 0.1
    # The runs that reused the default's model (the named run, above) are its row.
    assert rows[1]["runs"] >= 2 and rows[0]["runs"] == 1

    leaderboard.main(["--format", "csv", "--filter", "params.features = 'tutorial'"])
    csv_lines = capsys.readouterr().out.splitlines()
    assert csv_lines[0].startswith(
        "when,run_name,cv_accuracy,cv_accuracy_se,selection,val_accuracy,runs,steps,run_id"
    )
    assert len(csv_lines) == 2 and runs["worse"].info.run_id in csv_lines[1]

    leaderboard.main(["--format", "markdown", "--limit", "1"])
    markdown = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"(\|:?-+:?)+\|", markdown[1]) and len(markdown) == 5  # and the note


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--experiment", "nope"], "no experiment named 'nope'"),
        (["--filter", "params.C = '99'"], "has no finished pipeline run matching the filter"),
        (["--filter", "params.C ~ 3"], "is not one MLflow accepts"),
    ],
)
def test_leaderboard_bad_input(runs: dict[str, Run], args: list[str], message: str) -> None:
    with pytest.raises(SystemExit, match=message):
        leaderboard.main(args)
