"""Sweeps and tuning on a Dask cluster: a real `dask scheduler` and plain `dask worker`s, each
worker in a network namespace of its own (a "machine" reaching the others only over a bridge
the test made), against the team server on PostgreSQL with authentication. Required on CI, like
the team tests."""

from __future__ import annotations

import operator
import os
import re
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dask.config
import mlflow
import optuna
import psycopg
import pytest
from distributed import Client
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from steps import MODULES
from tests.pages import block, commands, ran, started
from tests.servers import (
    POSTGRES,
    TEAM,
    add_team,
    certificates,
    drop,
    running_server,
)
from tests.support import (
    PROJECT,
    QUICK,
    error_lines,
    experiment,
    finished,
    free_port,
    matched,
    mlflow_run,
    mlflow_run_command,
    parents,
    run_env,
    run_here,
    started_mlflow_run,
)
from titanic.errors import InputError

# Every test here shares one cluster and one server: they run on one xdist worker.
pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.netns,
    pytest.mark.xdist_group("cluster"),
]
TLS_SETTINGS = (
    "DASK_DISTRIBUTED__COMM__TLS__CA_FILE",
    "DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT",
    "DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY",
)
MEMBER = {"MLFLOW_TRACKING_USERNAME": "member", "MLFLOW_TRACKING_PASSWORD": TEAM["member"][1]}


def run(command: list[str], **kwargs: Any) -> None:
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{' '.join(command)}: {done.stderr}"


