"""The team server: `titanic-team-server` on a real PostgreSQL (a database of the test's own),
artifacts proxied through the server; the pipeline, the registry, the leaderboard and a sweep
driven through its URL alone. Skipped only where no PostgreSQL answers, unless
TITANIC_REQUIRE_POSTGRES=1 (set by CI), where that is a failure."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import mlflow
import optuna
import pandas as pd
import psycopg
import pytest
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from tests.pages import block, commands, ran, shell, started, wait_for_http
from tests.servers import (
    ADMIN_PASSWORD,
    POSTGRES,
    add_team,
    certificates,
    drop,
    running_server,
    sign_in,
    use_server,
)
from tests.support import (
    BIN,
    PROJECT,
    QUICK,
    children,
    experiment_id,
    finished,
    free_port,
    matched,
    mlflow_run,
    mlflow_run_command,
    parents,
    reused,
    run_env,
    run_here,
    started_mlflow_run,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres]  # the team server on PostgreSQL


@pytest.fixture
def database() -> Iterator[str]:
    """A name for a database of the test's own, dropped afterwards."""
    name = f"titanic_test_{uuid.uuid4().hex[:12]}"
    try:
        yield name
    finally:
        drop(name)


@pytest.fixture
def team_server(database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The team server on a new database, on loopback, with the team's accounts; the test
    works as the member unless it signs in as someone else."""
    with running_server(database, tmp_path, "127.0.0.1") as url:
        use_server(url, monkeypatch)
        add_team(monkeypatch)
        sign_in(monkeypatch, "member")
        yield url


def test_pipeline_registry_and_leaderboard_through_the_server(
    team_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sign_in(monkeypatch, "maintainer")
    first = mlflow_run(*QUICK, "-P", "promote=true", cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    again = run_here(*QUICK)  # the same, without MLflow's launcher
    assert again.returncode == 0, again.stderr[-3000:]
    computed, repeated = parents()
    assert computed.info.status == repeated.info.status == "FINISHED"
    assert reused(repeated) == {name: run.info.run_id for name, run in children(computed).items()}
    # Artifacts went through the server; the client never saw a path of its own.
    assert computed.info.artifact_uri.startswith("mlflow-artifacts:")
    assert not (tmp_path / "mlruns").exists() and not (tmp_path / "mlflow.db").exists()
    champion = MlflowClient().get_model_version_by_alias("titanic", "champion")
    assert champion.run_id == children(computed)["train"].info.run_id
    board = subprocess.run(
        [f"{BIN}/titanic-leaderboard", "--format", "csv"],
        cwd=PROJECT,
        env=run_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert board.returncode == 0, board.stderr
    assert (
        f"{computed.info.run_id},{computed.data.tags['titanic.model_uri']},1,champion"
        in board.stdout
    )


# --- who may do what ----------------------------------------------------------------------------


def status_without_credentials(url: str, method: str, path: str) -> int:
    request = urllib.request.Request(
        f"{url}{path}",
        method=method,
        data=b"{}" if method == "POST" else None,
        headers={"Content-Type": "application/json"},
    )
    try:
        return urllib.request.urlopen(request, timeout=10).status
    except urllib.error.HTTPError as err:
        return err.code


def team_users(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [f"{BIN}/titanic-team-users", *args],
        input=stdin,
        env=run_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_who_may_do_what_on_the_team_server(
    team_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Anonymous: nothing, read or write.
    assert (
        status_without_credentials(
            team_server, "GET", "/api/2.0/mlflow/experiments/search?max_results=1"
        )
        == 401
    )
    assert status_without_credentials(team_server, "POST", "/api/2.0/mlflow/runs/create") == 401
    sign_in(monkeypatch, None)
    board = subprocess.run(
        [f"{BIN}/titanic-leaderboard"],
        cwd=PROJECT,
        env=run_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert board.returncode == 1
    assert (
        board.stderr.strip()
        .splitlines()[-1]
        .startswith(
            f"titanic: error: the tracking server {team_server} refused a request without "
            f"credentials: set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"
        )
    )

    # A member runs the pipeline, but may not promote: one line, the work kept, nothing
    # registered.
    sign_in(monkeypatch, "member")
    ran = mlflow_run(*QUICK, "-P", "promote=true", cwd=tmp_path)
    assert ran.returncode != 0
    (line,) = [x for x in ran.stderr.splitlines() if x.startswith("titanic: error:")]
    assert line == (
        "titanic: error: member may not promote to the registered model 'titanic': "
        "that takes EDIT on it, which its maintainers have; the run's work is kept, "
        "and an admin can grant it (titanic-team-users grant member "
        "maintainer)"
    )
    (pipeline,) = parents()
    assert pipeline.info.status == "FAILED" and pipeline.data.tags["titanic.error"] in line
    assert {r.info.status for r in children(pipeline).values()} == {"FINISHED"}
    client = MlflowClient()
    assert client.search_model_versions("name='titanic'") == []
    train = children(pipeline)["train"]
    refused = run_here("-e", "promote", "-P", f"run={train.info.run_id}")
    assert refused.returncode != 0 and "member may not promote" in refused.stderr
    assert client.search_model_versions("name='titanic'") == []

    # The maintainer promotes it; the model's steps are reused, nothing recomputed.
    sign_in(monkeypatch, "maintainer")
    promoted = run_here(*QUICK, "-P", "promote=true")
    assert promoted.returncode == 0, promoted.stderr[-3000:]
    assert "Use it: models:/titanic@champion" in promoted.stdout
    assert all(reused(parents()[-1]).values())

    # A reader reads everything, and changes nothing.
    sign_in(monkeypatch, "reader")
    assert len(client.search_runs([pipeline.info.experiment_id])) == 9
    board = subprocess.run(
        [f"{BIN}/titanic-leaderboard", "--format", "csv"],
        cwd=PROJECT,
        env=run_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert board.returncode == 0 and ",1,champion" in board.stdout, board.stderr
    model = mlflow.pyfunc.load_model("models:/titanic@champion")
    assert len(model.predict(pd.read_csv(PROJECT / "data" / "titanic" / "test.csv"))) == 418
    started = mlflow_run(*QUICK, cwd=tmp_path)
    assert started.returncode != 0
    assert "runs/create failed with error code 403" in started.stderr  # MLflow's own refusal
    assert len(parents()) == 3  # the member's main and promote, the maintainer's main
    for forbidden in (
        lambda: client.create_model_version(
            "titanic", source=train.data.tags["titanic.output.model_uri"], run_id=train.info.run_id
        ),
        lambda: client.set_registered_model_alias("titanic", "champion", "1"),
    ):
        with pytest.raises(MlflowException) as refusal:
            forbidden()
        assert refusal.value.error_code == "PERMISSION_DENIED"

    # Only the admin grants; then the member may promote too.
    sign_in(monkeypatch, "member")
    denied = team_users("grant", "member", "maintainer")
    assert denied.returncode == 1 and "does not let member do this" in denied.stderr
    sign_in(monkeypatch, "admin")
    granted = team_users("grant", "member", "maintainer")
    assert granted.returncode == 0, granted.stderr
    assert "EDIT" in team_users("show", "member").stdout.split("registered_model titanic:")[1]
    sign_in(monkeypatch, "member")
    again = run_here("-e", "promote", "-P", "run=best")
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(client.search_model_versions("name='titanic'")) == 1


def test_the_team_server_refuses_to_start_as_asked_in_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in run_env().items() if k != "MLFLOW_AUTH_ADMIN_PASSWORD"}
    for extra, password, says in [
        ([], None, "no password for the first admin: export MLFLOW_AUTH_ADMIN_PASSWORD"),
        (
            ["--database-url", "postgresql://mlflow:secret@127.0.0.1/x"],
            None,
            "--database-url carries a password, which would show on the server's command line",
        ),
        (
            [],
            "eleven-char",
            "the first admin's password has 11 characters: a password needs "
            "at least 12 (MLflow's rule)",
        ),
        (
            ["--host", "no-such-host.invalid"],
            ADMIN_PASSWORD,
            "--host no-such-host.invalid does not resolve here (",
        ),
    ]:
        done = subprocess.run(
            [f"{BIN}/titanic-team-server", *extra],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            env={**env, "MLFLOW_AUTH_ADMIN_PASSWORD": password or ""},
        )
        assert done.returncode == 1
        assert done.stderr.strip().startswith(f"titanic: error: {says}")


def test_the_team_page_as_written(database: str, tmp_path: Path) -> None:
    """docs/team.md from start to restore: the server over HTTPS, its users, a client's
    commands, a backup, and a restore that a server starts on again. Filled in: the test's
    database, folders, certificates, ports and passwords (through the environment)."""
    ca, cert, key = certificates(tmp_path)
    admin_file = tmp_path / "admin-password"
    admin_file.write_text(ADMIN_PASSWORD)
    admin_file.chmod(0o600)
    pg = urlsplit(POSTGRES)
    pg_env = {
        "PGHOST": pg.hostname or "",
        "PGPORT": str(pg.port or 5432),
        "PGUSER": pg.username or "",
    }
    base = {
        **{
            k: v
            for k, v in run_env().items()
            if not k.startswith("MLFLOW_TRACKING_") and k != "MLFLOW_EXPERIMENT_NAME"
        },
        **pg_env,
    }
    passwords = {name: f"{name}-{uuid.uuid4().hex}" for name in ("alice", "bob", "carol")}
    new_alice = f"alice-new-{uuid.uuid4().hex}"
    restored = f"{database}_restored"

    @contextmanager
    def server(name: str, srv: Path) -> Iterator[str]:
        port = str(free_port())
        script = block(
            "team-server",
            {
                "/etc/mlflow/admin-password": str(admin_file),
                "mlflow@127.0.0.1:5432": f"{pg.username}@{pg.hostname}:{pg.port or 5432}",
                "titanic_mlflow": name,
                "/srv": str(srv),
                "0.0.0.0": "127.0.0.1",
                "--port 5000": f"--port {port}",
                "/etc/mlflow/server.pem": str(cert),
                "/etc/mlflow/server.key": str(key),
            },
        )
        with started(script, PROJECT, env=base) as proc:
            url = f"https://127.0.0.1:{port}"
            wait_for_http(f"{url}/health", proc, context=ssl.create_default_context(cafile=str(ca)))
            yield url
        log = proc.stderr.read() if proc.stderr else ""
        assert ADMIN_PASSWORD not in log and new_alice not in log

    try:
        with server(database, tmp_path / "srv") as url:
            admin = {
                **base,
                "MLFLOW_TRACKING_URI": url,
                "MLFLOW_TRACKING_USERNAME": "admin",
                "MLFLOW_TRACKING_PASSWORD": ADMIN_PASSWORD,
                "MLFLOW_TRACKING_SERVER_CERT_PATH": str(ca),
            }
            shown = ""
            for command in commands(block("team-users")):
                _, verb, user, *_ = command.split()
                typed = {"add": passwords.get(user), "password": new_alice}.get(verb)
                shown = ran(command, PROJECT, env=admin, stdin=f"{typed}\n" if typed else None)
            assert "registered_model titanic: EDIT" in shown  # `show alice`, a maintainer

            # A client machine: the page's exports, then its commands.
            fills = {
                "https://<server>:5000": url,
                "=…": '="$ALICE_PASSWORD"',
                "/etc/ssl/team-ca.pem": str(ca),
                "--port 5001": f"--port {free_port()}",
                "<user>@<db-host>/optuna": (
                    f"{pg.username}@{pg.hostname}:{pg.port or 5432}/{database}_optuna"
                ),
            }
            client = commands(block("team-client", fills))
            exports = "\n".join(c for c in client if c.startswith("export "))
            *work, serve = [c for c in client if not c.startswith("export ")]
            with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as connection:
                connection.execute(f'CREATE DATABASE "{database}_optuna"')
            alice = {**base, "ALICE_PASSWORD": new_alice}
            out = ran("\n".join([exports, *work]), PROJECT, env=alice)
            assert "Use it: models:/titanic@champion" in out  # alice, a maintainer, promoted
            assert out.count("configurations under run") == 2  # the sweep's and tune's reports
            assert "cv_accuracy" in out.split("configurations under run")[-1]  # the leaderboard
            port = matched(r"--port (\d+)", serve)[1]
            with started(f"{exports}\n{serve}", PROJECT, env=alice) as proc:
                wait_for_http(f"http://127.0.0.1:{port}/health", proc)
            study = optuna.load_study(study_name="team", storage=f"{POSTGRES}/{database}_optuna")
            assert len(study.trials) == 4

            # A client without the team's CA is told what to set, in one line.
            untrusted = shell(
                exports.replace("export MLFLOW_TRACKING_SERVER_CERT_PATH", "export UNUSED")
                + "\ntitanic-leaderboard",
                PROJECT,
                env={**alice, "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0"},
            )
            assert untrusted.returncode == 1
            assert untrusted.stderr.strip().splitlines()[-1] == (
                f"titanic: error: the certificate of the tracking server {url} is not signed "
                f"by a CA this machine trusts: set MLFLOW_TRACKING_SERVER_CERT_PATH to the "
                f"team's CA file"
            )

            ran(
                block("backup", {"titanic_mlflow": database, "/srv": str(tmp_path / "srv")}),
                tmp_path,
                env=base,
            )

        # Another machine restores the backup under new names and serves it again.
        for suffix in ("", "_auth"):
            (tmp_path / f"{database}{suffix}.dump").rename(tmp_path / f"{restored}{suffix}.dump")
        (tmp_path / "elsewhere").mkdir()
        ran(
            block("restore", {"titanic_mlflow": restored, "/srv": str(tmp_path / "elsewhere")}),
            tmp_path,
            env=base,
        )
        with server(restored, tmp_path / "elsewhere") as url:
            env = {
                **base,
                "MLFLOW_TRACKING_URI": url,
                "MLFLOW_TRACKING_USERNAME": "alice",
                "MLFLOW_TRACKING_PASSWORD": new_alice,
                "MLFLOW_TRACKING_SERVER_CERT_PATH": str(ca),
            }
            loaded = ran(
                "python -c 'import mlflow, pandas as pd; print(len(mlflow.pyfunc."
                'load_model("models:/titanic@champion").predict(pd.read_csv('
                '"data/titanic/test.csv"))))\'',
                PROJECT,
                env=env,
            )
            assert loaded.strip() == "418"  # the users, the registry and the artifacts
    finally:
        for name in (f"{database}_optuna", restored):
            drop(name)


# --- several machines, one cache ------------------------------------------------------------------


def machine(tmp_path: Path, name: str, *args: str) -> subprocess.Popen[str]:
    """`mlflow run` as another machine would: its own folder and temporary files (so no lock
    file is shared), nothing in common but the server."""
    folder = tmp_path / name
    (folder / "tmp").mkdir(parents=True)
    return started_mlflow_run(
        mlflow_run_command(*args),
        cwd=folder,
        env=run_env(TMPDIR=str(folder / "tmp")),
        start_new_session=True,
    )


def computed_steps(runs: list[mlflow.entities.Run]) -> dict[str, int]:
    """How many times each step was computed (not reused) among these pipeline runs."""
    return {
        step: sum(reused(run)[step] is None for run in runs)
        for step in ("prepare", "train", "evaluate")
    }


def test_two_machines_racing_compute_each_step_once(team_server: str, tmp_path: Path) -> None:
    racing = [machine(tmp_path, f"machine-{i}", *QUICK) for i in range(2)]
    for proc in racing:
        _, err = finished(proc, timeout=600)
        assert proc.returncode == 0, err[-3000:]
    runs = parents()
    assert len(runs) == 2 and all(run.info.status == "FINISHED" for run in runs)
    assert computed_steps(runs) == {"prepare": 1, "train": 1, "evaluate": 1}


def wait_for(predicate: Callable[[], mlflow.entities.Run | None], what: str) -> mlflow.entities.Run:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        found = predicate()
        if found is not None:
            return found
        time.sleep(0.2)
    raise AssertionError(f"{what} not seen within 180 s")


def test_a_dead_claimant_is_failed_and_another_machine_takes_over(
    team_server: str, tmp_path: Path
) -> None:
    client = MlflowClient()

    def trains() -> list[mlflow.entities.Run]:
        return client.search_runs([experiment_id()], "attributes.run_name = 'train'")

    slow = ("-P", "model=hgb", "-P", "cv_repeats=10")  # a train step that lasts a while
    first = machine(tmp_path, "first", *slow)
    claimant = wait_for(
        lambda: next(
            (r for r in trains() if r.info.status == "RUNNING" and "titanic.pid" in r.data.tags),
            None,
        ),
        "the first machine's train",
    )
    second = machine(tmp_path, "second", *slow)
    wait_for(
        lambda: next(
            (
                r
                for r in trains()
                if r.info.run_id != claimant.info.run_id and "titanic.cache_key" in r.data.tags
            ),
            None,
        ),
        "the second machine's claim on train",
    )
    os.kill(int(claimant.data.tags["titanic.pid"]), signal.SIGKILL)  # mid-step
    finished(first, timeout=120)
    _, err = finished(second, timeout=600)
    assert second.returncode == 0, err[-3000:]

    dead = client.get_run(claimant.info.run_id)
    assert dead.info.status == "FAILED" and "is gone" in dead.data.tags["titanic.error"]
    done = [r for r in parents() if r.info.status == "FINISHED"]
    assert len(done) == 1 and reused(done[0])["train"] is None  # it took over
    assert "RUNNING" not in {
        r.info.status for r in client.search_runs([dead.info.experiment_id], "")
    }


@contextmanager
def namespaces(count: int) -> Iterator[list[tuple[str, str]]]:
    """`count` network namespaces, each linked to this one by a veth pair: (namespace, the
    address of this side of its link)."""
    made: list[tuple[str, str]] = []
    tag = uuid.uuid4().hex[:6]
    subnet = 1 + int(tag, 16) % 60  # links of their own, whatever else runs here
    try:
        for i in range(count):
            name, veth = f"titanic-{tag}-{i}", f"tt{tag}{i}"
            here, there = f"10.231.{subnet * 4 + i}.1", f"10.231.{subnet * 4 + i}.2"
            commands = [
                ["ip", "netns", "add", name],
                ["ip", "link", "add", f"{veth}a", "type", "veth", "peer", "name", f"{veth}b"],
                ["ip", "link", "set", f"{veth}b", "netns", name],
                ["ip", "addr", "add", f"{here}/30", "dev", f"{veth}a"],
                ["ip", "link", "set", f"{veth}a", "up"],
                [
                    "ip",
                    "netns",
                    "exec",
                    name,
                    "ip",
                    "addr",
                    "add",
                    f"{there}/30",
                    "dev",
                    f"{veth}b",
                ],
                ["ip", "netns", "exec", name, "ip", "link", "set", f"{veth}b", "up"],
                ["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"],
            ]
            for command in commands:
                done = subprocess.run(command, capture_output=True, text=True)
                if done.returncode != 0:
                    raise AssertionError(f"{' '.join(command)}: {done.stderr}")
                if command[:3] == ["ip", "netns", "add"]:
                    made.append((name, here))
        yield made
    finally:
        for name, _ in made:
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


@pytest.mark.netns
def test_machines_in_separate_network_namespaces_share_one_cache(
    database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two "machines" in network namespaces of their own, which reach the server only over
    their virtual link (not the server's loopback, nor PostgreSQL): each step computed once."""
    with namespaces(2) as nets, running_server(database, tmp_path, "0.0.0.0") as url:
        use_server(url, monkeypatch)
        add_team(monkeypatch)
        sign_in(monkeypatch, "member")
        port = urlsplit(url).port
        racing = []
        for i, (name, address) in enumerate(nets):
            folder = tmp_path / f"machine-{i}"
            (folder / "tmp").mkdir(parents=True)
            env = run_env(
                TMPDIR=str(folder / "tmp"), MLFLOW_TRACKING_URI=f"http://{address}:{port}"
            )
            racing.append(
                started_mlflow_run(
                    ["ip", "netns", "exec", name, *mlflow_run_command(*QUICK)],
                    cwd=folder,
                    env=env,
                    start_new_session=True,
                )
            )
        try:
            for proc in racing:
                _, err = finished(proc, timeout=600)
                assert proc.returncode == 0, err[-3000:]
        finally:  # a machine left running would keep its namespace (and link) alive
            for proc in racing:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
        runs = parents()
        assert len(runs) == 2 and all(run.info.status == "FINISHED" for run in runs)
        assert computed_steps(runs) == {"prepare": 1, "train": 1, "evaluate": 1}
        # Inside a namespace, this machine's loopback services are out of reach.
        probe = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                nets[0][0],
                sys.executable,
                "-c",
                f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}/health',"
                f" timeout=3)",
            ],
            capture_output=True,
            text=True,
        )
        assert probe.returncode != 0
