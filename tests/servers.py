"""The servers the team and cluster tests start: databases of their own on the machine's
PostgreSQL, the team server with the team's accounts, certificates, network namespaces."""

from __future__ import annotations

import datetime
import ipaddress
import os
import shutil
import signal
import ssl
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mlflow
import psycopg
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from orchestration.team import users as users_tool
from tests.pages import wait_for_http
from tests.support import BIN, free_port, run_env

POSTGRES = os.environ.get("TITANIC_POSTGRES", "postgresql://postgres@127.0.0.1:5432")


def postgres_or_skip() -> None:
    try:
        psycopg.connect(f"{POSTGRES}/postgres", connect_timeout=5).close()
    except psycopg.Error as err:
        if os.environ.get("TITANIC_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL at {POSTGRES} is required here and unreachable: {err}")
        pytest.skip(f"no PostgreSQL at {POSTGRES} ({err}); set TITANIC_POSTGRES to use another")


def drop(database: str) -> None:
    """The database and the users' database the team server made beside it."""
    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as connection:
        for name in (database, f"{database}_auth"):
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


ADMIN_PASSWORD = f"admin-{uuid.uuid4().hex}"  # made here, given to the server by environment
# The team's accounts: name -> (role, password).
TEAM = {
    name: (name, f"{name}-{uuid.uuid4().hex[:12]}") for name in ("reader", "member", "maintainer")
}


