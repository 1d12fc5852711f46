"""A Dask cluster as a search's executor: configurations become Dask tasks on plain
`dask worker`s started in checkouts of the project, placed by the scheduler, rerun elsewhere
when their worker dies.

What travels with a task: the client's tracking URI, the digest of the client's project code
(a worker whose code differs refuses the task) and the name of a Dask event the client sets to
stop the search. Credentials never do: each worker signs in with its own environment.

The scheduler unpickles the tasks it is sent, but holds none of the project's code (it is
started as Dask's own `dask scheduler`, anywhere): a task is `pickle.loads` of bytes, which
make the call to the project's code when a worker loads them.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import importlib
import logging
import os
import pickle
import signal
import socket
import ssl
import sys
import threading
import time
import warnings
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import FIRST_COMPLETED, CancelledError, Future, wait
from typing import Any, TypeVar
from urllib.parse import urlsplit

import mlflow
from distributed import Client, Event, Security, WorkerPlugin, get_client
from distributed.core import Status
from distributed.scheduler import KilledWorker
from threadpoolctl import threadpool_limits

from orchestration.cache.keys import package_versions
from orchestration.lifecycle import runs
from orchestration.project.mlproject import PROJECT_DIR
from orchestration.search.executors import STOP_GRACE_SECONDS, Executor, WorkerLost
from orchestration.team.hosts import is_loopback
from titanic.errors import InputError

T = TypeVar("T")
# What a worker must run exactly as the client does: the project's code and MLproject.
CODE_FOLDERS = ("steps", "titanic", "orchestration")
CONNECT_SECONDS = 15.0
WORKER_WAIT_SECONDS = 30.0
# How often a search waiting on its tasks checks that the client still has its scheduler.
LOST_CHECK_SECONDS = 1.0
DOCS = "docs/cluster.md"
# A worker that closes (its scheduler gone, or stopped) waits this long for the configurations
# it runs to end; Dask alone would give them 30 s and then exit under them, leaving their
# runs RUNNING.
FINISH_ON_CLOSE_SECONDS = 600.0
# Dask's own settings for TLS, as environment variables (or ~/.config/dask/*.yaml).
TLS_SETTINGS = (
    "DASK_DISTRIBUTED__COMM__TLS__CA_FILE",
    "DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT",
    "DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY",
)

log = logging.getLogger("titanic")
_running: set[int] = set()  # the threads of this worker running a configuration


class CodeMismatch(InputError):
    """A worker's project code differs from the client's."""


class _Call:
    """`fn(*args)`, made by whoever unpickles it: pickle calls what `__reduce__` names."""

    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:
        self.fn, self.args = fn, args

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        return self.fn, self.args


@functools.cache
def project_digest() -> str:
    """Digest of the project's code and of the package versions that change what a step
    computes, as this process first read them: a worker keeps running the code it loaded,
    whatever is edited on its disk later."""
    digest = hashlib.sha256(repr(sorted(package_versions().items())).encode())
    paths = [
        PROJECT_DIR / "MLproject",
        *(path for folder in CODE_FOLDERS for path in (PROJECT_DIR / folder).rglob("*.py")),
    ]
    for path in sorted(paths):
        digest.update(str(path.relative_to(PROJECT_DIR)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def where_am_i() -> dict[str, str]:
    """This worker's code digest, host and checkout: what a refusal names."""
    return {"digest": project_digest(), "host": socket.gethostname(), "folder": str(PROJECT_DIR)}


def mismatch(worker: dict[str, str], ours: str) -> str:
    return (
        f"the Dask worker on {worker['host']} ({worker['folder']}) runs other project "
        f"code (digest {worker['digest'][:12]}) than this checkout ({ours[:12]} in "
        f"{PROJECT_DIR}): check out the same commit and packages there and restart the "
        f"worker"
    )


