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
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import mlflow
import optuna
import pytest
from distributed import Client
from mlflow.entities import Run
from mlflow.tracking import MlflowClient

from conftest import (PROJECT, QUICK, error_lines, free_port, mlflow_run, parents, run_env,
                      run_here)
from test_team import TEAM, add_team, certificates, drop, postgres_or_skip, running_server
from titanic.errors import InputError

# Every test here shares one cluster and one server: they run on one xdist worker.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("cluster")]
MEMBER = {"MLFLOW_TRACKING_USERNAME": "member", "MLFLOW_TRACKING_PASSWORD": TEAM["member"][1]}


def run(command: list[str], **kwargs: object) -> None:
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{' '.join(command)}: {done.stderr}"


@contextmanager
def bridged_namespaces(count: int) -> Iterator[tuple[str, list[str]]]:
    """`count` network namespaces on one bridge of their own: (this side's address on the
    bridge, the namespaces). Skips where the platform does not allow namespaces."""
    tag = uuid.uuid4().hex[:6]
    net = f"10.232.{1 + int(tag, 16) % 250}"
    bridge, made = f"tb{tag}", []
    probe = subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], capture_output=True,
                           text=True)
    if probe.returncode != 0:
        pytest.skip(f"virtual network devices not allowed here: {probe.stderr}")
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
            for command in (["ip", "addr", "add", f"{net}.{i + 2}/24", "dev", f"{veth}b"],
                            ["ip", "link", "set", f"{veth}b", "up"],
                            ["ip", "link", "set", "lo", "up"]):
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


