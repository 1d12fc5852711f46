"""Load a team server: 4 workers (as separate machines: own folder, own temporary files) each
run the same 8-configuration sweep with `promote=true`, against the team server on PostgreSQL
with authentication (as a maintainer), and, side by side, the same load on a plain
`mlflow server` without it and on a local sqlite store (4 processes on one machine).

    python bench/team.py                      # needs PostgreSQL (TITANIC_POSTGRES)
    python bench/team.py --markdown bench/TEAM.md

Checks what the load must leave: every run FINISHED, each step computed once (one computing
run per cache key), one model version per model; and reports the wall time and, for the
server, its request rate (from its access log).
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import psycopg

PROJECT = Path(__file__).resolve().parent.parent
POSTGRES = os.environ.get("TITANIC_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
WORKERS = 4
SWEEP = ["-e", "sweep", "-P", "C=0.01,0.03,0.1,0.3,1,3,10,30", "-P", "jobs=1", "-P", "promote=true"]
CHECK = """
import collections, json, mlflow
from mlflow.tracking import MlflowClient
client = MlflowClient()
runs = mlflow.search_runs(search_all_experiments=True, output_format="list", max_results=50000)
computing = collections.Counter(r.data.tags["titanic.cache_key"] for r in runs
                                if "titanic.cache_key" in r.data.tags
                                and "titanic.reused_from" not in r.data.tags)
versions = client.search_model_versions("name='titanic'")
print(json.dumps({"runs": len(runs),
                  "not_finished": sum(r.info.status != "FINISHED" for r in runs),
                  "keys": len(computing), "computed_twice": sum(n > 1 for n in computing.values()),
                  "versions": len(versions),
                  "duplicate_versions": len(versions) - len({v.source for v in versions})}))
"""


ADMIN_PASSWORD = f"admin-{uuid.uuid4().hex}"
MAINTAINER = {
    "MLFLOW_TRACKING_USERNAME": "maintainer",
    "MLFLOW_TRACKING_PASSWORD": f"maintainer-{uuid.uuid4().hex}",
}


def load(uri: str, folder: Path, separate_machines: bool, env: dict[str, str]) -> float:
    """The 4 sweeps started together; seconds until the last one ends."""
    procs = []
    for i in range(WORKERS):
        home = folder / f"worker-{i}"
        (home / "tmp").mkdir(parents=True)
        worker = {**env, "MLFLOW_TRACKING_URI": uri}
        worker.pop("MLFLOW_EXPERIMENT_NAME", None)
        if separate_machines:
            worker["TMPDIR"] = str(home / "tmp")
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "mlflow",
                    "run",
                    str(PROJECT),
                    "--env-manager",
                    "local",
                    *SWEEP,
                ],
                cwd=home,
                env=worker,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    started = time.perf_counter()
    for proc in procs:
        _, err = proc.communicate(timeout=1800)
        if proc.returncode != 0:
            sys.exit(f"a worker failed: {err[-2000:]}")
    return time.perf_counter() - started


def check(uri: str, env: dict[str, str]) -> str:
    out = subprocess.run(
        [sys.executable, "-c", CHECK],
        env={**env, "MLFLOW_TRACKING_URI": uri},
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip().splitlines()[-1]


def server_load(folder: Path, authenticated: bool) -> tuple[float, str, int]:
    database = f"titanic_bench_{uuid.uuid4().hex[:8]}"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = folder / "server.log"
    url = f"{POSTGRES}/{database}"
    if authenticated:
        command = ["-m", "orchestration.team.server", "--database-url", url]
    else:  # the same server without the auth app, on a database made here
        with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{database}"')
        command = [
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            url,
            "--serve-artifacts",
            "--workers",
            "2",
        ]
    # Both servers alike: without MLflow's job runner, which titanic-team-server turns off.
    env = {
        **os.environ,
        "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    with open(log, "w") as sink:
        server = subprocess.Popen(
            [
                sys.executable,
                *command,
                "--artifacts-destination" if not authenticated else "--artifacts",
                str(folder / "artifacts"),
                "--port",
                str(port),
            ],
            cwd=folder,
            stdout=sink,
            stderr=sink,
            start_new_session=True,
            env=env,
        )
    uri = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(f"{uri}/health", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        env = dict(os.environ)
        if authenticated:
            env |= MAINTAINER
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "orchestration.team.users",
                    "add",
                    "maintainer",
                    "maintainer",
                ],
                check=True,
                capture_output=True,
                input=MAINTAINER["MLFLOW_TRACKING_PASSWORD"] + "\n",
                text=True,
                env={
                    **os.environ,
                    "MLFLOW_TRACKING_URI": uri,
                    "MLFLOW_TRACKING_USERNAME": "admin",
                    "MLFLOW_TRACKING_PASSWORD": ADMIN_PASSWORD,
                },
            )
        before = len(re.findall(r'" \d{3}', log.read_text()))
        seconds = load(uri, folder, separate_machines=True, env=env)
        requests = len(re.findall(r'" \d{3}', log.read_text())) - before
        return seconds, check(uri, env), requests
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=30)
        with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as connection:
            for name in (database, f"{database}_auth"):
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def sqlite_load(folder: Path) -> tuple[float, str]:
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    subprocess.run(
        [sys.executable, "-m", "orchestration.init_store"],
        check=True,
        capture_output=True,
        env={**os.environ, "MLFLOW_TRACKING_URI": uri},
        cwd=folder,
    )
    seconds = load(uri, folder, separate_machines=False, env=dict(os.environ))
    return seconds, check(uri, dict(os.environ))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="titanic-team-") as scratch:
        for name in ("auth", "plain", "sqlite"):
            (Path(scratch) / name).mkdir()
        auth_s, auth_check, auth_requests = server_load(Path(scratch) / "auth", True)
        plain_s, plain_check, plain_requests = server_load(Path(scratch) / "plain", False)
        sqlite_s, sqlite_check = sqlite_load(Path(scratch) / "sqlite")
    auth_rate, plain_rate = auth_requests / auth_s, plain_requests / plain_s
    table = "\n".join(
        [
            "| store | wall s | requests | requests/s | what the store holds after |",
            "|---|---|---|---|---|",
            f"| team server with authentication, 4 separate machines | {auth_s:.1f} | "
            f"{auth_requests} | {auth_rate:.1f} | `{auth_check}` |",
            f"| the same `mlflow server` without authentication | {plain_s:.1f} | "
            f"{plain_requests} | {plain_rate:.1f} | `{plain_check}` |",
            f"| local sqlite, 4 processes on one machine | {sqlite_s:.1f} | | | `{sqlite_check}` |",
            "",
            f"Authentication costs {auth_s / plain_s:.2f}× the wall time and "
            f"{plain_rate / auth_rate:.2f}× in requests per second (target ≤ 1.25×).",
        ]
    )
    print(table)
    if args.markdown:
        args.markdown.write_text(
            f"# Team server load\n\n`python bench/team.py` on {time.strftime('%Y-%m-%d')}, "
            f"{os.cpu_count()} cores: {WORKERS} workers each run `mlflow run . "
            f"{' '.join(SWEEP)}` (8 configurations), started together.\n\n{table}\n"
        )


if __name__ == "__main__":
    main()
