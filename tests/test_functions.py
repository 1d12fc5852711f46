"""Pure functions on small frames: no MLflow run, no subprocess."""

from __future__ import annotations

import io
import json
import os
import pickle
import platform
import re
import shutil
import signal
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import cast

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.data.pandas_dataset import from_pandas
from mlflow.exceptions import MlflowException
from mlflow.models import Model, infer_signature
from mlflow.tracking import MlflowClient
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_info, threadpool_limits

from orchestration.cache import keys as cache
from orchestration.lifecycle.hosts import is_loopback
from orchestration.lifecycle.runs import Interrupted, Pruned
from orchestration.project.naming import describe
from orchestration.project.params import parse_params
from orchestration.record import inputs
from orchestration.record.datasets import digest, passenger_dataset, schema_rows
from orchestration.record.inputs import sha256_files
from orchestration.record.links import ui_line
from orchestration.registry.champion import becomes_champion, set_alias
from orchestration.search import worker
from orchestration.search.memo import FoldMemo
from orchestration.search.points import Outcome
from orchestration.search.progress import Progress
from orchestration.search.worker import hooks, prepare_worker
from steps.evaluate import confusion_figure, environment_mismatches, evaluate, roc_figure
from steps.prepare import prepare, profile
from steps.train import OPENMP_MIN_ROWS, accuracy, thread_limits, train
from tests.support import EXPERIMENT, experiment
from titanic.errors import InputError
from titanic.passengers import FEATURES, TARGET, read_passengers
from titanic.survival import Survival, label, survival_score

LOGREG = {"C": 1.0, "max_iter": 200, "solver": "lbfgs"}

DATA = Path(__file__).resolve().parent.parent / "data" / "titanic"


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


# --- parameters -------------------------------------------------------------------------------


def test_parse_params_types_values() -> None:
    assert parse_params(
        {
            "C": "1.5",
            "max_iter": "1000",
            "seed": "0",
            "test_size": "0.25",
            "solver": "liblinear",
            "force": "train",
        }
    ) == {
        "C": 1.5,
        "max_iter": 1000,
        "seed": 0,
        "test_size": 0.25,
        "solver": "liblinear",
        "force": "train",
    }


@pytest.mark.parametrize(
    "name, raw, says",
    [
        ("C", "abc", "C must be a number > 0, got 'abc': pass e.g. -P C=1.5"),
        ("C", "0", "C must be a number > 0"),
        ("C", "-1", "C must be a number > 0"),
        ("C", "nan", "C must be a number > 0"),
        ("max_iter", "0", "max_iter must be a whole number > 0"),
        ("max_iter", "10.5", "max_iter must be a whole number > 0"),
        ("test_size", "1.5", "test_size must be a number between 0 and 1"),
        ("test_size", "0", "test_size must be a number between 0 and 1"),
        ("seed", "-3", "seed must be a whole number from 0"),
        ("solver", "adam", "solver must be one of lbfgs, liblinear"),
        ("force", "everything", "force must be one of none, all, prepare, train, evaluate"),
    ],
)
def test_parse_params_rejects(name: str, raw: str, says: str) -> None:
    with pytest.raises(InputError, match=says.replace("(", r"\(").replace(".", r"\.")):
        parse_params({name: raw})


# --- reading passengers ---------------------------------------------------------------------------


def test_read_passengers_real_files() -> None:
    train_rows = read_passengers(DATA / "train.csv", with_target=True, source="data")
    test_rows = read_passengers(DATA / "test.csv", with_target=False, source="test_data")
    assert (len(train_rows), len(test_rows)) == (891, 418)
    assert train_rows["Survived"].sum() == 342
    assert train_rows["Age"].isna().sum() == 177