@contextmanager
def running_server(
    database: str, folder: Path, host: str, *extra: str, ca: Path | None = None
) -> Iterator[str]:
    """`titanic-team-server` on `database`, listening on `host`; yields its URL, on loopback
    for 0.0.0.0 (https when given --certfile and --keyfile, checked against `ca`)."""
    reach = "127.0.0.1" if host == "0.0.0.0" else host
    port = free_port(reach)
    server = subprocess.Popen(
        [
            f"{BIN}/titanic-team-server",
            "--database-url",
            f"{POSTGRES}/{database}",
            "--artifacts",
            str(folder / "server-artifacts"),
            "--host",
            host,
            "--port",
            str(port),
            "--workers",
            "1",
            *extra,
        ],
        cwd=folder,
        env=run_env(MLFLOW_AUTH_ADMIN_PASSWORD=ADMIN_PASSWORD),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    url = f"{'https' if ca else 'http'}://{reach}:{port}"
    context = ssl.create_default_context(cafile=str(ca)) if ca else None
    try:
        wait_for_http(f"{url}/health", server, context=context)
        yield url
    finally:
        log = stop_server(server)
        assert ADMIN_PASSWORD not in log.decode()  # no secret in the server's log


def stop_server(server: subprocess.Popen[bytes]) -> bytes:
    """Stop the server's process group; returns its log. Uvicorn waits for clients' open
    connections to close (an idle TLS one until its 30 s shutdown timeout): after a few
    seconds, SIGINT, its force quit; SIGKILL only if that fails."""
    for sig, wait in ((signal.SIGTERM, 5), (signal.SIGINT, 30), (signal.SIGKILL, 30)):
        os.killpg(server.pid, sig)
        try:
            return server.communicate(timeout=wait)[1]
        except subprocess.TimeoutExpired:
            continue
    raise AssertionError("the team server outlived SIGKILL")


def use_server(url: str, monkeypatch: pytest.MonkeyPatch, user: str = "admin") -> None:
    """Point this test and the commands it starts at the server, signed in as `user`."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    sign_in(monkeypatch, user)
    mlflow.set_tracking_uri(url)


def sign_in(monkeypatch: pytest.MonkeyPatch, user: str | None) -> None:
    """Credentials as a client machine holds them: in its environment, never in arguments."""
    if user is None:
        monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
        monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
        return
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user)
    monkeypatch.setenv(
        "MLFLOW_TRACKING_PASSWORD", ADMIN_PASSWORD if user == "admin" else TEAM[user][1]
    )


def add_team(monkeypatch: pytest.MonkeyPatch, through_tool: bool = False) -> None:
    """The team's accounts, added by the admin: through `titanic-team-users add` as an admin
    types it, or by the same functions in this process (a tenth of the time)."""
    sign_in(monkeypatch, "admin")
    if not through_tool:
        auth = users_tool.AuthServiceClient(mlflow.get_tracking_uri())  # its quiet import
        for name, (role, password) in TEAM.items():
            users_tool.add(auth, name, password, role, "Default", "titanic")
        return
    for name, (role, password) in TEAM.items():
        done = subprocess.run(
            [f"{BIN}/titanic-team-users", "add", name, role],
            input=password + "\n",
            env=run_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr[-3000:]


def certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A team CA and a server certificate it signed for 127.0.0.1: (ca, cert, key)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "titanic test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    paths[2].chmod(0o600)
    return paths


_NETNS: list[str] = []  # the probe's answer, once per test process: "" where allowed


def netns_or_skip() -> None:
    """Skip where this machine does not let the tests make network namespaces (root, ip)."""
    if not _NETNS:
        name = f"titanic-probe-{uuid.uuid4().hex[:8]}"
        made = subprocess.run(["ip", "netns", "add", name], capture_output=True, text=True)
        if made.returncode == 0:
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
        _NETNS.append("" if made.returncode == 0 else made.stderr.strip() or "ip failed")
    if _NETNS[0]:
        pytest.skip(f"network namespaces not allowed here: {_NETNS[0]}")


POSTGRES_BIN = next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin"))), Path("/nonexistent"))


def as_postgres(*command: str) -> subprocess.CompletedProcess[str]:
    """A PostgreSQL tool run as the `postgres` user (they refuse to run as root)."""
    return subprocess.run(
        ["runuser", "-u", "postgres", "--", str(POSTGRES_BIN / command[0]), *command[1:]],
        capture_output=True,
        text=True,
        timeout=120,
    )


class PrivatePostgres:
    """A PostgreSQL instance of a test's own (see `private_postgres`)."""

    def __init__(self, folder: Path, port: int) -> None:
        self.folder, self.data = folder, folder / "data"
        self.url = f"postgresql://postgres@127.0.0.1:{port}"
        self.options = f"-p {port} -k {folder / 'sockets'} -c listen_addresses=127.0.0.1"

    def pg_ctl(self, *args: str) -> None:
        done = as_postgres("pg_ctl", "-D", str(self.data), "-w", *args)
        assert done.returncode == 0, done.stderr

    def start(self) -> None:
        self.pg_ctl("-o", self.options, "-l", str(self.data / "log"), "start")

    def restart(self, down_seconds: float) -> None:
        """Stopped as `pg_ctl restart -m fast` stops it, and started again after a while."""
        self.pg_ctl("-m", "fast", "stop")
        time.sleep(down_seconds)
        self.start()


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A PostgreSQL instance of the test's own on a free loopback port (trust, no password),
    for the test to restart; stopped after the test. Skipped where this machine lacks
    PostgreSQL's binaries or the `postgres` user."""
    if not (POSTGRES_BIN / "initdb").exists():
        pytest.skip(f"no PostgreSQL binaries in {POSTGRES_BIN.parent}")
    folder = Path(tempfile.mkdtemp(prefix="titanic-postgres-"))  # a folder `postgres` can reach
    (folder / "sockets").mkdir()
    subprocess.run(["chown", "-R", "postgres", str(folder)], check=True)
    made = as_postgres("initdb", "-D", str(folder / "data"), "-A", "trust", "-U", "postgres")
    if made.returncode != 0:
        pytest.skip(f"cannot make a PostgreSQL instance here: {made.stderr.strip()[-300:]}")
    server = PrivatePostgres(folder, free_port())
    server.start()
    try:
        yield server
    finally:
        as_postgres("pg_ctl", "-D", str(server.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)
