"""The registry's champion (orchestration/registry/): who takes the alias, ties, races."""

from __future__ import annotations

from typing import cast

import numpy as np
import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from orchestration.record.folds import FoldScores, fold_tags
from orchestration.registry.champion import set_alias
from orchestration.registry.selection import (
    BEST_MEAN,
    CHOSEN,
    NOT_PAIRED,
    TIED,
    WORSE,
    Entry,
    prefers,
    rank,
)
from tests.support import EXPERIMENT, experiment
from titanic.compare import standard_error

# Fold scores on the same 5 folds: TOP and TIE cannot be told apart; LOW is worse.
FOLDS = "5-fold x 1, seed 123, rows abc"
TOP = np.array([0.84, 0.85, 0.83, 0.86, 0.84])
TIE = np.array([0.83, 0.86, 0.82, 0.85, 0.84])
LOW = np.array([0.78, 0.79, 0.77, 0.80, 0.78])


def scored(family: str, accuracy: np.ndarray, which: str | None = FOLDS) -> Entry:
    folds = None if which is None else FoldScores(which, 5, accuracy)
    return Entry(float(accuracy.mean()), family, folds)


@pytest.mark.parametrize(
    ("new", "champion", "expected", "why"),
    [
        (scored("vote", LOW), None, True, "no champion yet"),
        (scored("vote", TOP), scored("vote", LOW), True, "better on the same folds"),
        (scored("vote", LOW), scored("vote", TOP), False, "worse on the same folds"),
        # A tie keeps the champion, whichever mean is higher...
        (scored("vote", TOP), scored("vote", TIE), False, "tied with the champion"),
        (scored("hgb", TOP), scored("logreg", TIE), False, "tied with the champion"),
        # ... unless the new model's family is simpler.
        (scored("logreg", TIE), scored("vote", TOP), True, "logreg is simpler than vote"),
        # Scored on other folds: the means decide, and the reason says so.
        (scored("vote", TIE, "5-fold x 1, seed 7, rows abc"), scored("vote", TOP), False, "mean"),
        (scored("vote", TOP), scored("vote", TIE, None), True, "other folds"),
    ],
)
def test_the_champion_moves_only_to_a_model_the_rule_prefers(
    new: Entry, champion: Entry | None, expected: bool, why: str
) -> None:
    preferred, reason = prefers(new, champion)
    assert preferred is expected and why in reason


def test_the_rule_picks_the_simplest_family_tied_with_the_best_mean() -> None:
    entries = [
        scored("vote", TOP),  # the best mean
        scored("hgb", TIE),
        scored("logreg", TIE),  # tied, and the simplest of the tied
        scored("gender", LOW),  # simpler still, but worse
        scored("rf", TIE, "5-fold x 1, seed 7, rows abc"),  # other folds: not compared
    ]
    ranking = rank(entries)
    assert ranking.chosen == 2 and ranking.order == [2, 0, 1, 3, 4]
    assert ranking.marks == [BEST_MEAN, TIED, CHOSEN, WORSE, NOT_PAIRED]
    # Alone at the top, the best mean is chosen.
    assert rank([scored("vote", TOP), scored("logreg", LOW)]).marks == [CHOSEN, WORSE]


def test_leaderboard_and_promote_agree_on_the_choice_among_tied_runs(store: str) -> None:
    """On a store: runs of one model collapse into one row; the simplest tied family heads
    the leaderboard and is what promote run=best takes; equal means keep the earliest first."""
    from orchestration.registry import leaderboard
    from orchestration.registry.champion import candidate

    client = MlflowClient()
    experiment_id = experiment(EXPERIMENT).experiment_id
    made = []
    for i, (family, accuracy, model) in enumerate(
        [
            ("gender", LOW, "m-0"),
            ("vote", TOP, "m-1"),
            ("vote", TOP, "m-2"),  # the same mean as m-1, reached later
            ("logreg", TIE, "m-3"),
            ("logreg", TIE, "m-3"),  # a run that reused m-3
        ]
    ):
        run = client.create_run(
            experiment_id,
            start_time=1_000_000 + i * 1000,
            tags={"titanic.model_uri": f"models:/{model}", **fold_tags(5, 1, 123, "abc", accuracy)},
        )
        client.log_param(run.info.run_id, "model", family)
        client.log_metric(run.info.run_id, "cv_accuracy", float(accuracy.mean()))
        client.set_terminated(run.info.run_id, "FINISHED")
        made.append(run.info.run_id)
    runs, _ = leaderboard.read_board(client, EXPERIMENT, "", "titanic")
    assert [r.info.run_id for r in runs] == [made[1], made[2], made[3], made[4], made[0]]
    board = [
        (run.info.run_id, mark, count) for run, mark, count in leaderboard.shown(runs, 10, False)
    ]
    assert board == [
        (made[3], CHOSEN, 2),
        (made[1], BEST_MEAN, 1),
        (made[2], TIED, 1),
        (made[0], WORSE, 1),
    ]
    every = leaderboard.shown(runs, 10, True)
    assert [run.info.run_id for run, _, _ in every] == [made[3], made[1], made[2], made[4], made[0]]
    assert candidate(client, "best", experiment_id).info.run_id == made[3]
    row = leaderboard.rows(leaderboard.shown(runs, 1, False), {})[0]
    assert row["cv_accuracy_se"] == pytest.approx(standard_error(TIE, 5))
    assert (row["selection"], row["runs"]) == (CHOSEN, 2)


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