@pytest.mark.parametrize(
    "content, says",
    [
        ("", "is empty"),
        (",".join(["Survived", *FEATURES]) + "\n", "has a header but no rows"),
        ("PassengerId,Survived,Name\n1,0,A\n", "lacks required column(s) Pclass, Sex, Age"),
        (
            ",".join(["Survived", *FEATURES]) + "\n2,1,1,A,male,22,1,0,T,7.25,,S\n",
            "column Survived must be 0 or 1",
        ),
        (
            ",".join(["Survived", *FEATURES]) + "\n1,1,first,A,male,22,1,0,T,7.25,,S\n",
            "column Pclass must be numeric",
        ),
    ],
)
def test_read_passengers_rejects(tmp_path: Path, content: str, says: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(InputError, match=says.replace("(", r"\(").replace(")", r"\)")):
        read_passengers(path, with_target=True, source="data")


def test_fetch_missing_file_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"data file not found: .*pass -P data="):
        inputs.fetch(str(tmp_path / "nope.csv"), "data")


# --- prepare --------------------------------------------------------------------------------------


def test_prepare_splits_like_the_tutorial() -> None:
    raw = read_passengers(DATA / "train.csv", with_target=True, source="data")
    train_rows, valid_rows = prepare(raw, 0.25, 123)
    expected_train, expected_valid = train_test_split(raw, test_size=0.25, random_state=123)
    pd.testing.assert_frame_equal(train_rows, expected_train)
    pd.testing.assert_frame_equal(valid_rows, expected_valid)
    assert (len(train_rows), len(valid_rows)) == (668, 223)


def test_prepare_rejects_a_split_too_small() -> None:
    with pytest.raises(InputError, match="cannot split 1 rows"):
        prepare(passengers(1), 0.25, 1)


def test_prepare_rejects_one_class() -> None:
    with pytest.raises(InputError, match="passengers who survived and who did not"):
        prepare(passengers(20).assign(Survived=1), 0.25, 1)


def test_profile_counts_missing_values() -> None:
    facts = profile(passengers(40))
    assert facts["rows"] == 40
    assert facts["missing"]["Age"] == 8 and facts["missing"]["Cabin"] == 40
    assert facts["survival_rate"] == 0.5


# --- train and evaluate ---------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:Hint. Inferred schema contains integer")
@pytest.mark.parametrize("name", ["train.csv", "test.csv"])
def test_datasets_and_signatures_get_the_schema_mlflow_infers_from_every_row(name: str) -> None:
    """The schema comes from a few rows (MLflow's own inference reads every cell in Python),
    and must be the one the whole file gives: missing values make a column optional."""
    passengers = read_passengers(DATA / name, with_target=name == "train.csv", source=name)
    passengers = pd.concat([passengers] * 3, ignore_index=True)  # missing cells beyond the head
    passengers.loc[250, "Fare"] = None
    target = TARGET if TARGET in passengers else None
    whole = from_pandas(passengers, targets=target).schema
    rows = schema_rows(passengers)
    assert len(rows) < len(passengers) / 10
    if target:
        assert passenger_dataset(passengers, None, "x").schema == whole
    assert infer_signature(rows).inputs == infer_signature(passengers).inputs == whole
    assert not whole.inputs[[c.name for c in whole.inputs].index("Fare")].required


def test_dataset_digest_follows_the_content() -> None:
    passengers = read_passengers(DATA / "train.csv", with_target=True, source="train.csv")
    same = digest(passengers.copy())
    assert digest(passengers) == same and len(same) == 8
    changed = passengers.copy()
    changed.loc[800, "Name"] = "Someone, Mr. Else"
    assert digest(changed) != same


def test_train_learns_from_raw_rows_with_missing_values() -> None:
    rows = passengers(40)
    model = train(rows, "logreg", "tutorial", LOGREG, seed=0)
    # Raw rows, test.csv's columns, with missing Age, Embarked and Cabin.
    predicted = model.predict(rows[list(FEATURES)])
    assert set(predicted) == {0, 1}
    assert accuracy(model, rows) == 1.0  # Sex alone separates this toy data


