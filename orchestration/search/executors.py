"""Where a search runs its configurations. The search driver (`orchestration.search.driver`) submits
calls, waits for them and reads their results through `Executor`; `LocalPool` is this machine's
processes, and a cluster executor plugs in beside it with the same methods.

A worker that dies (killed, out of memory) costs only the call it was running: the executor
reports it as `WorkerLost`, and the driver decides whether to try again.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.forkserver
import os
import signal
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from types import TracebackType
from typing import Any, Self, TypeVar

import psutil
from pebble import ProcessExpired, ProcessPool

T = TypeVar("T")
# What a local worker imports once, before its first call: the search's worker side, the
# modules a search names (the steps it runs) and what MLflow would load during its first run.
# (The fork server skips a module that fails to import: tests/test_search_parts.py imports each.)
WORKER_MODULES = ("orchestration.search.worker", "orchestration.search.preload")
# Seconds that interrupted workers get to end their runs KILLED before they are killed.
STOP_GRACE_SECONDS = 60.0

log = logging.getLogger("titanic")


class WorkerLost(Exception):
    """The worker running a call died before the call returned."""


class Executor(ABC):
    """Runs calls somewhere else, at most `slots` at a time."""

    slots: int

    @abstractmethod
    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Start `fn(*args)` on a worker."""

    def wait(self, futures: Collection[Future[Any]]) -> set[Future[Any]]:
        """Block until at least one of `futures` has ended; those that have."""
        done, _ = wait(futures, return_when=FIRST_COMPLETED)
        return done

    @abstractmethod
    def result(self, future: Future[T]) -> T:
        """What a finished call returned; WorkerLost if its worker died."""

    @abstractmethod
    def close(self, interrupted: bool) -> None:
        """Release the workers; after an interrupt, stop what is still running (the calls end
        their own runs KILLED) and start nothing more."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close(interrupted=error is not None)


def start_fork_server(argv: list[str], preload: Sequence[str]) -> None:
    """Start the fork server that a LocalPool forks its workers from, now: a search command
    calls this before its own imports, so that the server imports the modules (about as
    long as the command's own imports) on another core beside them rather than after them.
    The pool uses the server already running. Not for a search on a cluster (`--cluster`
    other than `local`), whose configurations run elsewhere."""
    if "--cluster" in argv[:-1] and argv[argv.index("--cluster") + 1] != "local":
        return
    _fork_server(preload)


def _fork_server(preload: Sequence[str]) -> multiprocessing.context.ForkServerContext:
    """The fork server's context, the server running and importing WORKER_MODULES and
    `preload` (started now unless it already runs)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([WORKER_MODULES[0], *preload, *WORKER_MODULES[1:]])
    multiprocessing.forkserver.ensure_running()
    return context


class LocalPool(Executor):
    """`slots` worker processes on this machine, forked from a server that imported
    `preload` once, so a call costs its work and not an interpreter start. Each worker is set
    up by `initializer`; a dead worker is replaced by a fresh one."""

    def __init__(self, slots: int, initializer: Callable[[], None], preload: Sequence[str]) -> None:
        self.slots = slots
        context = _fork_server(preload)
        self._pool = ProcessPool(max_workers=slots, initializer=initializer, context=context)
        self._futures: list[Future[Any]] = []

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        future = self._pool.schedule(fn, args=args)
        self._futures.append(future)
        return future

    def result(self, future: Future[T]) -> T:
        try:
            return future.result()
        except ProcessExpired as err:
            raise WorkerLost(
                f"its worker process {err.pid} died (exit code {err.exitcode})"
            ) from None

    def close(self, interrupted: bool) -> None:
        if not interrupted:
            self._pool.close()
            self._pool.join()
            return
        for future in self._futures:
            if not future.running():
                future.cancel()  # not started: never starts
        workers = self._workers()
        for worker in workers:  # a SIGTERM to this process alone reaches no worker
            try:
                worker.send_signal(signal.SIGTERM)
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(workers, timeout=STOP_GRACE_SECONDS)
        self._pool.stop()
        self._pool.join()

    @staticmethod
    def _workers() -> list[psutil.Process]:
        """The pool's worker processes: what the fork server (a child of this process) forked."""
        return [
            worker
            for server in psutil.Process(os.getpid()).children()
            for worker in server.children()
        ]
