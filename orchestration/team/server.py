"""Start a team's MLflow tracking server that lets in only the team: runs and the model
registry in PostgreSQL, users and their permissions in a PostgreSQL database of their own
(MLflow's basic-auth app), artifacts stored by the server and proxied through it, HTTPS when
given a certificate.

    export MLFLOW_AUTH_ADMIN_PASSWORD=...                           # the first admin's password
    titanic-team-server                                     # 127.0.0.1:5000
    titanic-team-server --database-url postgresql://mlflow@db.internal:5432/mlflow \\
        --artifacts /srv/mlflow-artifacts --host 0.0.0.0 --port 5000 \\
        --certfile /etc/mlflow/server.pem --keyfile /etc/mlflow/server.key

Creates both databases if they do not exist yet (the role must be allowed to), then runs
`mlflow server --app-name basic-auth` in this process's place, so that stopping this command
stops the server. No secret goes on a command line: database passwords come from PGPASSWORD
or ~/.pgpass, the admin's from MLFLOW_AUTH_ADMIN_PASSWORD or --admin-password-file.
"""

from __future__ import annotations

import argparse
import configparser
import os
import secrets
import socket
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psutil
import psycopg
from psycopg import sql

from orchestration.team.hosts import addresses, is_loopback

DEFAULT_DATABASE = "postgresql://postgres@127.0.0.1:5432/titanic_mlflow"
ADMIN = "admin"
PASSWORD_VARIABLE = "MLFLOW_AUTH_ADMIN_PASSWORD"
MIN_PASSWORD = 12  # MLflow's auth app refuses shorter passwords
SECRET_KEY_VARIABLE = "MLFLOW_FLASK_SERVER_SECRET_KEY"
# Seconds a worker trusts a checked password: PBKDF2 per request would halve the throughput.
CREDENTIAL_CACHE_SECONDS = 60
# MLflow's server job runner (GenAI judges, trace roll-ups) starts eight more processes that
# each import MLflow; training runs never use it. Off unless the environment turns it on.
JOBS_VARIABLE = "MLFLOW_SERVER_ENABLE_JOB_EXECUTION"


class SetupError(Exception):
    """The server cannot start as asked: one line that says how to fix it."""


def ensure_database(url: str) -> None:
    """Create the database the URL names if it is missing, connecting to `postgres` to do so."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name:
        raise SetupError(f"{url} names no database: end it with /<database>")
    admin = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as connection:
            exists = connection.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
            ).fetchone()
            if not exists:
                connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.Error as err:
        reason = next((line for line in str(err).splitlines() if line.strip()), "")
        raise SetupError(
            f"cannot reach or create the database {url} ({reason}): start "
            f"PostgreSQL, or pass --database-url postgresql://<user>@<host>:<port>"
            f"/<database> for a role that may create it"
        ) from None


def without_password(url: str, option: str) -> str:
    if urlsplit(url).password:
        raise SetupError(
            f"{option} carries a password, which would show on the server's "
            f"command line: put it in ~/.pgpass or PGPASSWORD instead"
        )
    return url


def auth_database(url: str) -> str:
    """The users' database: beside the tracking database, named after it."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "_auth"))


def admin_password(password_file: Path | None) -> str:
    if password_file is not None:
        try:
            password = password_file.read_text().strip()
        except OSError as err:
            raise SetupError(
                f"cannot read --admin-password-file {password_file}: {err.strerror}"
            ) from None
    else:
        password = os.environ.get(PASSWORD_VARIABLE, "").strip()
    if not password:
        raise SetupError(
            f"no password for the first admin: export {PASSWORD_VARIABLE} (from "
            f"your secret store, not typed on a command line), or pass "
            f"--admin-password-file FILE readable by you only"
        )
    if len(password) < MIN_PASSWORD:
        raise SetupError(
            f"the first admin's password has {len(password)} characters: a "
            f"password needs at least {MIN_PASSWORD} (MLflow's rule)"
        )
    return password


def allowed_hosts(host: str, port: int) -> list[str]:
    """The Host headers the server answers: the names and addresses it listens on, so that a
    page elsewhere cannot reach it through a rebinding DNS name."""
    if host in ("0.0.0.0", "::"):
        names = {socket.gethostname(), socket.getfqdn(), "localhost"}
        names |= {
            a.address.split("%")[0]
            for listed in psutil.net_if_addrs().values()
            for a in listed
            if a.family in (socket.AF_INET, socket.AF_INET6)
        }
    else:
        names = {host}
        if is_loopback(host):
            names |= {"localhost", "127.0.0.1"}
    shown = {f"[{n}]" if ":" in n else n for n in names}
    return sorted(shown | {f"{n}:{port}" for n in shown})