def test_train_parameters_reach_the_classifier() -> None:
    model = train(
        passengers(40),
        "logreg",
        "tutorial",
        {"C": 0.25, "max_iter": 77, "solver": "liblinear"},
        seed=5,
    )
    classifier = model.named_steps["classify"]
    assert (classifier.C, classifier.max_iter, classifier.solver, classifier.random_state) == (
        0.25,
        77,
        "liblinear",
        5,
    )


def test_evaluate_metrics_on_known_scores() -> None:
    truth = pd.Series([1, 1, 0, 0])
    score = np.array([0.9, 0.4, 0.6, 0.1])  # one of each error
    result = evaluate(truth, score)
    assert result["val_accuracy"] == 0.5
    assert result["val_precision"] == 0.5 and result["val_recall"] == 0.5
    assert result["val_roc_auc"] == 0.75
    assert result["val_log_loss"] == pytest.approx(-np.mean(np.log([0.9, 0.4, 0.4, 0.9])))


def test_a_model_fitted_in_another_environment_is_told_apart(tmp_path: Path) -> None:
    here = platform.python_version()
    model = Model(flavors={"python_function": {"python_version": here}})
    (tmp_path / "requirements.txt").write_text(
        f"numpy=={version('numpy')}\npandas=={version('pandas')}\n"
    )
    assert environment_mismatches(tmp_path, model) == []  # what train pins, as installed

    (tmp_path / "requirements.txt").write_text(
        f"numpy==1.0.0\npandas=={version('pandas')}\nno-such-package==1.0\n"
    )
    model = Model(flavors={"python_function": {"python_version": "2.7.18"}})
    assert environment_mismatches(tmp_path, model) == [
        f"numpy {version('numpy')} (fitted with ==1.0.0)",
        "no-such-package missing (fitted with ==1.0)",
        f"Python {here} (fitted with 2.7.18)",
    ]


def test_label_agrees_with_model_predict() -> None:
    rows = passengers(40)
    model = train(rows, "logreg", "tutorial", {**LOGREG, "C": 0.01}, seed=0)
    np.testing.assert_array_equal(
        label(survival_score(model, rows)), model.predict(rows[list(FEATURES)])
    )


def test_shipped_model_answers_id_label_and_probability() -> None:
    rows = passengers(40).drop(columns="Survived")
    pipeline = train(passengers(40), "logreg", "tutorial", LOGREG, seed=0)
    result = Survival(pipeline).predict(rows)
    assert list(result.columns) == ["PassengerId", "Survived", "probability"]
    assert result["PassengerId"].tolist() == list(range(1, 41))
    np.testing.assert_array_equal(result["Survived"], pipeline.predict(rows[list(FEATURES)]))
    np.testing.assert_allclose(
        result["probability"], pipeline.predict_proba(rows[list(FEATURES)])[:, 1]
    )


def test_shipped_model_names_missing_columns() -> None:
    pipeline = train(passengers(40), "logreg", "tutorial", LOGREG, seed=0)
    with pytest.raises(MlflowException, match=r"lack the column.*Sex, Age"):
        Survival(pipeline).predict(passengers(5).drop(columns=["Sex", "Age"]))


def test_figures_render(tmp_path: Path) -> None:
    truth = pd.Series([1, 0, 1, 0])
    score = np.array([0.8, 0.3, 0.6, 0.7])
    confusion_figure(truth, label(score)).savefig(tmp_path / "c.png")
    roc_figure(truth, score).savefig(tmp_path / "r.png")
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "r.png").stat().st_size > 1000


# --- cache keys -----------------------------------------------------------------------------------