@contextmanager
def scheduler(host: str, *tls: str, started: list[subprocess.Popen[str]] | None = None
              ) -> Iterator[str]:
    """`dask scheduler` as docs/cluster.md starts it: Dask's own command, in a folder with
    none of the project's code, which it cannot import; yields its address (and appends its
    process to `started`)."""
    port = free_port(host)
    elsewhere = tempfile.mkdtemp(prefix="titanic-scheduler-")
    env = {k: v for k, v in run_env().items() if k != "PYTHONPATH"}
    proc = subprocess.Popen(
        ["dask", "scheduler", "--host", host, "--port", str(port), "--no-dashboard", *tls],
        cwd=elsewhere, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection((host, port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read()[-3000:]
                assert time.monotonic() < deadline, "the scheduler did not start in 60 s"
                time.sleep(0.3)
        if started is not None:
            started.append(proc)
        yield f"{'tls' if tls else 'tcp'}://{host}:{port}"
    finally:
        stop(proc)
        shutil.rmtree(elsewhere, ignore_errors=True)


@contextmanager
def worker(address: str, folder: Path, namespace: str | None = None, project: Path = PROJECT,
           *tls: str) -> Iterator[subprocess.Popen[str]]:
    """A plain `dask worker` with one thread, started in a checkout of the project with
    PYTHONPATH=. and a team member's credentials in its environment, as the docs say."""
    (folder / "tmp").mkdir(parents=True, exist_ok=True)
    command = ["dask", "worker", address, "--nthreads", "1", "--no-dashboard", *tls]
    if namespace:
        command = ["ip", "netns", "exec", namespace, *command]
    proc = subprocess.Popen(command, cwd=project,
                            env=run_env(PYTHONPATH=".", TMPDIR=str(folder / "tmp"), **MEMBER),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True,
                            start_new_session=True)
    try:
        yield proc
    finally:
        stop(proc)


def wait_for_workers(address: str, count: int, **security: object) -> None:
    with Client(address, timeout=30, set_as_default=False, **security) as client:
        client.wait_for_workers(count, timeout=120)


class Cluster:
    def __init__(self, url: str, address: str, namespaces: list[str], folder: Path) -> None:
        self.url, self.address, self.namespaces, self.folder = url, address, namespaces, folder


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """The team server and a scheduler on a bridge, and two workers in namespaces of their
    own; the tests work as the team's member."""
    postgres_or_skip()
    folder = tmp_path_factory.mktemp("cluster")
    database = f"titanic_test_{uuid.uuid4().hex[:12]}"
    with ExitStack() as stack, pytest.MonkeyPatch.context() as env:
        stack.callback(drop, database)
        here, namespaces = stack.enter_context(bridged_namespaces(2))
        url = stack.enter_context(running_server(database, folder, here))
        env.setenv("MLFLOW_TRACKING_URI", url)
        env.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
        mlflow.set_tracking_uri(url)
        add_team(env)
        for name, value in MEMBER.items():
            env.setenv(name, value)
        address = stack.enter_context(scheduler(here))
        for i, namespace in enumerate(namespaces):
            stack.enter_context(worker(address, folder / f"worker-{i}", namespace))
        wait_for_workers(address, 2)
        yield Cluster(url, address, namespaces, folder)


def configurations(search: Run) -> list[Run]:
    return MlflowClient().search_runs(
        [search.info.experiment_id], f"tags.`mlflow.parentRunId` = '{search.info.run_id}'")


def descendants(search: Run) -> list[Run]:
    found, pending = [], [search.info.run_id]
    while pending:
        for r in MlflowClient().search_runs(
                [search.info.experiment_id], f"tags.`mlflow.parentRunId` = '{pending.pop()}'"):
            found.append(r)
            pending.append(r.info.run_id)
    return found


def search_run(result: subprocess.CompletedProcess[str]) -> Run:
    """The search run `mlflow run` made, from its own log line."""
    run_id = re.search(r"Run \(ID '([0-9a-f]{32})'\)", result.stderr).group(1)
    return MlflowClient().get_run(run_id)


def pids_of(namespace: str) -> set[str]:
    listed = subprocess.run(["ip", "netns", "pids", namespace], capture_output=True, text=True)
    return set(listed.stdout.split())


def sweep(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    return mlflow_run("-e", "sweep", "-P", f"cluster={cluster.address}", *args,
                      cwd=cluster.folder)


def test_a_sweep_spreads_over_every_worker(cluster: Cluster) -> None:
    result = sweep(cluster, "-P", "C=0.01,0.1,1,10", *QUICK)
    assert result.returncode == 0, result.stderr[-3000:]
    # Plain tcp beyond loopback: said once, before the work.
    assert (f"titanic: warning: {cluster.address} is plain tcp: anyone who reaches the "
            f"scheduler can run code on its workers") in result.stderr
    search = search_run(result)
    runs = descendants(search)
    configs = configurations(search)
    assert search.info.status == "FINISHED"
    assert len(configs) == 4 and {r.info.status for r in runs} == {"FINISHED"}
    steps = [r for r in runs if r.info.run_name in ("prepare", "train", "evaluate")]
    computed = [r for r in steps if "titanic.reused_from" not in r.data.tags]
    # Each step's work once: one prepare shared by all, one train and evaluate per C.
    assert sorted(r.info.run_name for r in computed).count("prepare") == 1
    assert len({r.data.tags["titanic.cache_key"] for r in computed}) == len(computed) == 9
    # Both machines took part, each from its own namespace.
    ran_in = {r.data.tags["titanic.pid"] for r in configs}
    for namespace in cluster.namespaces:
        assert ran_in & pids_of(namespace), (namespace, ran_in)


def test_a_worker_killed_mid_sweep_costs_nothing(cluster: Cluster) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "run", str(PROJECT), "--env-manager", "local", "-e",
         "sweep", "-P", f"cluster={cluster.address}", "-P", "C=0.02,0.2,2,20",
         "-P", "force=all"], cwd=cluster.folder, env=run_env(), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True)
    client = MlflowClient()
    try:
        deadline = time.monotonic() + 180
        victim = None
        while victim is None and time.monotonic() < deadline and proc.poll() is None:
            victim = next((r for r in client.search_runs(
                ["0"], "attributes.status = 'RUNNING' and attributes.run_name = 'train'")
                if "titanic.pid" in r.data.tags), None)
            time.sleep(0.2)
        assert victim is not None, "no train step was seen running"
        os.kill(int(victim.data.tags["titanic.pid"]), signal.SIGKILL)  # its nanny starts anew
        out, err = proc.communicate(timeout=600)
    finally:
        stop(proc)
    assert proc.returncode == 0, err[-3000:]
    search = search_run(subprocess.CompletedProcess([], 0, out, err))
    configs = configurations(search)
    finished = [r for r in configs if r.info.status == "FINISHED"]
    assert len(finished) == 4 and len({r.info.run_name for r in finished}) == 4
    dead = client.get_run(victim.info.run_id)
    assert dead.info.status == "FAILED" and "worker process died" in dead.data.tags["titanic.error"]
    assert "RUNNING" not in {r.info.status for r in descendants(search)}
    assert search.info.status == "FINISHED"


def test_ctrl_c_ends_a_cluster_sweep_killed_and_the_workers_carry_on(cluster: Cluster) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "run", str(PROJECT), "--env-manager", "local", "-e",
         "sweep", "-P", f"cluster={cluster.address}", "-P", "C=0.04,0.4,4,40", "-P",
         "force=all"], cwd=cluster.folder, env=run_env(), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True)
    client = MlflowClient()
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None and not client.search_runs(
                ["0"], "attributes.status = 'RUNNING' and attributes.run_name = 'train'"):
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the whole foreground group
        out, err = proc.communicate(timeout=180)
    finally:
        stop(proc)
    assert proc.returncode != 0
    search = search_run(subprocess.CompletedProcess([], proc.returncode, out, err))
    deadline = time.monotonic() + 60  # the helper that keeps KILLED after `mlflow run` exits
    while time.monotonic() < deadline and (
            client.get_run(search.info.run_id).info.status != "KILLED"
            or "RUNNING" in {r.info.status for r in descendants(search)}):
        time.sleep(0.5)
    assert client.get_run(search.info.run_id).info.status == "KILLED"
    statuses = {r.info.status for r in descendants(search)}
    assert "RUNNING" not in statuses and "KILLED" in statuses, statuses
    # The workers stay up for the next search.
    with Client(cluster.address, timeout=30, set_as_default=False) as dask:
        assert len(dask.scheduler_info(n_workers=-1)["workers"]) == 2


