"""A run's end: every run this project starts is ended by its own process, FINISHED, FAILED or
KILLED, saying why; what its process cannot end is ended by the next command (`liveness`).

A signal (SIGINT, SIGTERM) becomes `Interrupted`, raised where the work is, so that every open
run ends KILLED on the way out with the reason recorded. `mlflow run` itself marks the run it
made FAILED after a Ctrl-C, whatever the entry point recorded; the reason stays on the run. The
store calls that end a run ride through a store's brief outages (`orchestration.stores`); a run
still unended when its process exits is a dead process's run for the next command.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

import mlflow
import psutil
from mlflow.entities import Run
from mlflow.exceptions import MlflowException

from orchestration.init_store import open_on_training_runs
from orchestration.lifecycle import liveness
from orchestration.record.names import failure_tags, pruned_tags
from orchestration.record.store import unwritable
from orchestration.stores import StoreUnreachable
from orchestration.team.access import refusal
from titanic.errors import InputError

log = logging.getLogger("titanic")


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived; raised so that open runs end as KILLED."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    def __reduce__(self) -> tuple[type[Interrupted], tuple[int]]:
        # A local worker interrupted between configurations sends this back to the search
        # process, which rebuilds it from the signal number (not from the name it shows).
        return type(self), (self.signum,)


class Pruned(Exception):
    """A tuning trial its pruner stopped: its runs end KILLED, saying why; the search goes on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


_received: list[int] = []


def _interrupt(signum: int, _frame: object) -> None:
    # Later signals must not cut short the clean-up that the first one started.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _received.append(signum)
    raise Interrupted(signum)


def catch_interrupts() -> None:
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)


def interrupt_later(signum: int) -> None:
    """Interrupt the work at its next safe point, as `signum` would: for work in a thread,
    where no signal reaches it (a cluster task)."""
    _received.append(signum)


def clear_interrupts() -> None:
    _received.clear()


def raise_if_interrupted() -> None:
    """Raise a signal's Interrupted again where it is safe: raised inside a weakref callback
    or __del__ (as during garbage collection), Python prints it and drops it."""
    if _received:
        raise Interrupted(_received[0])


def follow_launcher() -> None:
    """SIGTERM to `mlflow run` alone (a scheduler, `timeout`) kills it without passing the
    signal on: interrupt this process as if it had been, once `mlflow run` has gone."""
    try:
        above = psutil.Process().parents()[:3]  # mlflow run -> [bash ->] python
        launcher = next(
            p.pid
            for p in above
            if "run" in (argv := p.cmdline()) and any(a.endswith("mlflow") for a in argv)
        )
    except (psutil.Error, StopIteration):
        raise Interrupted(signal.SIGTERM) from None  # gone before this process got this far

    def poll() -> None:
        while liveness.alive(launcher):
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=poll, name="titanic-launcher-watch", daemon=True).start()


@contextmanager
def active_run(
    *,
    nested: bool = False,
    parent_run_id: str | None = None,
    experiment_id: str | None = None,
    run_name: str | None = None,
    tags: dict[str, str] | None = None,
) -> Iterator[Run]:
    """Start (or resume) a run and end it FINISHED, FAILED (saying why), or KILLED (on
    SIGINT/SIGTERM, or pruned, saying why). The run records its process while open; a command's
    top-level run first marks FAILED the experiment's runs whose process died without ending
    them."""
    run = mlflow.start_run(
        nested=nested,
        parent_run_id=parent_run_id,
        experiment_id=experiment_id,
        run_name=run_name,
        tags={**(tags or {}), **liveness.process_tags()},
    )
    status = "FAILED"
    try:
        liveness.watch(run.info.run_id)
        if not nested and parent_run_id is None:
            open_on_training_runs(run.info.experiment_id)
            liveness.reap_dead_runs(run.info.experiment_id)
        yield run
        raise_if_interrupted()
        status = "FINISHED"
    except Pruned as pruned:
        status = "KILLED"
        mlflow.set_tags(pruned_tags(pruned.reason))
        raise
    except BaseException as err:
        # A signal that lands while a store call waits (sqlite's busy wait) is handled only
        # once the call has failed: the run was stopped, and ends KILLED, not FAILED.
        stop = err if isinstance(err, Interrupted) else None
        if stop is None and _received and isinstance(err, Exception):
            stop = Interrupted(_received[0])
        if stop is not None:
            status = "KILLED"
            release_store(stop)
            record(f"stopped by {stop}")
            if stop is not err:
                raise stop from err
        elif isinstance(err, Exception) and not isinstance(err, StoreUnreachable):
            known = refusal(err) or unwritable(err, run.info.artifact_uri)
            err = known or err
            reason = str(err) if isinstance(err, InputError) else f"{type(err).__name__}: {err}"
            record(reason.splitlines()[0] if reason.strip() else type(err).__name__)
            if known is not None:
                raise known from None  # the one line: the run's location, not a traceback
        raise
    finally:
        liveness.unwatch(run.info.run_id)
        try:
            mlflow.end_run(status)
        except (MlflowException, StoreUnreachable) as err:
            if status != "KILLED" and not isinstance(err, StoreUnreachable):
                raise
            log.warning("run %s not ended (%s): the next command ends it", run.info.run_id, err)


def release_store(stop: Interrupted) -> None:
    """Let go of the store call a signal cut short: its cursor, still referenced by the frames
    the signal unwound, keeps the lock its unfinished statement took on a sqlite store until it
    is collected, and until then this process could not write the store at all."""
    seen: set[int] = set()
    cut: BaseException | None = stop
    while cut is not None and id(cut) not in seen:  # and the store error it interrupted, if any
        seen.add(id(cut))
        traceback.clear_frames(cut.__traceback__)
        cut = cut.__cause__ or cut.__context__
    gc.collect()


def record(reason: str) -> None:
    """Why a run ended other than FINISHED, on the run (a tag, and its description in the UI)."""
    try:
        mlflow.set_tags(failure_tags(reason))
    except (MlflowException, StoreUnreachable) as err:  # the store may be what failed
        log.warning("could not record on the run why it ended (%s): %s", reason, err)
