"""Start a team's MLflow tracking server: runs and the model registry in PostgreSQL, artifacts
stored by the server and proxied through it, so clients need only the server's URL.

    python tools/team_server.py                                   # 127.0.0.1:5000
    python tools/team_server.py --database-url postgresql://mlflow@db.internal:5432/mlflow \\
        --artifacts /srv/mlflow-artifacts --host 0.0.0.0 --port 5000

Creates the database if it does not exist yet (the role must be allowed to), then runs
`mlflow server` in this process's place, so that stopping this command stops the server.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

DEFAULT_DATABASE = "postgresql://postgres@127.0.0.1:5432/titanic_mlflow"


def ensure_database(url: str) -> None:
    """Create the database the URL names if it is missing, connecting to `postgres` to do so."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name:
        raise ValueError(f"{url} names no database: end it with /<database>")
    admin = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
    with psycopg.connect(admin, autocommit=True, connect_timeout=10) as connection:
        exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                    (name,)).fetchone()
        if not exists:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_DATABASE,
                        help="PostgreSQL URL of the backend store (default: %(default)s)")
    parser.add_argument("--artifacts", type=Path, default=Path("mlartifacts"),
                        help="where the server keeps artifacts (default: ./mlartifacts)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    args = parser.parse_args()
    try:
        ensure_database(args.database_url)
    except (psycopg.Error, ValueError) as err:
        reason = next((line for line in str(err).splitlines() if line.strip()), "")
        sys.exit(f"titanic: error: cannot reach or create the database {args.database_url} "
                 f"({reason}): start PostgreSQL, or pass --database-url "
                 f"postgresql://<user>@<host>:<port>/<database> for a role that may create it")
    args.artifacts.mkdir(parents=True, exist_ok=True)
    command = ["mlflow", "server", "--backend-store-uri", args.database_url,
               "--artifacts-destination", str(args.artifacts.resolve()), "--serve-artifacts",
               "--host", args.host, "--port", str(args.port), "--workers", str(args.workers)]
    print("titanic: starting " + " ".join(command), file=sys.stderr, flush=True)
    os.execvp(sys.executable, [sys.executable, "-m", "mlflow", *command[1:]])


if __name__ == "__main__":
    main()