def test_tune_asks_and_tells_on_the_cluster(cluster: Cluster) -> None:
    storage = f"sqlite:///{cluster.folder / 'optuna.db'}"  # the study stays with the client
    result = mlflow_run("-e", "tune", "-P", "trials=4", "-P", f"cluster={cluster.address}",
                        "-P", f"storage={storage}", "-P", "study=on-the-cluster", *QUICK,
                        cwd=cluster.folder)
    assert result.returncode == 0, result.stderr[-3000:]
    search = search_run(result)
    trials = configurations(search)
    assert len(trials) == 4 and {r.info.status for r in trials} == {"FINISHED"}
    study = optuna.load_study(study_name="on-the-cluster", storage=storage)
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 4
    assert {t.user_attrs["mlflow_run_id"] for t in study.trials} == \
        {r.info.run_id for r in trials}


def test_a_worker_with_other_code_is_refused(cluster: Cluster, tmp_path: Path) -> None:
    edited = tmp_path / "edited"
    shutil.copytree(PROJECT, edited, ignore=shutil.ignore_patterns(
        ".git", ".venv", "mlflow.db", "__pycache__", ".pytest_cache"))
    features = edited / "titanic" / "features.py"
    features.write_text(features.read_text() + "\n# edited on this machine only\n")
    with scheduler("127.0.0.1") as address, \
            worker(address, tmp_path / "worker", project=edited):
        wait_for_workers(address, 1)
        result = run_here("-e", "sweep", "-P", f"cluster={address}", "-P", "C=0.1,1", *QUICK)
    assert result.returncode == 2
    (line,) = error_lines(result)
    assert re.fullmatch(
        rf"titanic: error: the Dask worker on .+ \({re.escape(str(edited))}\) runs other project "
        rf"code \(digest [0-9a-f]{{12}}\) than this checkout \([0-9a-f]{{12}} in "
        rf"{re.escape(str(PROJECT))}\): check out the same commit and packages there and "
        rf"restart the worker", line), line
    search = parents()[-1]  # the newest search: the tests here run one after another
    assert search.info.status == "FAILED" and not configurations(search)