def auth_config(database_url: str, folder: Path) -> Path:
    """MLflow's auth settings: users in PostgreSQL, everyone signed in may read."""
    config = configparser.ConfigParser()
    config["mlflow"] = {
        "default_permission": "READ",
        "database_uri": database_url,
        "admin_username": ADMIN,
        "authorization_function": "mlflow.server.auth:authenticate_request_basic_auth",
        "auth_cache_ttl_seconds": str(CREDENTIAL_CACHE_SECONDS),
    }
    path = folder / "basic_auth.ini"
    with open(path, "w") as handle:
        config.write(handle)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url",
        default=DEFAULT_DATABASE,
        help="PostgreSQL URL of the backend store (default: %(default)s)",
    )
    parser.add_argument(
        "--auth-database-url",
        help="PostgreSQL URL of the users' store (default: the backend "
        "store's, with _auth after the database name)",
    )
    parser.add_argument(
        "--artifacts",
        type=Path,
        default=Path("mlartifacts"),
        help="where the server keeps artifacts (default: ./mlartifacts)",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    parser.add_argument(
        "--allowed-hosts",
        help="comma-separated Host headers to answer (default: the names "
        "and addresses --host listens on)",
    )
    parser.add_argument("--certfile", type=Path, help="serve HTTPS with this certificate")
    parser.add_argument("--keyfile", type=Path, help="... and this private key")
    parser.add_argument(
        "--admin-password-file",
        type=Path,
        help=f"the first admin's password (default: ${PASSWORD_VARIABLE})",
    )
    args = parser.parse_args()
    try:
        try:
            addresses(args.host)
        except OSError as err:
            raise SetupError(
                f"--host {args.host} does not resolve here ({err.strerror}): "
                f"pass an address of this machine, such as 127.0.0.1"
            ) from None
        database = without_password(args.database_url, "--database-url")
        users = without_password(
            args.auth_database_url or auth_database(database), "--auth-database-url"
        )
        password = admin_password(args.admin_password_file)
        if (args.certfile is None) != (args.keyfile is None):
            raise SetupError("HTTPS needs both --certfile and --keyfile")
        for tls_file in (args.certfile, args.keyfile):
            if tls_file is not None and not tls_file.is_file():
                raise SetupError(f"{tls_file} is not a file: pass the PEM certificate and key")
        ensure_database(database)
        ensure_database(users)
    except SetupError as err:
        sys.exit(f"titanic: error: {err}")
    args.artifacts.mkdir(parents=True, exist_ok=True)
    hosts = args.allowed_hosts or ",".join(allowed_hosts(args.host, args.port))
    command = [
        "mlflow",
        "server",
        "--app-name",
        "basic-auth",
        "--backend-store-uri",
        database,
        "--artifacts-destination",
        str(args.artifacts.resolve()),
        "--serve-artifacts",
        "--host",
        args.host,
        "--port",
        str(args.port),
        "--workers",
        str(args.workers),
        "--allowed-hosts",
        hosts,
    ]
    if args.certfile is not None:
        command += [
            "--uvicorn-opts",
            f"--ssl-certfile {args.certfile.resolve()} --ssl-keyfile {args.keyfile.resolve()}",
        ]
    elif not is_loopback(args.host):
        print(
            "titanic: warning: serving plain HTTP beyond loopback: passwords and models "
            "cross the network unencrypted; pass --certfile and --keyfile",
            file=sys.stderr,
        )
    environment = {
        **os.environ,
        PASSWORD_VARIABLE: password,
        JOBS_VARIABLE: os.environ.get(JOBS_VARIABLE, "false"),
        # Signs the UI's CSRF tokens; servers behind one name must share it.
        SECRET_KEY_VARIABLE: (os.environ.get(SECRET_KEY_VARIABLE) or secrets.token_hex(32)),
        "MLFLOW_AUTH_CONFIG_PATH": str(
            auth_config(users, Path(tempfile.mkdtemp(prefix="titanic-auth-")))
        ),
    }
    print("titanic: starting " + " ".join(command), file=sys.stderr, flush=True)
    os.execvpe(sys.executable, [sys.executable, "-m", "mlflow", *command[1:]], environment)


if __name__ == "__main__":
    main()
