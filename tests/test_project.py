"""The project's declarations checked in this process: parameters, run names."""

from __future__ import annotations

import pytest

from orchestration.project.naming import describe
from orchestration.project.params import parse_params
from titanic.errors import InputError


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
        ("max_iter", "0", "max_iter must be a whole number >= 1"),
        ("max_iter", "10.5", "max_iter must be a whole number >= 1"),
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
    from orchestration.project.params import entry_point_defaults

    assert describe({**entry_point_defaults("main"), **given}) == name


def test_promote_parameters_are_checked() -> None:
    assert parse_params({"even_if_worse": "true"}) == {"even_if_worse": "true"}
    with pytest.raises(InputError, match="even_if_worse must be one of false, true"):
        parse_params({"even_if_worse": "all"})
    for bad in ("my/model", "a@b", "", "x" * 101):
        with pytest.raises(InputError, match=r"registered_model .* is not allowed"):
            parse_params({"registered_model": bad})
