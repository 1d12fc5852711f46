"""The project's declarations agree with each other."""

from __future__ import annotations

import yaml

from orchestration.cli import parse_args
from orchestration.pipeline import forced, step_params
from orchestration.project.mlproject import command_arguments, entry_point_defaults
from orchestration.project.params import PARSERS
from orchestration.record.names import STEPS
from tests.support import MAIN_DEFAULTS, PROJECT


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


def test_every_parameter_has_a_check_and_main_uses_step_defaults() -> None:
    spec = yaml.safe_load((PROJECT / "MLproject").read_text())["entry_points"]
    assert set(spec) == {"main", *STEPS, "promote", "sweep", "tune"}
    for entry_point in spec:
        assert set(spec[entry_point]["parameters"]) <= set(PARSERS)
    main = entry_point_defaults("main")
    for step in (*STEPS, "promote", "sweep", "tune"):
        for name, default in entry_point_defaults(step).items():
            if name in main:
                assert main[name] == default, name


def test_every_declared_parameter_is_passed_by_its_command() -> None:
    """MLflow fills only the placeholders a command names: a declared parameter missing from
    its command would silently run with its default."""
    spec = yaml.safe_load((PROJECT / "MLproject").read_text())["entry_points"]
    for entry_point, declared in spec.items():
        passed = command_arguments(entry_point)
        assert passed == {name: name for name in declared["parameters"]}, entry_point
        assert declared["command"].startswith(f"python -m steps.{entry_point} "), entry_point


def test_cli_defaults_come_from_mlproject() -> None:
    assert parse_args("main", []) == MAIN_DEFAULTS


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
