"""The model's vocabulary: feature sets, model families and the estimator of each family.

A family's hyperparameters are the keyword parameters of its estimator below (besides `seed`):
declared there once, and read from there by everything else. Light to import (scikit-learn
loads inside the estimators): the command line checks parameters against it before anything
is fitted.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

FEATURE_SETS = ("tutorial", "engineered")
# Baselines: rules with no hyperparameters, reading no feature set (`titanic.rules`).
RULES = ("gender", "wcg")
# Families that read their own inputs rather than a feature set: the rules, and `wcgplus`,
# which reads the engineered features and the rules' inputs.
OWN_INPUTS = (*RULES, "wcgplus")
# The selection rule's order of simplicity, simplest first: among runs that cannot be told
# apart, the simplest family wins (docs/selection.md). A rule before a fitted model; one linear
# model before trees; a forest of independent trees before boosted ones; boosted trees under a
# rule after them alone; the vote of three models last.
SIMPLEST_FIRST = ("gender", "wcg", "logreg", "rf", "hgb", "wcgplus", "vote")


def logreg(C: float, max_iter: int, solver: str, seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C, max_iter=max_iter, solver=solver, random_state=seed)


def not_converged(hyperparameters: dict[str, Any]) -> str:
    """What to say when the logistic regression (alone or in the vote) stopped before it
    converged."""
    return (
        f"the {hyperparameters['solver']} solver did not converge within "
        f"max_iter={hyperparameters['max_iter']} iterations: raise max_iter or pick another solver"
    )


def hgb(
    learning_rate: float, max_depth: int, n_trees: int, min_samples_leaf: int, seed: int
) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier

    return HistGradientBoostingClassifier(
        learning_rate=learning_rate,
        max_depth=max_depth,
        max_iter=n_trees,
        min_samples_leaf=min_samples_leaf,
        random_state=seed,
    )


def rf(max_depth: int, n_trees: int, min_samples_leaf: int, seed: int) -> Any:
    from sklearn.ensemble import RandomForestClassifier

    return RandomForestClassifier(
        n_estimators=n_trees,
        max_depth=max_depth,
        min_samples_leaf=min_samples_leaf,
        random_state=seed,
        n_jobs=1,
    )


def vote(seed: int, **hyperparameters: Any) -> Any:
    from sklearn.ensemble import VotingClassifier

    members = [
        (name, estimator(seed=seed, **{p: hyperparameters[p] for p in FAMILY_PARAMS[name]}))
        for name, estimator in VOTERS.items()
    ]
    return VotingClassifier(members, voting="soft")


def wcgplus(
    learning_rate: float, max_depth: int, n_trees: int, min_samples_leaf: int, seed: int
) -> Any:
    """The woman-child-group rule where it speaks; elsewhere the gender rule, overturned by
    gradient-boosted trees only where they are very sure (`titanic.rules.RuleOverturned`)."""
    from titanic.rules import RuleOverturned

    trees = hgb(learning_rate, max_depth, n_trees, min_samples_leaf, seed)
    return RuleOverturned(model=trees, seed=seed)


VOTERS: dict[str, Callable[..., Any]] = {"logreg": logreg, "hgb": hgb, "rf": rf}
ESTIMATORS: dict[str, Callable[..., Any]] = {**VOTERS, "vote": vote, "wcgplus": wcgplus}


def _parameters(estimator: Callable[..., Any]) -> tuple[str, ...]:
    return tuple(p for p in inspect.signature(estimator).parameters if p != "seed")


# The hyperparameters each family uses: its estimator's own; `vote` soft-votes the other
# three, each with its own.
FAMILY_PARAMS: dict[str, tuple[str, ...]] = {name: _parameters(e) for name, e in VOTERS.items()}
FAMILY_PARAMS["vote"] = tuple(dict.fromkeys(p for ps in FAMILY_PARAMS.values() for p in ps))
FAMILY_PARAMS["wcgplus"] = _parameters(wcgplus)
HYPERPARAMETERS = FAMILY_PARAMS["vote"]
LEARNED = tuple(FAMILY_PARAMS)
FAMILY_PARAMS |= {rule: () for rule in RULES}
FAMILIES = (*LEARNED, *RULES)


def classifier(family: str, hyperparameters: dict[str, Any], seed: int) -> Any:
    """The estimator of a learned family, from the hyperparameters it uses."""
    if family not in ESTIMATORS:
        raise ValueError(f"unknown model family {family!r}")
    used = {p: hyperparameters[p] for p in FAMILY_PARAMS[family]}
    return ESTIMATORS[family](seed=seed, **used)