def test_cache_key_follows_params_data_and_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = write(passengers(40), tmp_path / "p.csv")
    params = {"data": str(data), "test_size": "0.25", "seed": "123"}

    def prepare_key(params: dict[str, str]) -> str:
        return cache.cache_key("prepare", params, cache.code_digest("prepare"))

    key = prepare_key(params)
    assert prepare_key(dict(params)) == key
    assert prepare_key({**params, "seed": "124"}) != key

    inputs._fetched.clear()
    write(passengers(39), data)  # same path, other content
    assert prepare_key(params) != key

    inputs._fetched.clear()
    write(passengers(40), data)
    assert prepare_key(params) == key
    code = tmp_path / "code"
    shutil.copytree(cache.PROJECT_DIR / "steps", code / "steps")
    shutil.copytree(cache.PROJECT_DIR / "titanic", code / "titanic")
    shutil.copytree(cache.PROJECT_DIR / "orchestration", code / "orchestration")
    monkeypatch.setattr(cache, "PROJECT_DIR", code)
    assert prepare_key(params) == key
    with open(code / "titanic" / "models.py", "a") as handle:
        handle.write("# edited: prepare does not run this file\n")
    assert prepare_key(params) == key
    with open(code / "titanic" / "passengers.py", "a") as handle:
        handle.write("# edited: prepare reads data through this file\n")
    assert prepare_key(params) != key


def test_code_digests_cover_the_model_code_and_its_records_not_the_machinery(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = tmp_path / "code"
    for package in ("steps", "titanic", "orchestration"):
        shutil.copytree(cache.PROJECT_DIR / package, code / package)
    monkeypatch.setattr(cache, "PROJECT_DIR", code)
    before = {step: cache.code_digest(step) for step in ("prepare", "train", "evaluate")}
    for module in ("lifecycle/liveness", "cache/claims", "cache/keys", "cli", "lifecycle/runs"):
        machinery = code / "orchestration" / f"{module}.py"
        assert machinery.is_file()
        with open(machinery, "a") as handle:
            handle.write("# edited: machinery, not the work\n")
    assert {step: cache.code_digest(step) for step in before} == before
    # What a step records under which name is part of its work: a renamed artifact is new work.
    with open(code / "orchestration" / "record" / "names.py", "a") as handle:
        handle.write("# edited: the names a step records under\n")
    renamed = {step: cache.code_digest(step) for step in before}
    assert all(renamed[step] != before[step] for step in before)
    before = renamed
    with open(code / "titanic" / "features.py", "a") as handle:
        handle.write("# edited: a feature transformer\n")
    after = {step: cache.code_digest(step) for step in before}
    # evaluate runs the transformers inside the model it is given, an input counted by content.
    assert after == {**before, "train": after["train"]} and after["train"] != before["train"]


def test_fold_memo_tells_rows_and_feature_sets_apart_and_keeps_within_its_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    passengers = pd.read_csv(DATA / "train.csv").iloc[:50]
    matrices = (np.zeros((40, 10)), np.zeros((10, 10)))  # 4,000 bytes
    kept = FoldMemo(max_bytes=10_000)
    kept.folds("engineered", passengers, 5, 1, 0)[0] = matrices
    assert kept.folds("engineered", passengers.copy(), 5, 1, 0).get(0) is matrices
    relabelled = passengers.assign(Survived=1 - passengers["Survived"])
    others = [
        kept.folds("tutorial", passengers, 5, 1, 0),
        kept.folds("engineered", relabelled, 5, 1, 0),
        kept.folds("engineered", passengers, 5, 2, 0),
        kept.folds("engineered", passengers, 5, 1, 1),
    ]
    assert all(other.get(0) is None for other in others)
    folds = kept.folds("engineered", passengers, 5, 1, 0)
    folds[1] = matrices
    folds.get(0)  # fold 0 used last: fold 1 goes first
    folds[2] = matrices
    assert folds.get(1) is None and folds.get(0) is matrices and folds.get(2) is matrices
    folds[3] = (np.zeros((200, 10)), np.zeros((10, 10)))  # more than the memo holds
    assert folds.get(3) is None and folds.get(0) is matrices
    monkeypatch.setattr(worker, "_memo", None)
    assert hooks(None).kept_folds is None  # `main`, a step alone
    monkeypatch.setattr(worker, "quiet_process", lambda: None)  # this process's logging stays
    prepare_worker()
    kept_folds = hooks(None).kept_folds
    assert kept_folds is not None and kept_folds("engineered", passengers, 5, 1, 0) is not None


def test_sha256_files_sees_names_and_content(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.csv").write_text("1")
    first = sha256_files(tmp_path / "a")
    (tmp_path / "a" / "x.csv").rename(tmp_path / "a" / "y.csv")
    assert sha256_files(tmp_path / "a") != first


# --- hosts -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host, loopback",
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("10.1.2.3", False),
        ("0.0.0.0", False),
        ("no-such-host.invalid", False),
    ],
)
def test_only_addresses_of_this_machine_alone_count_as_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