def check_address(address: str) -> str:
    """`tcp://host:port` or `tls://host:port`; warns when plain tcp leaves loopback."""
    parts = urlsplit(address)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme not in ("tcp", "tls") or not parts.hostname or port is None:
        raise InputError(
            f"cluster must be local or a Dask scheduler address such as "
            f"tls://scheduler:8786 or tcp://127.0.0.1:8786; got {address!r}"
        )
    if parts.scheme == "tcp" and not is_loopback(parts.hostname):
        print(
            f"titanic: warning: {address} is plain tcp: anyone who reaches the scheduler "
            f"can run code on its workers and read what they send; use tls:// ({DOCS})",
            file=sys.stderr,
        )
    return address


def check_tracking_uri(uri: str, address: str) -> None:
    """Workers log to this URI: a file on this machine is out of their reach."""
    scheme = urlsplit(uri).scheme
    if scheme in ("", "file", "sqlite"):
        raise InputError(
            f"cluster={address} needs a tracking server every worker can reach, "
            f"and the tracking store is {uri}, on this machine only: set "
            f"MLFLOW_TRACKING_URI to the team server's URL (docs/team.md)"
        )


class ProjectWorker(WorkerPlugin):
    """Registered by the client on every worker: what a configuration needs of its process."""

    name = "titanic-project"

    def __init__(self, preload: Sequence[str]) -> None:
        self.preload = tuple(preload)

    def setup(self, worker: Any) -> None:
        from orchestration.search.worker import prepare_worker

        for module in self.preload:  # the code this worker runs, loaded with its digest
            importlib.import_module(module)
        project_digest()
        prepare_worker()
        # The worker samples its task threads' stacks every 10 ms for the dashboard's
        # profile; over a configuration's deep scikit-learn stacks that slowed the work by
        # about a fifth (bench/cluster.py).
        for name in ("profile", "profile-cycle"):
            callback = worker.periodic_callbacks.pop(name, None)
            if callback is not None:
                callback.stop()

    async def teardown(self, worker: Any) -> None:
        """On close, let running configurations end: what they finish, the same command run
        again reuses. (A later client registering the plugin again also tears this one down:
        the worker then carries on, and nothing waits.)"""
        if worker.status not in (Status.closing, Status.closing_gracefully) or not _running:
            return
        log.warning(
            "this worker is closing: waiting up to %.0f s for the %d configuration(s) "
            "it runs to end",
            FINISH_ON_CLOSE_SECONDS,
            len(_running),
        )
        deadline = time.monotonic() + FINISH_ON_CLOSE_SECONDS
        while _running and time.monotonic() < deadline:
            await asyncio.sleep(0.5)


def on_worker(digest: str, stop: str, fn: Callable[..., T], *args: Any) -> T:
    """A task: `fn(*args)` on this worker, if its code is the client's; the client setting the
    event `stop` interrupts it."""
    mine = where_am_i()
    if mine["digest"] != digest:
        raise CodeMismatch(mismatch(mine, digest))
    event, done = Event(stop, client=get_client()), threading.Event()

    def watch() -> None:
        while not done.is_set():
            try:
                stopped = event.wait(timeout=1)
            except (OSError, RuntimeError, TimeoutError) as err:
                # The scheduler is gone and the client with it: the work goes on, so that
                # what it finishes is reused by the same command run again.
                log.warning("stop signal out of reach (%s); finishing the configuration", err)
                return
            if stopped:
                runs.interrupt_later(signal.SIGTERM)
                return

    runs.clear_interrupts()
    watcher = threading.Thread(target=watch, name="titanic-stop-watch", daemon=True)
    watcher.start()
    _running.add(threading.get_ident())
    try:
        with threadpool_limits(1):
            return fn(*args)
    finally:
        done.set()
        watcher.join()
        runs.clear_interrupts()
        _running.discard(threading.get_ident())


