"""The project's declarations agree with each other."""

from __future__ import annotations

import re

import yaml

from orchestration.cli import parse_args
from orchestration.pipeline import forced, step_params
from orchestration.project import mlproject
from orchestration.project.params import (
    ENTRY_POINTS,
    PARAMETERS,
    entry_point_defaults,
    entry_point_parameters,
)
from orchestration.record.names import STEPS
from tests.support import PROJECT
from titanic.families import HYPERPARAMETERS


def test_conda_and_python_env_install_the_same_things() -> None:
    python_env = yaml.safe_load((PROJECT / "python_env.yaml").read_text())
    conda = yaml.safe_load((PROJECT / "conda.yaml").read_text())
    conda_python = next(
        d for d in conda["dependencies"] if isinstance(d, str) and d.startswith("python=")
    )
    conda_pip = next(d["pip"] for d in conda["dependencies"] if isinstance(d, dict))
    assert conda_python == f"python={python_env['python']}"
    assert conda_pip == python_env["dependencies"] == ["-r requirements.txt"]
    pinned = [
        line
        for line in (PROJECT / "requirements.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert all("==" in line for line in pinned)
    names = {line.split("==")[0] for line in pinned}
    assert {"mlflow", "scikit-learn", "pandas", "numpy", "skops", "shap", "pyyaml"} <= names


def test_mlproject_and_the_parameters_page_are_what_the_table_writes() -> None:
    """Both are written from the parameter table: an edit to either alone, or to the table
    without writing them again (`python -m orchestration.project.mlproject`), fails here."""
    assert (PROJECT / "MLproject").read_text() == mlproject.mlproject_text()
    page = (PROJECT / "docs" / "parameters.md").read_text()
    assert mlproject.TABLE_START in page and page == mlproject.parameters_page(page)


def test_mlflow_reads_from_mlproject_what_the_table_declares() -> None:
    """What MLflow reads of MLproject: each entry point's parameters, types and defaults as
    declared, and a command that passes every one of them (MLflow fills only the placeholders
    a command names: a parameter missing there would silently run with its default)."""
    spec = yaml.safe_load((PROJECT / "MLproject").read_text())["entry_points"]
    assert list(spec) == list(ENTRY_POINTS)
    types = {p.name: p.type for p in PARAMETERS}
    for entry_point, declared in spec.items():
        read = {
            name: (p["type"], None if "default" not in p else str(p["default"]))
            for name, p in declared["parameters"].items()
        }
        assert read == {
            name: (types[name], default)
            for name, default in entry_point_parameters(entry_point).items()
        }, entry_point
        assert mlproject.command_arguments(entry_point) == {n: n for n in read}, entry_point
        assert declared["command"].startswith(f"python -m steps.{entry_point} "), entry_point


def test_a_parameter_means_the_same_in_every_entry_point() -> None:
    main = entry_point_defaults("main")
    for entry_point in ENTRY_POINTS:
        for name, default in entry_point_defaults(entry_point).items():
            if name in main:
                assert main[name] == default, name
    assert parse_args("main", []) == main


def test_step_params_chain_outputs() -> None:
    chosen = parse_args("main", ["--C", "0.5"])
    assert step_params("train", chosen, {"prepared": "runs:/x/prepared"}) == {
        "prepared": "runs:/x/prepared",
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
    assert step_params("evaluate", chosen, {"prepared": "p", "model_uri": "models:/m"}) == {
        "model_uri": "models:/m",
        "prepared": "p",
        "test_data": "data/titanic/test.csv",
        "explain": "false",
    }


def test_force_names_the_first_step_to_recompute() -> None:
    assert [s for s in STEPS if forced(s, "train")] == ["train", "evaluate"]
    assert [s for s in STEPS if forced(s, "all")] == list(STEPS)
    assert [s for s in STEPS if forced(s, "none")] == []


def test_a_hyperparameter_is_named_by_its_estimator_and_its_row_alone() -> None:
    """Adding a hyperparameter to a family touches its estimator (`titanic/families.py`) and
    its row in the parameter table; every other use is derived (MLproject and the parameters
    page are written from the table)."""
    code = [
        path
        for package in ("orchestration", "steps", "titanic")
        for path in (PROJECT / package).rglob("*.py")
    ]
    for name in HYPERPARAMETERS:
        naming = sorted(
            str(path.relative_to(PROJECT))
            for path in code
            if re.search(rf"(?<![\w-]){name}(?![\w-])", path.read_text())  # not Ctrl-C
        )
        assert naming == ["orchestration/project/params.py", "titanic/families.py"], name