# --- liveness and hostile files ---------------------------------------------------------------


@pytest.mark.parametrize(
    "raised",
    [
        Interrupted(signal.SIGINT),
        Interrupted(signal.SIGTERM),
        Pruned("fold 3 of 15: 0.7200, below the median"),
    ],
)
def test_what_a_worker_raises_reaches_the_search_as_it_was(raised: BaseException) -> None:
    """A local worker interrupted between configurations sends its Interrupted back to the
    search process, pickled: a copy that cannot be rebuilt there stops the pool's result
    thread, and the search waits out its grace period before it ends."""
    copy = pickle.loads(pickle.dumps(raised))
    assert (type(copy), copy.args, vars(copy)) == (type(raised), raised.args, vars(raised))


@pytest.mark.parametrize("uri", ["sqlite:///x.db", "http://127.0.0.1:9"])
def test_a_local_worker_starts_with_what_mlflow_would_load_in_its_first_run(uri: str) -> None:
    """The fork server skips a preload module that fails to import, without a word: each must
    import and load the store of a database URI. MLflow's map of installed packages, which the
    search command builds and hands to each worker, must spare MLflow building its own."""
    from orchestration.search.executors import LOCAL_PRELOAD
    from orchestration.search.preload import installed_packages

    handed = installed_packages()  # as the search command builds it
    code = (
        "import importlib, json, sys\n"
        f"for module in {LOCAL_PRELOAD!r}: importlib.import_module(module)\n"
        "from mlflow.utils import requirements_utils as r\n"
        "from orchestration.search.worker import start_worker\n"
        "store = 'mlflow.store.tracking.sqlalchemy_store' in sys.modules\n"
        "built = r._MODULES_TO_PACKAGES is not None\n"
        "start_worker(json.load(sys.stdin))\n"
        "handed = r._MODULES_TO_PACKAGES\n"
        "mismatch = r._check_requirement_satisfied('scikit-learn==0.0.1')\n"
        "print(store, 'git' in sys.modules, built, r._MODULES_TO_PACKAGES is handed,\n"
        "      mismatch.installed_version)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cache.PROJECT_DIR,
        text=True,
        input=json.dumps(handed),
        capture_output=True,
        env={**os.environ, "MLFLOW_TRACKING_URI": uri},
    )
    assert done.returncode == 0, done.stderr
    store = not uri.startswith("http")  # a tracking server's client comes with mlflow
    # Store and git loaded, no map of its own, the handed map used as it was.
    assert done.stdout.split() == [str(store), "True", "False", "True", version("scikit-learn")]


def test_a_signal_inside_a_store_read_still_ends_the_run_killed_here(store: str) -> None:
    """The signal lands in a sqlite read, its statement begun and not finished (the listener
    raises as the signal handler would there): the run must still end KILLED in this process,
    not wait out the lock that read holds and leave the run to the helper after exit."""
    from sqlalchemy import event

    from orchestration.lifecycle.runs import active_run, unended

    engine = MlflowClient()._tracking_client.store.engine

    def signal_lands(_conn, _cursor, statement: str, *_args: object) -> None:
        if statement.startswith("SELECT"):
            event.remove(engine, "after_cursor_execute", signal_lands)
            raise Interrupted(signal.SIGINT)

    with pytest.raises(Interrupted), active_run(run_name="cut short") as run:
        event.listen(engine, "after_cursor_execute", signal_lands)
        MlflowClient().search_runs([run.info.experiment_id])
    assert MlflowClient().get_run(run.info.run_id).info.status == "KILLED"
    assert run.info.run_id not in unended()


