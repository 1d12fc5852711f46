"""What a search runs and learns: a configuration to run (Point), how it ended (Outcome), where
configurations come from (Points: a fixed Grid, or a tuning study)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from orchestration.record.names import RANKING_METRIC
from orchestration.search.pruning import TrialRef

# An outcome's status when its pruner stopped it (its runs are KILLED, tagged with why).
PRUNED = "PRUNED"


@dataclass
class Point:
    """One configuration to run: `main` parameters, the child run's name, whatever the source
    of points needs to be told about it (an Optuna trial), and the trial its folds are
    reported to, if it may be pruned."""

    config: dict[str, str]
    label: str
    handle: Any = None
    report_to: TrialRef | None = None


@dataclass
class Outcome:
    """What one configuration's child run ended as: its run's status, or PRUNED; `error` says
    why it did not finish."""

    label: str
    config: dict[str, str]
    run_id: str | None = None
    status: str = "FAILED"
    metrics: dict[str, float] = field(default_factory=dict)
    model_uri: str | None = None
    reused: str = ""
    error: str | None = None
    folds: dict[str, str] = field(default_factory=dict)  # its fold scores (`record.folds`)

    @property
    def score(self) -> float | None:
        return self.metrics.get(RANKING_METRIC) if self.status == "FINISHED" else None


class Points(Protocol):
    """Where a search's configurations come from: `total` of them."""

    total: int

    def ask(self) -> Point | None:
        """The next configuration, or None when there is no more to ask for."""

    def tell(self, point: Point, outcome: Outcome) -> None:
        """How a configuration did."""

    def abandon(self, point: Point) -> None:
        """A configuration the search stopped before it ended."""


class Grid:
    """A fixed list of configurations, in order."""

    def __init__(self, points: list[Point]) -> None:
        self._pending = list(points)
        self.total = len(points)

    def ask(self) -> Point | None:
        return self._pending.pop(0) if self._pending else None

    def tell(self, point: Point, outcome: Outcome) -> None:
        pass

    def abandon(self, point: Point) -> None:
        pass
