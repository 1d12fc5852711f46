"""The shipped model's format (titanic/survival.py): MLflow's scikit-learn flavor in skops
format beside the project's pyfunc face, and the allow-list that refuses anything else before
any of it is loaded."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import skops.io
import yaml
from mlflow.exceptions import MlflowException
from mlflow.models import Model
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from steps.train import train
from tests.support import LOGREG, PROJECT, passengers
from titanic import survival
from titanic.errors import InputError
from titanic.families import FAMILIES, FEATURE_SETS
from titanic.models import ModelSpec
from titanic.passengers import FEATURES, TARGET, read_passengers
from titanic.survival import Survival, label, survival_score

ROWS = read_passengers(
    PROJECT / "data" / "titanic" / "train.csv", with_target=True, source="train.csv"
).iloc[:300]
SMALL = {
    "C": 1.0,
    "max_iter": 200,
    "solver": "lbfgs",
    "learning_rate": 0.1,
    "max_depth": 3,
    "n_trees": 5,
    "min_samples_leaf": 2,
}


def fitted(model: str, features: str) -> Pipeline:
    return ModelSpec(model, features, SMALL, 0).pipeline().fit(ROWS[list(FEATURES)], ROWS[TARGET])


def saved(folder: Path, pipeline: Pipeline) -> Path:
    path = folder / "model"
    survival.save_model(
        str(path), Model(), pipeline, code_paths=[str(PROJECT / "titanic")], pip_requirements=[]
    )
    return path


def flavors(path: Path) -> dict[str, dict[str, object]]:
    return yaml.safe_load((path / "MLmodel").read_text())["flavors"]


def test_the_allow_list_is_exactly_what_the_pipelines_hold() -> None:
    held: set[str] = set()
    for model, features in itertools.product(FAMILIES, FEATURE_SETS):
        held |= set(skops.io.get_untrusted_types(data=skops.io.dumps(fitted(model, features))))
    assert held == survival.TRUSTED_TYPES


@pytest.mark.parametrize("features", FEATURE_SETS)
def test_one_saved_model_loads_as_the_pipeline_and_as_the_table(
    tmp_path: Path, features: str
) -> None:
    pipeline = fitted("logreg", features)
    path = saved(tmp_path, pipeline)
    assert not [p for p in path.rglob("*") if p.suffix in (".pkl", ".pickle", ".cloudpickle")]
    found = flavors(path)
    assert found["sklearn"]["serialization_format"] == "skops"
    held = skops.io.get_untrusted_types(file=path / "model.skops")
    assert found["sklearn"]["skops_trusted_types"] == sorted(held)  # exactly what it holds
    assert found["python_function"]["loader_module"] == "titanic.survival"
    assert found["python_function"]["data"] == "model.skops"

    rows = ROWS[list(FEATURES)].iloc[:20]
    as_pipeline = mlflow.sklearn.load_model(str(path))
    assert isinstance(as_pipeline, Pipeline)
    np.testing.assert_array_equal(as_pipeline.predict_proba(rows), pipeline.predict_proba(rows))
    as_table = mlflow.pyfunc.load_model(str(path))
    table = as_table.predict(rows)
    assert list(table.columns) == ["PassengerId", "Survived", "probability"]
    np.testing.assert_allclose(table["probability"], pipeline.predict_proba(rows)[:, 1])
    assert isinstance(as_table.get_raw_model(), Pipeline)


def test_the_encoded_features_are_named_numbers() -> None:
    for features in FEATURE_SETS:
        pipeline = fitted("logreg", features)
        frame = survival.encoded(pipeline, ROWS[list(FEATURES)])
        assert frame.shape == (len(ROWS), pipeline[-1].n_features_in_)
        assert all(pd.api.types.is_float_dtype(t) for t in frame.dtypes), features
        assert frame.columns.is_unique
    names = survival.encoded(fitted("logreg", "engineered"), ROWS[list(FEATURES)]).columns
    assert {"Sex_female", "Sex_male", "Title_Master", "Age", "GroupSurvival"} <= set(names)


def craft(path: Path, *, hold: bool, name: str) -> None:
    """A saved model made hostile: its allow-list names `name`, and (`hold`) its skops file
    holds a pipeline that would call os.system."""
    if hold:
        skops.io.dump(Pipeline([("run", FunctionTransformer(os.system))]), path / "model.skops")
    meta = yaml.safe_load((path / "MLmodel").read_text())
    meta["flavors"]["sklearn"]["skops_trusted_types"].append(name)
    (path / "MLmodel").write_text(yaml.safe_dump(meta))


@pytest.mark.parametrize(("hold", "name"), [(True, "posix.system"), (False, "builtins.eval")])
def test_a_model_naming_a_foreign_type_is_refused_before_any_of_it_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hold: bool, name: str
) -> None:
    path = saved(tmp_path, fitted("logreg", "tutorial"))
    craft(path, hold=hold, name=name)

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("skops was asked to load a refused model")

    monkeypatch.setattr(skops.io, "load", never)
    with pytest.raises(InputError, match=f"not a model this project trusts: .*{name}"):
        survival.load_pipeline(path, "the model")
    with pytest.raises(MlflowException, match=f"names or holds {name}"):
        mlflow.pyfunc.load_model(str(path))


def test_a_pickled_model_is_refused_whole(tmp_path: Path) -> None:
    path = tmp_path / "pickled"
    mlflow.sklearn.save_model(
        fitted("logreg", "tutorial"),
        str(path),
        serialization_format="cloudpickle",
        pip_requirements=[],
    )
    with pytest.raises(InputError, match="names or holds a cloudpickle file"):
        survival.load_pipeline(path, "the model")
    with pytest.raises(InputError, match="is not a scikit-learn model"):
        survival.load_pipeline(tmp_path, "the folder")


def test_label_agrees_with_model_predict() -> None:
    rows = passengers(40)
    model = train(rows, ModelSpec("logreg", "tutorial", {**LOGREG, "C": 0.01}, 0))
    np.testing.assert_array_equal(
        label(survival_score(model, rows)), model.predict(rows[list(FEATURES)])
    )


def test_shipped_model_answers_id_label_and_probability() -> None:
    rows = passengers(40).drop(columns="Survived")
    pipeline = train(passengers(40), ModelSpec("logreg", "tutorial", LOGREG, 0))
    result = Survival(pipeline).predict(rows)
    assert list(result.columns) == ["PassengerId", "Survived", "probability"]
    assert result["PassengerId"].tolist() == list(range(1, 41))
    np.testing.assert_array_equal(result["Survived"], pipeline.predict(rows[list(FEATURES)]))
    np.testing.assert_allclose(
        result["probability"], pipeline.predict_proba(rows[list(FEATURES)])[:, 1]
    )


def test_shipped_model_names_missing_columns() -> None:
    pipeline = train(passengers(40), ModelSpec("logreg", "tutorial", LOGREG, 0))
    with pytest.raises(MlflowException, match=r"^input lacks required column\(s\) Sex, Age:"):
        Survival(pipeline).predict(passengers(5).drop(columns=["Sex", "Age"]))


def test_any_rows_of_test_csv_score_and_bad_ones_are_named(store: str, tmp_path: Path) -> None:
    """A user's CSV of test.csv rows, read as MLflow reads it for `mlflow models predict`: one
    passenger whose ticket is all digits (read as a number), passengers whose Cabin is empty in
    every row (read as missing numbers), a header alone; and what is refused, by column and
    row, rather than by MLflow's dump of the frame and its schema."""
    from orchestration.record.models import log_model

    with mlflow.start_run():
        model_uri = log_model(fitted("logreg", "engineered"), ROWS[list(FEATURES)]).model_uri
    model = mlflow.pyfunc.load_model(model_uri)
    test = pd.read_csv(PROJECT / "data" / "titanic" / "test.csv")

    def as_csv(frame: pd.DataFrame) -> pd.DataFrame:
        path = tmp_path / "rows.csv"
        frame.to_csv(path, index=False)
        return pd.read_csv(path)

    whole = model.predict(test).set_index("PassengerId")
    one = as_csv(test.head(1))
    assert one["Ticket"].dtype.kind == "i" and one["Cabin"].dtype.kind == "f"
    no_cabins = as_csv(test[test["Cabin"].isna()].head(4))
    for rows in (one, no_cabins):
        answer = model.predict(rows).set_index("PassengerId")
        pd.testing.assert_frame_equal(answer, whole.loc[answer.index])  # as in the whole file
    empty = model.predict(as_csv(test.head(0)))
    assert list(empty.columns) == ["PassengerId", "Survived", "probability"] and empty.empty

    with pytest.raises(MlflowException, match=r"^input lacks required column\(s\) Sex: it needs"):
        model.predict(test.head(2).drop(columns="Sex"))
    bad = test.head(3).astype({"Age": object})
    bad.loc[1, "Age"] = "abc"
    with pytest.raises(
        MlflowException, match=r"^input column Age must be numeric: found 'abc' on row\(s\) 2;"
    ):
        model.predict(bad)
