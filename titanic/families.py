"""The model's vocabulary: feature sets, model families and the hyperparameters each family
uses. Declared once, here, and kept free of heavy imports: the command line checks parameters
against it before anything is fitted."""

from __future__ import annotations

FEATURE_SETS = ("tutorial", "engineered")
LEARNED = ("logreg", "hgb", "rf", "vote")
# Baselines: rules with no hyperparameters, reading no feature set (`titanic.rules`).
RULES = ("gender", "wcg")
FAMILIES = (*LEARNED, *RULES)
# The selection rule's order of simplicity, simplest first: among runs that cannot be told
# apart, the simplest family wins (docs/selection.md). A rule before a fitted model; one linear
# model before trees; a forest of independent trees before boosted ones; the vote of all three
# last.
SIMPLEST_FIRST = ("gender", "wcg", "logreg", "rf", "hgb", "vote")
SOLVERS = ("lbfgs", "liblinear", "newton-cg", "newton-cholesky", "sag", "saga")
# The hyperparameters each family uses; `vote` soft-votes the other three, each with its own.
FAMILY_PARAMS: dict[str, tuple[str, ...]] = {
    "logreg": ("C", "max_iter", "solver"),
    "hgb": ("learning_rate", "max_depth", "n_trees", "min_samples_leaf"),
    "rf": ("max_depth", "n_trees", "min_samples_leaf"),
}
FAMILY_PARAMS["vote"] = tuple(dict.fromkeys(p for ps in FAMILY_PARAMS.values() for p in ps))
FAMILY_PARAMS |= {rule: () for rule in RULES}
HYPERPARAMETERS = FAMILY_PARAMS["vote"]