def test_why_dead_by_process_here_and_by_heartbeat_elsewhere() -> None:
    from orchestration.lifecycle import liveness

    now = time.time()
    alive_here = liveness.identity()
    assert liveness.why_dead(alive_here, now, now) is None
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead_here = {**alive_here, "titanic.pid": str(gone.pid)}
    assert re.fullmatch(
        rf"its process {gone.pid} on .* is gone", liveness.why_dead(dead_here, now, now) or ""
    )
    elsewhere = {**alive_here, "titanic.host": "other-machine"}
    assert liveness.why_dead({**elsewhere, "titanic.heartbeat": str(now - 60)}, now, now) is None
    assert (
        liveness.why_dead({**elsewhere, "titanic.heartbeat": str(now - 1000)}, now, now)
        == "no heartbeat from its process on other-machine for 1000 s"
    )
    assert liveness.why_dead({"mlflow.user": "x"}, now - 10**6, now) is None  # not a project run


def test_a_project_run_whose_entry_point_never_started_is_dead_after_a_grace() -> None:
    from orchestration.lifecycle import liveness

    now = time.time()
    local = {"mlflow.project.entryPoint": "main"}  # `--env-manager local` adds no env tag
    assert liveness.why_dead(local, now - 60, now) is None  # may still be starting
    assert (liveness.why_dead(local, now - 200, now) or "").startswith(
        "its entry point never started: `mlflow run` created it 200 s ago"
    )
    # A virtualenv may take minutes to build before the entry point starts.
    assert liveness.why_dead({**local, "mlflow.project.env": "virtualenv"}, now - 200, now) is None


def test_a_closing_cluster_worker_waits_for_the_configurations_it_runs() -> None:
    """Dask gives a closing worker's tasks 30 s, then exits under them; the project's plugin
    holds the close until running configurations end, and does not when it is merely
    replaced (a later client registering it again)."""
    import asyncio
    import threading
    import types

    from distributed.core import Status

    from orchestration.search import cluster

    task, worker = -1, types.SimpleNamespace(status=Status.running)
    cluster._running.add(task)
    try:
        asyncio.run(cluster.ProjectWorker().teardown(worker))
        assert task in cluster._running  # returned at once: the configuration still runs
        worker.status = Status.closing
        threading.Timer(1.0, cluster._running.discard, (task,)).start()
        asyncio.run(cluster.ProjectWorker().teardown(worker))
        assert task not in cluster._running  # returned only once it had ended
    finally:
        cluster._running.discard(task)


def test_read_passengers_semicolons_decimal_commas_and_latin1(tmp_path: Path) -> None:
    frame = passengers(6).assign(Name=["Bräund, Mr. A"] * 6, Fare=[7.25, 8.5, 9.0, 1.5, 2.0, 3.0])
    path = tmp_path / "excel.csv"
    path.write_bytes(frame.to_csv(index=False, sep=";", decimal=",").encode("latin-1"))
    read = read_passengers(path, with_target=True, source="data")
    assert read["Fare"].tolist() == [7.25, 8.5, 9.0, 1.5, 2.0, 3.0]
    assert read["PassengerId"].tolist() == list(range(1, 7))
    assert read["Name"].iloc[0] == "Bräund, Mr. A"


