"""The search driver in this process, on a fake executor: a configuration whose worker died is
tried once more and its dead runs end FAILED, an interrupt ends what runs KILLED and gives back
the points it was running, and children a worker left RUNNING end FAILED with the search."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Callable, Collection
from concurrent.futures import Future
from typing import Any

import pytest
from mlflow.entities import Run
from mlflow.tracking import MlflowClient
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

from orchestration.lifecycle import liveness
from orchestration.lifecycle.runs import Interrupted
from orchestration.record.names import RANKING_METRIC, TAG_ERROR
from orchestration.search.driver import TRIES, failed_line, search
from orchestration.search.executors import Executor, WorkerLost
from orchestration.search.points import Grid, Outcome, Point
from steps import step
from tests.support import experiment_id

# What a fake worker does with one attempt at a configuration.
FINISH, DIE, INTERRUPT, LEAVE_RUNNING = "finish", "die", "interrupt", "leave running"


def dead_process_tags() -> dict[str, str]:
    """The identity tags of a process of this machine that has exited."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    return {**liveness.process_tags(), "titanic.pid": str(gone.pid)}


class FakeExecutor(Executor):
    """Runs each attempt at once, as `plan[label]` says, making the child run a worker would."""

    def __init__(self, parent: Run, plan: dict[str, list[str]], slots: int = 2) -> None:
        self.slots, self.plan, self.parent = slots, plan, parent
        self.attempts: list[str] = []
        self.closed: bool | None = None  # the `interrupted` it was closed with
        self._interrupt = False
        self._submitted: list[Future[Any]] = []

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        _uri, _parent_id, config, label, _steps, _report_to = args
        what = self.plan[label].pop(0)
        self.attempts.append(label)
        client = MlflowClient()
        child = client.create_run(
            experiment_id(),
            run_name=label,
            tags={MLFLOW_PARENT_RUN_ID: self.parent.info.run_id, **dead_process_tags()},
        )
        future: Future[Any] = Future()
        self._submitted.append(future)
        if what == FINISH:
            client.log_metric(child.info.run_id, RANKING_METRIC, 0.8)
            client.set_terminated(child.info.run_id, "FINISHED")
            future.set_result(
                Outcome(label, config, child.info.run_id, "FINISHED", {RANKING_METRIC: 0.8})
            )
        elif what == DIE:  # its run stays RUNNING, as a killed worker leaves it
            future.set_exception(WorkerLost("its worker died"))
        elif what == LEAVE_RUNNING:  # returns, yet a run of its own is still RUNNING
            future.set_result(Outcome(label, config, child.info.run_id, "FINISHED"))
        else:
            self._interrupt = True
        return future

    def wait(self, futures: Collection[Future[Any]]) -> set[Future[Any]]:
        """One call at a time, in the order they were submitted, as a worker ends each."""
        if self._interrupt:
            raise Interrupted(signal.SIGINT)
        return {next(f for f in self._submitted if f in futures)}

    def result(self, future: Future[Any]) -> Any:
        return future.result()

    def close(self, interrupted: bool) -> None:
        self.closed = interrupted


class Abandoning(Grid):
    """A grid that remembers the points the search gave back unfinished."""

    def __init__(self, points: list[Point]) -> None:
        super().__init__(points)
        self.abandoned: list[str] = []

    def abandon(self, point: Point) -> None:
        self.abandoned.append(point.label)


def grid(*labels: str) -> Abandoning:
    return Abandoning([Point({"C": str(i)}, label) for i, label in enumerate(labels)])


@pytest.fixture
def parent(store: str) -> Run:
    client = MlflowClient()
    run = client.create_run(experiment_id(), run_name="search")
    return client.get_run(run.info.run_id)


def children(parent: Run) -> list[Run]:
    return [
        r
        for r in MlflowClient().search_runs([parent.info.experiment_id])
        if r.data.tags.get(MLFLOW_PARENT_RUN_ID) == parent.info.run_id
    ]


def test_a_configuration_whose_worker_died_is_tried_once_more(parent: Run) -> None:
    pool = FakeExecutor(parent, {"a": [DIE, FINISH], "b": [DIE] * TRIES, "c": [FINISH]})
    outcomes = search(parent, grid("a", "b", "c"), pool, step)
    assert sorted(pool.attempts) == ["a", "a", "b", "b", "c"]
    by_label = {o.label: o for o in outcomes}
    assert by_label["a"].status == by_label["c"].status == "FINISHED"
    assert by_label["b"].status == "FAILED" and by_label["b"].error == "its worker died"
    runs = children(parent)
    assert all(r.info.status != "RUNNING" for r in runs)
    dead = sorted(r.data.tags[TAG_ERROR] for r in runs if r.info.status == "FAILED")
    assert dead == [
        "its worker died",
        "its worker died; the configuration was retried",
        "its worker died; the configuration was retried",
    ]
    assert pool.closed is False
    error = failed_line(outcomes)
    assert error is not None and str(error).startswith("1 of 3 configurations did not finish: b")


def test_an_interrupt_ends_the_running_children_killed_and_gives_back_their_points(
    parent: Run,
) -> None:
    pool = FakeExecutor(parent, {"a": [FINISH], "b": [INTERRUPT], "c": [FINISH]})
    points = grid("a", "b", "c")
    with pytest.raises(Interrupted):
        search(parent, points, pool, step)
    assert pool.closed is True
    assert sorted(points.abandoned) == ["a", "b"]  # submitted together, neither told
    assert pool.attempts == ["a", "b"]  # nothing started after the interrupt
    statuses = {r.info.run_name: r.info.status for r in children(parent)}
    assert statuses == {"a": "FINISHED", "b": "KILLED"}


def test_children_a_worker_left_running_end_failed_with_the_search(parent: Run) -> None:
    pool = FakeExecutor(parent, {"a": [LEAVE_RUNNING], "b": [FINISH]})
    outcomes = search(parent, grid("a", "b"), pool, step)
    assert {o.label for o in outcomes} == {"a", "b"}
    (left,) = [r for r in children(parent) if r.info.run_name == "a"]
    assert left.info.status == "FAILED"
    assert left.data.tags[TAG_ERROR] == "its worker process died"