class DaskCluster(Executor):
    """The workers of the Dask scheduler at `address`: at most `jobs` configurations at once
    (None: one per worker thread)."""

    def __init__(self, address: str, jobs: int | None, preload: Sequence[str]) -> None:
        self._address = check_address(address)
        self._uri = mlflow.get_tracking_uri()
        check_tracking_uri(self._uri, address)
        self._client = self._connect()
        try:
            self._digest = project_digest()
            self._check_workers()
            self._client.register_plugin(ProjectWorker(preload))
            threads = sum(
                w["nthreads"] for w in self._client.scheduler_info(n_workers=-1)["workers"].values()
            )
            self.slots = jobs or threads
            self._stop = Event(f"titanic-stop-{os.getpid()}-{id(self)}", client=self._client)
            self._executor = self._client.get_executor(pure=False)
        except BaseException:
            self._client.close()
            raise
        self._futures: list[Future[Any]] = []

    def _connect(self) -> Client:
        security = Security() if self._address.startswith("tls://") else None
        tls = security.get_tls_config_for_role("client") if security is not None else None
        if tls is not None and not tls["ca_file"]:
            raise InputError(
                f"cluster={self._address} needs the cluster's CA and this "
                f"machine's certificate: set {', '.join(TLS_SETTINGS)} ({DOCS})"
            )
        if tls is not None:
            files = (tls["ca_file"], tls["cert"], tls["key"])
            for setting, path in zip(TLS_SETTINGS, files, strict=True):
                if path and not os.path.isfile(path):
                    raise InputError(
                        f"{setting} names {path}, which is not a file in "
                        f"{os.getcwd()}: give its absolute path ({DOCS})"
                    )
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # its own retry messages; the error says it
                return Client(
                    self._address, security=security, timeout=CONNECT_SECONDS, set_as_default=False
                )
        except (OSError, TimeoutError) as err:
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            if isinstance(err.__cause__, ssl.SSLError):
                raise InputError(
                    f"the Dask scheduler at {self._address} and this machine do "
                    f"not accept each other's TLS certificates ({err.__cause__}): "
                    f"set {TLS_SETTINGS[0]} to the cluster's CA and "
                    f"{TLS_SETTINGS[1]}, {TLS_SETTINGS[2]} to a certificate it "
                    f"signed ({DOCS})"
                ) from None
            raise InputError(
                f"cannot reach the Dask scheduler at {self._address} ({reason}): "
                f"start it with `dask scheduler` there, or check the address "
                f"({DOCS})"
            ) from None

    def _check_workers(self) -> None:
        try:
            self._client.wait_for_workers(1, timeout=WORKER_WAIT_SECONDS)
        except TimeoutError:
            raise InputError(
                f"no worker joined the Dask scheduler at {self._address} within "
                f"{WORKER_WAIT_SECONDS:.0f} s: start one in a checkout of the "
                f"project with `PYTHONPATH=. dask worker {self._address} "
                f"--nthreads 1` ({DOCS})"
            ) from None
        try:
            workers = self._client.run(where_am_i)
        except ModuleNotFoundError as err:
            raise InputError(
                f"a Dask worker cannot import the project ({err}): start workers "
                f"in a checkout of the project with PYTHONPATH=. ({DOCS})"
            ) from None
        for found in workers.values():
            if found["digest"] != self._digest:
                raise CodeMismatch(mismatch(found, self._digest))

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        call = pickle.dumps(_Call(on_worker, self._digest, self._stop.name, fn, *args))
        future = self._executor.submit(pickle.loads, call)
        self._futures.append(future)
        return future

    def wait(self, futures: Collection[Future[Any]]) -> set[Future[Any]]:
        """As Executor.wait, but a lost scheduler ends the wait: a task that had finished
        when its scheduler died, its result not yet fetched, never ends on this side."""
        while True:
            done, _ = wait(futures, timeout=LOST_CHECK_SECONDS, return_when=FIRST_COMPLETED)
            if done:
                return done
            if self._client.status != "running":
                raise self._lost()

    def result(self, future: Future[T]) -> T:
        try:
            return future.result()
        except KilledWorker as err:
            raise WorkerLost(f"its Dask workers died while running it ({err})") from None
        except CancelledError:
            raise self._lost() from None

    def _lost(self) -> InputError:
        return InputError(
            f"lost the Dask scheduler at {self._address} mid-search: the same "
            f"command again computes only what is missing"
        )

    def close(self, interrupted: bool) -> None:
        try:
            if interrupted and self._client.status == "running":
                self._stop.set()  # running tasks end their runs KILLED; queued ones start none
                wait([f for f in self._futures if not f.done()], timeout=STOP_GRACE_SECONDS)
        finally:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self._client.close()