# --- naming and promotion -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "name"),
    [
        ({}, "logreg C=1.5"),
        ({"C": "0.3", "features": "tutorial"}, "logreg features=tutorial C=0.3"),
        # A tree family: its headline parameter, and no logistic-regression ones.
        ({"model": "hgb", "C": "9", "max_depth": "5"}, "hgb learning_rate=0.03 max_depth=5"),
        ({"model": "vote", "force": "all", "promote": "true"}, "vote"),
    ],
)
def test_run_names_say_what_ran(given: dict[str, str], name: str) -> None:
    from orchestration.project.mlproject import entry_point_defaults

    assert describe({**entry_point_defaults("main"), **given}) == name


@pytest.mark.parametrize(
    ("score", "champion", "even_if_worse", "expected"),
    [
        (0.80, None, False, True),  # the first promotion always wins
        (0.84, 0.83, False, True),
        (0.83, 0.83, False, False),  # a tie keeps the champion
        (0.82, 0.83, False, False),
        (0.82, 0.83, True, True),
    ],
)
def test_only_a_better_model_becomes_champion(
    score: float, champion: float | None, even_if_worse: bool, expected: bool
) -> None:
    assert becomes_champion(score, champion, even_if_worse) is expected


def test_promote_parameters_are_checked() -> None:
    assert parse_params({"even_if_worse": "true"}) == {"even_if_worse": "true"}
    with pytest.raises(InputError, match="even_if_worse must be one of false, true"):
        parse_params({"even_if_worse": "all"})
    for bad in ("my/model", "a@b", "", "x" * 101):
        with pytest.raises(InputError, match=r"registered_model .* is not allowed"):
            parse_params({"registered_model": bad})


# --- sweep grids ----------------------------------------------------------------------------------


def test_grid_is_the_product_of_the_lists_named_by_what_varies() -> None:
    from orchestration.search.grid import expand, label, varied

    chosen = {"model": "logreg,hgb", "C": "0.1,1", "seed": "1"}
    configs = expand(chosen, max_configs=10)
    # hgb does not use C: its two combinations are one configuration.
    assert configs == [
        {"model": "logreg", "C": "0.1", "seed": "1"},
        {"model": "logreg", "C": "1", "seed": "1"},
        {"model": "hgb", "C": "0.1", "seed": "1"},
    ]
    names = varied(configs)
    assert names == ["model", "C"]
    assert [label(c, names) for c in configs] == [
        "model=logreg C=0.1",
        "model=logreg C=1",
        "model=hgb",
    ]
    assert label({"C": "1"}, []) == "default"


@pytest.mark.parametrize(
    ("chosen", "message"),
    [
        ({"C": "0.1,abc"}, "C=0.1,abc: C must be a number > 0, got 'abc'"),
        ({"C": ""}, "holds an empty value"),
        ({"model": "logreg,,hgb"}, "holds an empty value"),
        (
            {"C": "1,2,3", "seed": "1,2"},
            "has 6 configurations (3 C x 2 seed), more than max_configs=5",
        ),
    ],
)
def test_grid_refuses_bad_lists(chosen: dict[str, str], message: str) -> None:
    from orchestration.search.grid import expand

    with pytest.raises(InputError, match=re.escape(message)):
        expand(chosen, max_configs=5)


# --- the best run ---------------------------------------------------------------------------


def test_leaderboard_and_promote_agree_on_the_best_of_tied_runs(store: str) -> None:
    from orchestration.registry import leaderboard
    from orchestration.registry.champion import candidate

    client = MlflowClient()
    made = []
    for i, score in enumerate([0.80, 0.84, 0.84, 0.84]):  # three tied for best
        run = client.create_run(
            experiment(EXPERIMENT).experiment_id,
            start_time=1_000_000 + i * 1000,
            tags={"titanic.model_uri": f"models:/m-{i}"},
        )
        client.log_metric(run.info.run_id, "cv_accuracy", score)
        client.set_terminated(run.info.run_id, "FINISHED")
        made.append(run.info.run_id)
    runs, _ = leaderboard.fetch(client, EXPERIMENT, 10, "", "titanic")
    board = [r.info.run_id for r in runs]
    assert board == [made[1], made[2], made[3], made[0]]  # ties: the earliest first
    assert candidate(client, "best", experiment(EXPERIMENT).experiment_id).info.run_id == board[0]


