"""The search's parts in this process (orchestration/search/): grids, the fold memo, workers,
executors and progress."""

from __future__ import annotations

import io
import os
import pickle
import re
import signal
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from orchestration.cache import keys as cache
from orchestration.lifecycle.runs import Interrupted, Pruned
from orchestration.search import worker
from orchestration.search.memo import FoldMemo
from orchestration.search.points import Outcome
from orchestration.search.progress import Progress
from orchestration.search.worker import hooks, prepare_worker
from tests.support import DATA
from titanic.errors import InputError


def test_fold_memo_tells_rows_and_feature_sets_apart_and_keeps_within_its_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    passengers = pd.read_csv(DATA / "train.csv").iloc[:50]
    matrices = (np.zeros((40, 10)), np.zeros((10, 10)))  # 4,000 bytes
    kept = FoldMemo(max_bytes=10_000)
    kept.kept_folds("engineered", passengers, 5, 1, 0)[0] = matrices
    assert kept.kept_folds("engineered", passengers.copy(), 5, 1, 0).get(0) is matrices
    relabelled = passengers.assign(Survived=1 - passengers["Survived"])
    others = [
        kept.kept_folds("tutorial", passengers, 5, 1, 0),
        kept.kept_folds("engineered", relabelled, 5, 1, 0),
        kept.kept_folds("engineered", passengers, 5, 2, 0),
        kept.kept_folds("engineered", passengers, 5, 1, 1),
    ]
    assert all(other.get(0) is None for other in others)
    folds = kept.kept_folds("engineered", passengers, 5, 1, 0)
    folds[1] = matrices
    folds.get(0)  # fold 0 used last: fold 1 goes first
    folds[2] = matrices
    assert folds.get(1) is None and folds.get(0) is matrices and folds.get(2) is matrices
    folds[3] = (np.zeros((200, 10)), np.zeros((10, 10)))  # more than the memo holds
    assert folds.get(3) is None and folds.get(0) is matrices
    monkeypatch.setattr(worker, "_memo", None)
    assert hooks(None).kept_folds is None  # `main`, a step alone
    monkeypatch.setattr(worker, "quiet_process", lambda: None)  # this process's logging stays
    prepare_worker()
    kept_folds = hooks(None).kept_folds
    assert kept_folds is not None and kept_folds("engineered", passengers, 5, 1, 0) is not None


@pytest.mark.parametrize(
    "raised",
    [
        Interrupted(signal.SIGINT),
        Interrupted(signal.SIGTERM),
        Pruned("fold 3 of 15: 0.7200, below the median"),
    ],
)
def test_what_a_worker_raises_reaches_the_search_as_it_was(raised: BaseException) -> None:
    """A local worker interrupted between configurations sends its Interrupted back to the
    search process, pickled: a copy that cannot be rebuilt there stops the pool's result
    thread, and the search waits out its grace period before it ends."""
    copy = pickle.loads(pickle.dumps(raised))
    assert (type(copy), copy.args, vars(copy)) == (type(raised), raised.args, vars(raised))


@pytest.mark.parametrize("uri", ["sqlite:///x.db", "http://127.0.0.1:9"])
def test_a_local_worker_starts_with_what_mlflow_would_load_in_its_first_run(uri: str) -> None:
    """The fork server skips a preload module that fails to import, without a word: each must
    import and load the store of a database URI, and git, which MLflow's first run loads."""
    from orchestration.search.executors import WORKER_MODULES
    from steps import MODULES

    code = (
        "import importlib, sys\n"
        f"for module in {[*WORKER_MODULES, *MODULES]!r}: importlib.import_module(module)\n"
        "from orchestration.search.worker import start_worker\n"
        "start_worker()\n"
        "print('mlflow.store.tracking.sqlalchemy_store' in sys.modules, 'git' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cache.PROJECT_DIR,
        text=True,
        capture_output=True,
        env={**os.environ, "MLFLOW_TRACKING_URI": uri},
    )
    assert done.returncode == 0, done.stderr
    store = not uri.startswith("http")  # a tracking server's client comes with mlflow
    assert done.stdout.split() == [str(store), "True"]


def test_a_closing_cluster_worker_waits_for_the_configurations_it_runs() -> None:
    """Dask gives a closing worker's tasks 30 s, then exits under them; the project's plugin
    holds the close until running configurations end, and does not when it is merely
    replaced (a later client registering it again)."""
    import asyncio
    import threading
    import types

    from distributed.core import Status

    from orchestration.search import cluster

    task, worker = -1, types.SimpleNamespace(status=Status.running)
    cluster._running.add(task)
    try:
        asyncio.run(cluster.ProjectWorker(()).teardown(worker))
        assert task in cluster._running  # returned at once: the configuration still runs
        worker.status = Status.closing
        threading.Timer(1.0, cluster._running.discard, (task,)).start()
        asyncio.run(cluster.ProjectWorker(()).teardown(worker))
        assert task not in cluster._running  # returned only once it had ended
    finally:
        cluster._running.discard(task)


def test_grid_is_the_product_of_the_lists_named_by_what_varies() -> None:
    from orchestration.search.grid import expand, label, varied

    chosen = {"model": "logreg,hgb", "C": "0.1,1", "seed": "1"}
    configs = expand(chosen, max_configs=10)
    # hgb does not use C: its two combinations are one configuration.
    assert configs == [
        {"model": "logreg", "C": "0.1", "seed": "1"},
        {"model": "logreg", "C": "1", "seed": "1"},
        {"model": "hgb", "C": "0.1", "seed": "1"},
    ]
    names = varied(configs)
    assert names == ["model", "C"]
    assert [label(c, names) for c in configs] == [
        "model=logreg C=0.1",
        "model=logreg C=1",
        "model=hgb",
    ]
    assert label({"C": "1"}, []) == "default"


@pytest.mark.parametrize(
    ("chosen", "message"),
    [
        ({"C": "0.1,abc"}, "C=0.1,abc: C must be a number > 0, got 'abc'"),
        ({"C": ""}, "holds an empty value"),
        ({"model": "logreg,,hgb"}, "holds an empty value"),
        (
            {"C": "1,2,3", "seed": "1,2"},
            "has 6 configurations (3 C x 2 seed), more than max_configs=5",
        ),
    ],
)
def test_grid_refuses_bad_lists(chosen: dict[str, str], message: str) -> None:
    from orchestration.search.grid import expand

    with pytest.raises(InputError, match=re.escape(message)):
        expand(chosen, max_configs=5)


def test_progress_counts_scores_and_names_the_best_so_far() -> None:
    out = io.StringIO()
    progress = Progress(3, stream=out)
    for name, status, score, error in [
        ("C=1", "FINISHED", 0.81, None),
        ("C=abc", "FAILED", None, "bad C"),
        ("C=2", "FINISHED", 0.83, None),
    ]:
        progress.ended(
            Outcome(
                name,
                {},
                status=status,
                error=error,
                metrics={"cv_accuracy": score} if score else {},
            )
        )
    progress.close()
    first, failed, last = out.getvalue().splitlines()
    assert re.fullmatch(
        r"\[1/3\] C=1: cv_accuracy 0\.8100; best 0\.8100 \(C=1\); about \d+ s "
        r"left \(\d+ s so far\)",
        first,
    ), first
    assert failed.startswith("[2/3] C=abc: FAILED: bad C; best 0.8100 (C=1); about ")
    assert re.fullmatch(
        r"\[3/3\] C=2: cv_accuracy 0\.8300; best 0\.8300 \(C=2\); done "
        r"\(\d+ s so far\)",
        last,
    ), last
