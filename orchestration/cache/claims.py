"""Claims on a step across machines that share a tracking server, made of what the server
already holds: a RUNNING step run tagged with the step's cache key is a claim on that work.

On one machine a file lock serialises a key; machines sharing a server cannot see each other's
locks. So a step run tags its key first, waits a moment for claims made at the same time to
show, and computes only if its claim is the earliest live one; otherwise it waits for that
claim's run and reuses it. A claimant whose process died (its heartbeat stopped, or its
process is gone on this machine) is marked FAILED, and the next claim takes over.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import mlflow
from mlflow.entities import Run, RunTag
from mlflow.tracking import MlflowClient

from orchestration.lifecycle.liveness import reap_dead_runs
from orchestration.lifecycle.runs import raise_if_interrupted
from orchestration.record.names import TAG_CACHE_KEY, TAG_CLAIMED_AT

# Longer than it takes a tag written elsewhere to become visible through the server.
SETTLE_SECONDS = 1.0
POLL_SECONDS = 1.0

log = logging.getLogger("titanic")


def shared_store() -> bool:
    """A store other machines may use too: anything but a local sqlite or file store."""
    return urlsplit(mlflow.get_tracking_uri()).scheme not in ("", "file", "sqlite")


def _live_claims(client: MlflowClient, experiment_id: str, key: str) -> list[Run]:
    reap_dead_runs(experiment_id)  # a dead claimant's run is FAILED from here on
    return client.search_runs(
        [experiment_id],
        f"tags.`{TAG_CACHE_KEY}` = '{key}' and attributes.status = 'RUNNING'",
        max_results=1000,
    )


def _claim_order(run: Run) -> tuple[float, str]:
    """Earliest claim first; a run computing without a claim (forced) counts from its start."""
    claimed = run.data.tags.get(TAG_CLAIMED_AT)
    return (float(claimed) if claimed else run.info.start_time / 1000, run.info.run_id)


def claim(run: Run, key: str, finished: Callable[[str], Run | None]) -> Run | None:
    """Claim the work of `key` for `run`. Returns None when this run is to compute it, or the
    finished run (from `finished(key)`) of an earlier claimant, once there is one."""
    client = MlflowClient()
    run_id, experiment_id = run.info.run_id, run.info.experiment_id
    # When the claim is made, not when the run started: a run started earlier may claim later,
    # after another one has looked and begun.
    client.log_batch(
        run_id, tags=[RunTag(TAG_CACHE_KEY, key), RunTag(TAG_CLAIMED_AT, f"{time.time():.6f}")]
    )
    time.sleep(SETTLE_SECONDS)
    while True:
        claims = _live_claims(client, experiment_id, key)
        first = min(claims, key=_claim_order, default=None)
        if first is None or first.info.run_id == run_id:
            # First among the running claims; but the work may have finished meanwhile.
            return finished(key)
        log.info("waiting for run %s, which is computing the same step", first.info.run_id)
        while client.get_run(first.info.run_id).info.status == "RUNNING":
            raise_if_interrupted()
            time.sleep(POLL_SECONDS)
            reap_dead_runs(experiment_id)
        done = finished(key)
        if done is not None:
            return done
        # The claimant failed or died: the next earliest claim takes over.