def test_an_unreachable_scheduler_fails_the_search_in_one_line(
        cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> None:
    """Checked with the 15 s the client keeps trying made 1 s."""
    from orchestration import cluster as dask_cluster
    monkeypatch.setattr(dask_cluster, "CONNECT_SECONDS", 1.0)
    address = f"tcp://127.0.0.1:{free_port()}"  # nobody listens there
    gone = run_here("-e", "sweep", "-P", f"cluster={address}", *QUICK)
    assert gone.returncode == 2
    (line,) = error_lines(gone)
    assert line.startswith(f"titanic: error: cannot reach the Dask scheduler at {address} (")
    assert parents()[-1].info.status == "FAILED"


def test_a_scheduler_with_no_worker_is_one_line(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The line a search ends with when no worker joins, checked on the executor with its
    30 s wait made 1 s; a refused search ends like the unreachable one above."""
    from orchestration import cluster as dask_cluster
    monkeypatch.setattr(dask_cluster, "WORKER_WAIT_SECONDS", 1.0)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # never reached here
    with scheduler("127.0.0.1") as address:
        with pytest.raises(InputError) as refusal:
            dask_cluster.DaskCluster(address, None)
    assert str(refusal.value) == (
        f"no worker joined the Dask scheduler at {address} within 1 s: start one in a checkout "
        f"of the project with `PYTHONPATH=. dask worker {address} --nthreads 1` "
        f"(docs/cluster.md)")


def test_the_scheduler_killed_mid_sweep(cluster: Cluster, tmp_path: Path) -> None:
    grid = ("-P", "C=0.05,0.5,5", *QUICK)
    started: list[subprocess.Popen[str]] = []
    with scheduler("127.0.0.1", started=started) as address, \
            worker(address, tmp_path / "worker") as lone:
        wait_for_workers(address, 1)
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "run", str(PROJECT), "--env-manager", "local",
             "-e", "sweep", "-P", f"cluster={address}", *grid], cwd=tmp_path, env=run_env(),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            client, deadline = MlflowClient(), time.monotonic() + 180
            while time.monotonic() < deadline and proc.poll() is None and not [
                    r for r in client.search_runs(["0"], "attributes.status = 'FINISHED' and "
                                                         "attributes.run_name = 'C=0.05'")]:
                time.sleep(0.2)
            os.kill(started[0].pid, signal.SIGKILL)
            out, err = proc.communicate(timeout=300)
            # The worker closes without its scheduler, once what it runs has ended.
            lone.wait(timeout=300)
        finally:
            stop(proc)
    assert proc.returncode == 1, err[-3000:]
    result = subprocess.CompletedProcess([], 1, out, err)
    assert error_lines(result) == [
        f"titanic: error: lost the Dask scheduler at {address} mid-search: the same command "
        f"again computes only what is missing"]
    search = search_run(result)
    assert search.info.status == "FAILED"
    assert {r.info.status for r in descendants(search)} == {"FINISHED"}

    with scheduler("127.0.0.1") as address, worker(address, tmp_path / "worker-2"):
        wait_for_workers(address, 1)
        again = mlflow_run("-e", "sweep", "-P", f"cluster={address}", *grid, cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    reused = {r.info.run_name: r.data.tags.get("titanic.reused_steps", "")
              for r in configurations(search_run(again))}
    assert reused["C=0.05"] == "prepare,train,evaluate", reused


def test_a_result_the_scheduler_died_holding_ends_the_wait(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The scheduler dies after a task ended and before the client fetched its result: Dask's
    executor future for it never ends, and a search waiting on it must not wait forever."""
    from orchestration.cluster import DaskCluster
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # never reached here
    started: list[subprocess.Popen[str]] = []
    with scheduler("127.0.0.1", started=started) as address, \
            worker(address, tmp_path / "worker"):
        wait_for_workers(address, 1)
        with DaskCluster(address, None) as pool:
            future = pool.submit(operator.mul, b"x", 10**8)  # 100 MB to fetch: time to die
            while not any(state.status == "finished" for state in pool._client.futures.values()):
                time.sleep(0.001)
            os.kill(started[0].pid, signal.SIGKILL)
            raised: list[BaseException] = []
            waiting = threading.Thread(target=lambda: raised.extend(_raised(pool.wait, {future})),
                                       daemon=True)
            waiting.start()
            waiting.join(timeout=60)
            assert not waiting.is_alive(), "the wait did not end in 60 s"
    assert not future.done()  # what Dask does: the wait ended on the lost scheduler
    assert [str(err) for err in raised] == [
        f"lost the Dask scheduler at {address} mid-search: the same command again computes "
        f"only what is missing"]


def _raised(fn: Callable[..., object], *args: object) -> list[BaseException]:
    try:
        fn(*args)
    except Exception as err:
        return [err]
    return []


def test_tls_between_client_scheduler_and_workers(cluster: Cluster, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    ca, cert, key = certificates(tmp_path)
    tls = ("--tls-ca-file", str(ca), "--tls-cert", str(cert), "--tls-key", str(key))
    with scheduler("127.0.0.1", *tls) as address, \
            worker(address, tmp_path / "worker", None, PROJECT, *tls):
        assert address.startswith("tls://")
        refused = run_here("-e", "sweep", "-P", f"cluster={address}", *QUICK)
        assert refused.returncode == 2
        assert error_lines(refused) == [
            f"titanic: error: cluster={address} needs the cluster's CA and this machine's "
            f"certificate: set DASK_DISTRIBUTED__COMM__TLS__CA_FILE, "
            f"DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT, "
            f"DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY (docs/cluster.md)"]
        monkeypatch.setenv("DASK_DISTRIBUTED__COMM__TLS__CA_FILE", str(ca))
        monkeypatch.setenv("DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT", str(cert))
        monkeypatch.setenv("DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY", str(key))
        result = mlflow_run("-e", "sweep", "-P", f"cluster={address}", "-P", "C=0.1,1",
                            *QUICK, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "plain tcp" not in result.stderr
    configs = configurations(search_run(result))
    assert len(configs) == 2 and {r.info.status for r in configs} == {"FINISHED"}


def test_a_cluster_with_a_local_store_is_refused(store: str, tmp_path: Path) -> None:
    """The cluster refusal taken through `mlflow run` (the others run in-process)."""
    result = mlflow_run("-e", "sweep", "-P", "cluster=tcp://127.0.0.1:8786", *QUICK,
                        cwd=tmp_path)
    assert result.returncode == 1
    assert error_lines(result) == [
        f"titanic: error: cluster=tcp://127.0.0.1:8786 needs a tracking server every worker "
        f"can reach, and the tracking store is {store}, on this machine only: set "
        f"MLFLOW_TRACKING_URI to the team server's URL (docs/team.md)"]
    (search,) = [r for r in MlflowClient().search_runs(
        [MlflowClient().get_experiment_by_name("titanic-test").experiment_id], "")]
    assert search.info.status == "FAILED" and "tracking server" in search.data.tags[
        "titanic.error"]