@contextmanager
def bridged_namespaces(count: int) -> Iterator[tuple[str, list[str]]]:
    """`count` network namespaces on one bridge of their own: (this side's address on the
    bridge, the namespaces)."""
    tag = uuid.uuid4().hex[:6]
    net = f"10.232.{1 + int(tag, 16) % 250}"
    bridge, made = f"tb{tag}", []
    run(["ip", "link", "add", bridge, "type", "bridge"])
    try:
        run(["ip", "addr", "add", f"{net}.1/24", "dev", bridge])
        run(["ip", "link", "set", bridge, "up"])
        for i in range(count):
            name, veth = f"titanic-{tag}-w{i}", f"tv{tag}{i}"
            run(["ip", "netns", "add", name])
            made.append(name)
            run(["ip", "link", "add", f"{veth}a", "type", "veth", "peer", "name", f"{veth}b"])
            run(["ip", "link", "set", f"{veth}b", "netns", name])
            run(["ip", "link", "set", f"{veth}a", "master", bridge])
            run(["ip", "link", "set", f"{veth}a", "up"])
            for command in (
                ["ip", "addr", "add", f"{net}.{i + 2}/24", "dev", f"{veth}b"],
                ["ip", "link", "set", f"{veth}b", "up"],
                ["ip", "link", "set", "lo", "up"],
            ):
                run(["ip", "netns", "exec", name, *command])
        yield f"{net}.1", made
    finally:
        for name in made:
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
        subprocess.run(["ip", "link", "del", bridge], capture_output=True)


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def wait_for_port(host: str, port: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            assert proc.poll() is None, proc.stderr.read()[-3000:] if proc.stderr else ""
            assert time.monotonic() < deadline, f"nothing listened on {host}:{port} in 60 s"
            time.sleep(0.3)


@contextmanager
def scheduler(host: str, started: list[subprocess.Popen[str]] | None = None) -> Iterator[str]:
    """A plain-tcp `dask scheduler` for the fault tests, in a folder with none of the
    project's code, which it cannot import; yields its address (and appends its process to
    `started`)."""
    port = free_port(host)
    elsewhere = tempfile.mkdtemp(prefix="titanic-scheduler-")
    env = {k: v for k, v in run_env().items() if k != "PYTHONPATH"}
    proc = subprocess.Popen(
        ["dask", "scheduler", "--host", host, "--port", str(port), "--no-dashboard"],
        cwd=elsewhere,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        wait_for_port(host, port, proc)
        if started is not None:
            started.append(proc)
        yield f"tcp://{host}:{port}"
    finally:
        stop(proc)
        shutil.rmtree(elsewhere, ignore_errors=True)


@contextmanager
def worker(address: str, folder: Path, project: Path = PROJECT) -> Iterator[subprocess.Popen[str]]:
    """A plain `dask worker` with one thread for the fault tests, started in a checkout of
    the project with PYTHONPATH=. and a team member's credentials in its environment."""
    (folder / "tmp").mkdir(parents=True, exist_ok=True)
    command = ["dask", "worker", address, "--nthreads", "1", "--no-dashboard"]
    proc = subprocess.Popen(
        command,
        cwd=project,
        env=run_env(PYTHONPATH=".", TMPDIR=str(folder / "tmp"), **MEMBER),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        stop(proc)


def wait_for_workers(address: str, count: int) -> None:
    with Client(address, timeout=30, set_as_default=False) as client:
        client.wait_for_workers(count, timeout=120)


class Cluster:
    def __init__(
        self,
        url: str,
        address: str,
        namespaces: list[str],
        folder: Path,
        fills: dict[str, str],
        storage: str,
    ) -> None:
        self.url, self.address, self.namespaces, self.folder = url, address, namespaces, folder
        self.fills, self.storage = fills, storage  # docs/cluster.md's placeholders, filled


TLS_FILES = {
    "team-ca.pem": 0,
    "scheduler.pem": 1,
    "worker.pem": 1,
    "client.pem": 1,
    "scheduler.key": 2,
    "worker.key": 2,
    "client.key": 2,
}


def machine(folder: Path, tls: tuple[Path, Path, Path], checkout: bool = False) -> Path:
    """A folder as docs/cluster.md expects one on each machine: the virtual environment as
    `.venv`, the TLS files under the names the page uses, and (for a worker) a checkout of
    the project at this commit."""
    if checkout:
        shutil.copytree(
            PROJECT,
            folder,
            ignore=shutil.ignore_patterns(
                ".git", ".venv", "mlflow.db", "__pycache__", ".pytest_cache"
            ),
        )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".venv").symlink_to(sys.prefix)
    for name, which in TLS_FILES.items():
        shutil.copy(tls[which], folder / name)
    return folder


@contextmanager
def forwarding(host: str, target: tuple[str, int]) -> Iterator[int]:
    """A port on `host` (an address the test made) relaying to `target`: how the namespaces
    reach the machine's PostgreSQL, which listens on loopback only."""

    def pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with suppress(OSError):
                sink.shutdown(socket.SHUT_WR)

    class Relay(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            with socket.create_connection(target) as upstream:
                back = threading.Thread(target=pipe, args=(upstream, self.request), daemon=True)
                back.start()
                pipe(self.request, upstream)
                back.join()

    server = socketserver.ThreadingTCPServer((host, 0), Relay)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """docs/cluster.md's cluster, started from the page's own blocks: the team server and a
    TLS scheduler (in a folder without the project's code) on a bridge, and two workers, each
    in a network namespace and a checkout of its own; the tests work as the team's member."""
    folder = tmp_path_factory.mktemp("cluster")
    database, optuna_db = (f"titanic_test_{uuid.uuid4().hex[:12]}" for _ in range(2))
    tls = certificates(folder)
    with ExitStack() as stack, pytest.MonkeyPatch.context() as env:
        stack.callback(drop, database)
        stack.callback(dask.config.refresh)  # after the TLS settings below are undone
        here, namespaces = stack.enter_context(bridged_namespaces(2))
        url = stack.enter_context(running_server(database, folder, here))
        env.setenv("MLFLOW_TRACKING_URI", url)
        env.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
        mlflow.set_tracking_uri(url)
        add_team(env)
        for name, value in MEMBER.items():
            env.setenv(name, value)
        # Optuna's storage on the machine's PostgreSQL, reached from the bridge.
        with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{optuna_db}"')
        stack.callback(drop, optuna_db)
        pg = urlsplit(POSTGRES)
        relay = stack.enter_context(forwarding(here, (pg.hostname or "", pg.port or 5432)))
        storage = f"{pg.username}@{here}:{relay}/{optuna_db}"

        port = free_port(here)
        fills = {
            "scheduler.team.example:8786": f"{here}:{port}",
            "optuna@db.team.example/optuna": storage,
        }
        plain = {k: v for k, v in run_env().items() if k != "PYTHONPATH"}
        scheduler_proc = stack.enter_context(
            started(
                block("cluster-scheduler", {"0.0.0.0": here, "--port 8786": f"--port {port}"}),
                machine(folder / "scheduler", tls),
                env=plain,
            )
        )
        wait_for_port(here, port, scheduler_proc)
        # Each worker signs in with the lines the page gives it, not with this environment.
        signed_out = {k: v for k, v in run_env().items() if k not in MEMBER}
        for i, namespace in enumerate(namespaces):
            checkout = machine(folder / f"worker-{i}", tls, checkout=True)
            (checkout / "tmp").mkdir()
            stack.enter_context(
                started(
                    block(
                        "cluster-worker",
                        {
                            "alice": "member",
                            "=…": '="$MEMBER_PASSWORD"',
                            "/etc/ssl/team-ca.pem": str(tls[0]),
                            "scheduler.team.example:8786": f"{here}:{port}",
                        },
                    ),
                    checkout,
                    env={
                        **signed_out,
                        "TMPDIR": str(checkout / "tmp"),
                        "MEMBER_PASSWORD": MEMBER["MLFLOW_TRACKING_PASSWORD"],
                    },
                    wrap=("ip", "netns", "exec", namespace),
                )
            )
        # This machine's TLS settings as the page exports them, for Dask in this process too.
        client = machine(folder / "client", tls, checkout=True)  # where searches start
        exported = ran(f"{block('cluster-client')}\nenv", client)
        for line in exported.splitlines():
            name, _, value = line.partition("=")
            if name.startswith("DASK_DISTRIBUTED__COMM__TLS__"):
                env.setenv(name, str(client / value))
        dask.config.refresh()
        address = f"tls://{here}:{port}"
        wait_for_workers(address, 2)
        yield Cluster(url, address, namespaces, client, fills, f"postgresql://{storage}")


def configurations(search: Run) -> list[Run]:
    return MlflowClient().search_runs(
        [search.info.experiment_id], f"tags.`mlflow.parentRunId` = '{search.info.run_id}'"
    )


def descendants(search: Run) -> list[Run]:
    found, pending = [], [search.info.run_id]
    while pending:
        for r in MlflowClient().search_runs(
            [search.info.experiment_id], f"tags.`mlflow.parentRunId` = '{pending.pop()}'"
        ):
            found.append(r)
            pending.append(r.info.run_id)
    return found


def search_run(result: subprocess.CompletedProcess[str]) -> Run:
    """The search run `mlflow run` made, from its own log line."""
    run_id = matched(r"Run \(ID '([0-9a-f]{32})'\)", result.stderr)[1]
    return MlflowClient().get_run(run_id)


def pids_of(namespace: str) -> set[str]:
    listed = subprocess.run(["ip", "netns", "pids", namespace], capture_output=True, text=True)
    return set(listed.stdout.split())


def documented(cluster: Cluster) -> list[str]:
    """docs/cluster.md's sweep and tune, for this cluster."""
    return commands(block("cluster-searches", cluster.fills))


def search_killing_a_worker(
    cluster: Cluster, line: str
) -> tuple[subprocess.CompletedProcess[str], Run]:
    """`line` run by the client's shell after the page's TLS settings; once a train step
    runs, its worker process is killed (its nanny starts a new one). Returns the result and
    the killed step's run."""
    proc = subprocess.Popen(
        ["bash", "-c", f"set -eo pipefail\n{block('cluster-client')}\n{line}"],
        cwd=cluster.folder,
        env=run_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    client = MlflowClient()
    try:
        deadline = time.monotonic() + 300
        victim = None
        while victim is None and time.monotonic() < deadline and proc.poll() is None:
            victim = next(
                (
                    r
                    for r in client.search_runs(
                        ["0"], "attributes.status = 'RUNNING' and attributes.run_name = 'train'"
                    )
                    if "titanic.pid" in r.data.tags
                ),
                None,
            )
            time.sleep(0.2)
        assert victim is not None, (
            "no train step was seen running",
            proc.poll() is not None and proc.communicate()[1][-3000:],
        )
        os.kill(int(victim.data.tags["titanic.pid"]), signal.SIGKILL)
        out, err = finished(proc, timeout=900)
    finally:
        stop(proc)
    assert proc.returncode == 0, err[-3000:]
    return subprocess.CompletedProcess([], 0, out, err), client.get_run(victim.info.run_id)


def check_a_worker_died_and_nothing_was_lost(cluster: Cluster, search: Run, dead: Run) -> None:
    # Marked by the search, or first by the rerun that found the dead claim on its step.
    assert dead.info.status == "FAILED"
    assert re.search(
        r"its worker process died|its process \d+ on \S+ is gone", dead.data.tags["titanic.error"]
    ), dead.data.tags["titanic.error"]
    assert "RUNNING" not in {r.info.status for r in descendants(search)}
    assert MlflowClient().get_run(search.info.run_id).info.status == "FINISHED"
    ran_in = {r.data.tags["titanic.pid"] for r in configurations(search)}
    for namespace in cluster.namespaces:  # both machines took part, each in its namespace
        assert ran_in & pids_of(namespace), (namespace, ran_in)


def test_the_documented_sweep_finishes_over_both_workers_one_killed(cluster: Cluster) -> None:
    sweep, _ = documented(cluster)
    result, dead = search_killing_a_worker(cluster, sweep)
    assert "plain tcp" not in result.stderr
    search = search_run(result)
    finished = [r for r in configurations(search) if r.info.status == "FINISHED"]
    # hgb does not use C: 5 configurations, each finished once.
    assert sorted(r.info.run_name for r in finished) == sorted(
        [f"model=logreg C={c}" for c in ("0.01", "0.1", "1", "10")] + ["model=hgb"]
    )
    check_a_worker_died_and_nothing_was_lost(cluster, search, dead)
    steps = [
        r
        for r in descendants(search)
        if r.info.run_name in ("prepare", "train", "evaluate")
        and r.info.status == "FINISHED"
        and "titanic.reused_from" not in r.data.tags
    ]
    assert [r.info.run_name for r in steps].count("prepare") == 1  # computed once for all


def test_the_documented_tune_finishes_over_both_workers_one_killed(cluster: Cluster) -> None:
    _, tune = documented(cluster)
    result, dead = search_killing_a_worker(cluster, tune)
    search = search_run(result)
    trials = int(matched(r"-P trials=(\d+)", tune)[1])
    study = optuna.load_study(study_name="team", storage=cluster.storage)
    states = [t.state.name for t in study.trials]
    assert len(states) == trials and set(states) <= {"COMPLETE", "PRUNED"}, states
    assert "COMPLETE" in states
    # Each trial's run ended as Optuna was told: FINISHED, or KILLED by its pruner.
    ended = {
        r.info.run_id: (r.info.status, "titanic.pruned" in r.data.tags)
        for r in configurations(search)
    }
    assert [ended[t.user_attrs["mlflow_run_id"]] for t in study.trials] == [
        ("FINISHED", False) if state == "COMPLETE" else ("KILLED", True) for state in states
    ]
    check_a_worker_died_and_nothing_was_lost(cluster, search, dead)


def test_ctrl_c_ends_a_cluster_sweep_killed_and_the_workers_carry_on(cluster: Cluster) -> None:
    proc = started_mlflow_run(
        mlflow_run_command(
            "-e",
            "sweep",
            "-P",
            f"cluster={cluster.address}",
            "-P",
            "C=0.04,0.4,4,40",
            "-P",
            "force=all",
        ),
        cwd=cluster.folder,
        start_new_session=True,
    )
    client = MlflowClient()
    try:
        deadline = time.monotonic() + 180
        while (
            time.monotonic() < deadline
            and proc.poll() is None
            and not client.search_runs(
                ["0"], "attributes.status = 'RUNNING' and attributes.run_name = 'train'"
            )
        ):
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the whole foreground group
        out, err = finished(proc, timeout=180)
    finally:
        stop(proc)
    assert proc.returncode != 0
    search = client.get_run(
        search_run(subprocess.CompletedProcess([], proc.returncode, out, err)).info.run_id
    )
    # `mlflow run` marks its run FAILED after a Ctrl-C; the reason the search recorded stays.
    assert search.info.status == "FAILED"
    assert search.data.tags["titanic.error"] == "stopped by SIGINT"
    statuses = {r.info.status for r in descendants(search)}
    assert "RUNNING" not in statuses and "KILLED" in statuses, statuses
    # The workers stay up for the next search.
    with Client(cluster.address, timeout=30, set_as_default=False) as workers:
        assert len(workers.scheduler_info(n_workers=-1)["workers"]) == 2


def test_a_worker_with_other_code_is_refused(cluster: Cluster, tmp_path: Path) -> None:
    edited = tmp_path / "edited"
    shutil.copytree(
        PROJECT,
        edited,
        ignore=shutil.ignore_patterns(".git", ".venv", "mlflow.db", "__pycache__", ".pytest_cache"),
    )
    features = edited / "titanic" / "features.py"
    features.write_text(features.read_text() + "\n# edited on this machine only\n")
    with scheduler("127.0.0.1") as address, worker(address, tmp_path / "worker", project=edited):
        wait_for_workers(address, 1)
        result = run_here("-e", "sweep", "-P", f"cluster={address}", "-P", "C=0.1,1", *QUICK)
    assert result.returncode == 2
    (line,) = error_lines(result)
    assert re.fullmatch(
        rf"titanic: error: the Dask worker on .+ \({re.escape(str(edited))}\) runs other project "
        rf"code \(digest [0-9a-f]{{12}}\) than this checkout \([0-9a-f]{{12}} in "
        rf"{re.escape(str(PROJECT))}\): check out the same commit and packages there and "
        rf"restart the worker",
        line,
    ), line
    search = parents()[-1]  # the newest search: the tests here run one after another
    assert search.info.status == "FAILED" and not configurations(search)


def test_an_unreachable_scheduler_fails_the_search_in_one_line(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checked with the 15 s the client keeps trying made 1 s."""
    from orchestration.search import cluster as dask_cluster

    monkeypatch.setattr(dask_cluster, "CONNECT_SECONDS", 1.0)
    address = f"tcp://127.0.0.1:{free_port()}"  # nobody listens there
    gone = run_here("-e", "sweep", "-P", f"cluster={address}", *QUICK)
    assert gone.returncode == 2
    (line,) = error_lines(gone)
    assert line.startswith(f"titanic: error: cannot reach the Dask scheduler at {address} (")
    assert parents()[-1].info.status == "FAILED"


def test_a_scheduler_with_no_worker_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The line a search ends with when no worker joins, checked on the executor with its
    30 s wait made 1 s; a refused search ends like the unreachable one above."""
    from orchestration.search import cluster as dask_cluster

    monkeypatch.setattr(dask_cluster, "WORKER_WAIT_SECONDS", 1.0)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # never reached here
    with scheduler("127.0.0.1") as address:
        with pytest.raises(InputError) as refusal:
            dask_cluster.DaskCluster(address, None, MODULES)
    assert str(refusal.value) == (
        f"no worker joined the Dask scheduler at {address} within 1 s: start one in a checkout "
        f"of the project with `PYTHONPATH=. dask worker {address} --nthreads 1` "
        f"(docs/cluster.md)"
    )


def test_the_scheduler_killed_mid_sweep(cluster: Cluster, tmp_path: Path) -> None:
    grid = ("-P", "C=0.05,0.5,5", *QUICK)
    started: list[subprocess.Popen[str]] = []
    with (
        scheduler("127.0.0.1", started=started) as address,
        worker(address, tmp_path / "worker") as lone,
    ):
        wait_for_workers(address, 1)
        proc = started_mlflow_run(
            mlflow_run_command("-e", "sweep", "-P", f"cluster={address}", *grid),
            cwd=tmp_path,
            start_new_session=True,
        )
        try:
            client, deadline = MlflowClient(), time.monotonic() + 180
            while (
                time.monotonic() < deadline
                and proc.poll() is None
                and not [
                    r
                    for r in client.search_runs(
                        ["0"], "attributes.status = 'FINISHED' and attributes.run_name = 'C=0.05'"
                    )
                ]
            ):
                time.sleep(0.2)
            os.kill(started[0].pid, signal.SIGKILL)
            out, err = finished(proc, timeout=300)
            # The worker closes without its scheduler, once what it runs has ended.
            lone.wait(timeout=300)
        finally:
            stop(proc)
    assert proc.returncode == 1, err[-3000:]
    result = subprocess.CompletedProcess([], 1, out, err)
    assert error_lines(result) == [
        f"titanic: error: lost the Dask scheduler at {address} mid-search: the same command "
        f"again computes only what is missing"
    ]
    search = search_run(result)
    assert search.info.status == "FAILED"
    assert {r.info.status for r in descendants(search)} == {"FINISHED"}

    with scheduler("127.0.0.1") as address, worker(address, tmp_path / "worker-2"):
        wait_for_workers(address, 1)
        again = mlflow_run("-e", "sweep", "-P", f"cluster={address}", *grid, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    reused = {
        r.info.run_name: r.data.tags.get("titanic.reused_steps", "")
        for r in configurations(search_run(again))
    }
    assert reused["C=0.05"] == "prepare,train,evaluate", reused


def test_a_result_the_scheduler_died_holding_ends_the_wait(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scheduler dies after a task ended and before the client fetched its result: Dask's
    executor future for it never ends, and a search waiting on it must not wait forever."""
    from orchestration.search.cluster import DaskCluster

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # never reached here
    started: list[subprocess.Popen[str]] = []
    with scheduler("127.0.0.1", started=started) as address, worker(address, tmp_path / "worker"):
        wait_for_workers(address, 1)
        with DaskCluster(address, None, MODULES) as pool:
            future = pool.submit(operator.mul, b"x", 10**8)  # 100 MB to fetch: time to die
            while not any(state.status == "finished" for state in pool._client.futures.values()):
                time.sleep(0.001)
            os.kill(started[0].pid, signal.SIGKILL)
            raised: list[BaseException] = []
            waiting = threading.Thread(
                target=lambda: raised.extend(_raised(pool.wait, {future})), daemon=True
            )
            waiting.start()
            waiting.join(timeout=60)
            assert not waiting.is_alive(), "the wait did not end in 60 s"
    assert not future.done()  # what Dask does: the wait ended on the lost scheduler
    assert [str(err) for err in raised] == [
        f"lost the Dask scheduler at {address} mid-search: the same command again computes "
        f"only what is missing"
    ]


def _raised(fn: Callable[..., object], *args: object) -> list[BaseException]:
    try:
        fn(*args)
    except Exception as err:
        return [err]
    return []


def test_tls_settings_that_cannot_work_are_one_line(
    cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """None set; the page's relative file names used from another folder; another CA."""
    other_ca, other_cert, other_key = certificates(tmp_path)
    cases = [
        (
            {},
            f"cluster={cluster.address} needs the cluster's CA and this machine's "
            f"certificate: set {', '.join(TLS_SETTINGS)} (docs/cluster.md)",
        ),
        (
            dict(zip(TLS_SETTINGS, ("team-ca.pem", "client.pem", "client.key"), strict=True)),
            f"{TLS_SETTINGS[0]} names team-ca.pem, which is not a file in {PROJECT}: give its "
            f"absolute path (docs/cluster.md)",
        ),
        (
            dict(zip(TLS_SETTINGS, map(str, (other_ca, other_cert, other_key)), strict=True)),
            f"the Dask scheduler at {cluster.address} and this machine do not accept each "
            f"other's TLS certificates ([SSL: CERTIFICATE_VERIFY_FAILED] certificate verify "
            f"failed",
        ),
    ]
    try:
        for settings, says in cases:
            for name in TLS_SETTINGS:
                monkeypatch.delenv(name)
            for name, value in settings.items():
                monkeypatch.setenv(name, value)
            dask.config.refresh()
            refused = run_here("-e", "sweep", "-P", f"cluster={cluster.address}", *QUICK)
            assert refused.returncode == 2
            (line,) = error_lines(refused)
            assert line.startswith(f"titanic: error: {says}"), line
            assert parents()[-1].info.status == "FAILED"
            monkeypatch.undo()
    finally:
        monkeypatch.undo()
        dask.config.refresh()


def test_a_cluster_with_a_local_store_is_refused(store: str, tmp_path: Path) -> None:
    """The cluster refusal taken through `mlflow run` (the others run in-process)."""
    result = mlflow_run("-e", "sweep", "-P", "cluster=tcp://127.0.0.1:8786", *QUICK, cwd=tmp_path)
    assert result.returncode == 1
    assert error_lines(result) == [
        f"titanic: error: cluster=tcp://127.0.0.1:8786 needs a tracking server every worker "
        f"can reach, and the tracking store is {store}, on this machine only: set "
        f"MLFLOW_TRACKING_URI to the team server's URL (docs/team.md)"
    ]
    (search,) = [
        r for r in MlflowClient().search_runs([experiment("titanic-test").experiment_id], "")
    ]
    assert search.info.status == "FAILED" and "tracking server" in search.data.tags["titanic.error"]