def test_ui_line_opens_the_run_in_the_training_view(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mlflow, "get_tracking_uri", lambda: "https://mlflow.team.example:5000/")
    assert ui_line("7", "abc") == (
        "View it: https://mlflow.team.example:5000/#/experiments/7/"
        "runs/abc?workflowType=machine_learning"
    )
    monkeypatch.setattr(mlflow, "get_tracking_uri", lambda: "sqlite:////home/you/mlflow.db")
    assert ui_line("0", "abc") == (
        "View it: http://127.0.0.1:5000/#/experiments/0/runs/abc?workflowType=machine_learning "
        "(start the UI with: mlflow ui --backend-store-uri sqlite:////home/you/mlflow.db)"
    )


def test_progress_counts_scores_and_names_the_best_so_far() -> None:
    out = io.StringIO()
    progress = Progress(3, stream=out)
    for name, status, score, error in [
        ("C=1", "FINISHED", 0.81, None),
        ("C=abc", "FAILED", None, "bad C"),
        ("C=2", "FINISHED", 0.83, None),
    ]:
        progress.ended(
            Outcome(
                name,
                {},
                status=status,
                error=error,
                metrics={"cv_accuracy": score} if score else {},
            )
        )
    progress.close()
    first, failed, last = out.getvalue().splitlines()
    assert re.fullmatch(
        r"\[1/3\] C=1: cv_accuracy 0\.8100; best 0\.8100 \(C=1\); about \d+ s "
        r"left \(\d+ s so far\)",
        first,
    ), first
    assert failed.startswith("[2/3] C=abc: FAILED: bad C; best 0.8100 (C=1); about ")
    assert re.fullmatch(
        r"\[3/3\] C=2: cv_accuracy 0\.8300; best 0\.8300 \(C=2\); done "
        r"\(\d+ s so far\)",
        last,
    ), last


class _RacedClient:
    """A registry client whose first alias write loses a race, as MLflow's store reports it."""

    def __init__(self, error: str) -> None:
        self.error = error
        self.aliases: dict[tuple[str, str], str] = {}

    def set_registered_model_alias(self, name: str, alias: str, version: str) -> None:
        if self.error:
            error, self.error = self.error, ""
            raise MlflowException(error)
        self.aliases[(name, alias)] = version


def test_an_alias_set_by_a_racing_promotion_is_moved_not_lost() -> None:
    client = _RacedClient(
        "(sqlite3.IntegrityError) UNIQUE constraint failed: "
        "registered_model_aliases.workspace, registered_model_aliases.name"
    )
    set_alias(cast(MlflowClient, client), "titanic", "champion", "1")
    assert client.aliases == {("titanic", "champion"): "1"}
    other = _RacedClient("RESOURCE_DOES_NOT_EXIST: Registered Model with name=titanic not found")
    with pytest.raises(MlflowException, match="not found"):
        set_alias(cast(MlflowClient, other), "titanic", "champion", "1")
    assert other.aliases == {}


def test_a_fit_on_few_rows_takes_one_openmp_thread_and_on_many_every_core() -> None:
    """OpenMP threads on Kaggle's rows gain nothing and, beside another run, cost several
    times over; from OPENMP_MIN_ROWS rows they pay. BLAS keeps one thread either way."""

    def threads(api: str) -> set[int]:
        return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == api}

    with threadpool_limits(2):  # as on a machine of two cores
        assert threads("openmp") == {2}
        with threadpool_limits(thread_limits(668)):
            assert threads("openmp") == {1} and threads("blas") == {1}
        with threadpool_limits(thread_limits(OPENMP_MIN_ROWS)):
            assert threads("openmp") == {2} and threads("blas") == {1}
