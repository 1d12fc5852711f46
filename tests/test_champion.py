"""The registry's champion (orchestration/registry/): who takes the alias, ties, races."""

from __future__ import annotations

from typing import cast

import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from orchestration.registry.champion import becomes_champion, set_alias
from tests.support import EXPERIMENT, experiment


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
