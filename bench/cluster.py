"""Time one 16-configuration sweep on this machine's process pool (`cluster=local`, `jobs=2`)
against the same sweep on a Dask scheduler with one-thread workers on this machine, side by
side, each on a new loopback `mlflow server` (a cluster needs a tracking server).

    python bench/cluster.py                   # one repeat: about 6 minutes on 2 cores
    python bench/cluster.py --repeats 2 --markdown bench/CLUSTER.md

Target: Dask with two workers within 1.15x of the local pool; and the sweep with one and two
workers (seconds, configurations per minute), to show it spread.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
VALUES = [
    "0.01",
    "0.02",
    "0.03",
    "0.05",
    "0.1",
    "0.2",
    "0.3",
    "0.5",
    "1",
    "2",
    "3",
    "5",
    "10",
    "20",
    "30",
    "50",
]
SWEEP = [
    sys.executable,
    "-m",
    "mlflow",
    "run",
    str(PROJECT),
    "--env-manager",
    "local",
    "-e",
    "sweep",
    "-P",
    f"C={','.join(VALUES)}",
]
# name -> (cluster: None for the local pool, else that many Dask workers; jobs)
SCENARIOS = {
    "`cluster=local`, jobs=2": (None, "2"),
    "Dask, 2 one-thread workers": (2, "auto"),
    "Dask, 1 one-thread worker": (1, "auto"),
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def process(command: list[str], cwd: Path, logs: Path, env: dict[str, str]) -> Iterator[None]:
    """`command` running in `cwd`, its output in a log file in `logs`, stopped afterwards."""
    with open(logs / f"{Path(command[0]).name}-{time.monotonic_ns()}.log", "w") as log:
        proc = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=log, stderr=log, start_new_session=True
        )
    try:
        yield
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(timeout=30)


def wait_until(ready: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 120
    while not ready():
        if time.monotonic() > deadline:
            sys.exit(f"{what} did not start in 120 s")
        time.sleep(0.5)


def answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2)
        return True
    except OSError:
        return False


def measure(workers: int | None, jobs: str, folder: Path) -> float:
    """Seconds of the sweep on a new tracking server, the cluster (if any) already up."""
    folder.mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": str(PROJECT),
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }  # as titanic-team-server runs it
    env.pop("MLFLOW_EXPERIMENT_NAME", None)
    with ExitStack() as stack:
        port = free_port()
        stack.enter_context(
            process(
                [
                    sys.executable,
                    "-m",
                    "mlflow",
                    "server",
                    "--backend-store-uri",
                    f"sqlite:///{folder / 'mlflow.db'}",
                    "--artifacts-destination",
                    str(folder / "artifacts"),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--workers",
                    "2",
                ],
                folder,
                folder,
                env,
            )
        )
        env["MLFLOW_TRACKING_URI"] = f"http://127.0.0.1:{port}"
        wait_until(lambda: answers(f"{env['MLFLOW_TRACKING_URI']}/health"), "mlflow server")
        cluster = "local"
        if workers:
            port = free_port()
            cluster = f"tcp://127.0.0.1:{port}"
            stack.enter_context(
                process(
                    [
                        "dask",
                        "scheduler",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port),
                        "--no-dashboard",
                    ],
                    PROJECT,
                    folder,
                    env,
                )
            )
            for _ in range(workers):
                stack.enter_context(
                    process(
                        ["dask", "worker", cluster, "--nthreads", "1", "--no-dashboard"],
                        PROJECT,
                        folder,
                        env,
                    )
                )
            code = (
                f"from distributed import Client; "
                f"Client('{cluster}', timeout=60).wait_for_workers({workers}, timeout=120)"
            )
            subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)
        started = time.perf_counter()
        done = subprocess.run(
            [*SWEEP, "-P", f"jobs={jobs}", "-P", f"cluster={cluster}"],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
        )
        took = time.perf_counter() - started
        if done.returncode != 0:
            sys.exit(f"the sweep failed ({cluster}): {done.stderr[-3000:]}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args()
    seconds: dict[str, list[float]] = {name: [] for name in SCENARIOS}
    with tempfile.TemporaryDirectory(prefix="titanic-cluster-") as scratch:
        for index in range(args.repeats):
            for name, (workers, jobs) in SCENARIOS.items():  # each repeat measures them all
                print(f"repeat {index + 1}/{args.repeats}: {name} ...", file=sys.stderr, flush=True)
                seconds[name].append(
                    measure(workers, jobs, Path(scratch) / f"{index}-{workers or 0}")
                )
    median = {name: statistics.median(values) for name, values in seconds.items()}
    local, two, one = (median[name] for name in SCENARIOS)
    lines = [
        "| scenario | median s | configurations per minute |",
        "|---|---|---|",
        *(
            f"| {name} | {median[name]:.1f} | {len(VALUES) * 60 / median[name]:.1f} |"
            for name in SCENARIOS
        ),
        "",
        "| ratio | measured | target |",
        "|---|---|---|",
        f"| Dask 2 workers / local pool | {two / local:.2f}× | ≤ 1.15× |",
        f"| Dask 1 worker / 2 workers | {one / two:.2f}× | (2 would be perfect spread) |",
    ]
    table = "\n".join(lines)
    print(table)
    if args.markdown:
        args.markdown.write_text(
            f"# Cluster benchmark\n\n`python bench/cluster.py --repeats {args.repeats}` on "
            f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores: a sweep of "
            f"{len(VALUES)} values of `C`, each scenario on a new loopback `mlflow server` "
            f"(sqlite), its scheduler and workers started before the clock.\n\n{table}\n"
        )


if __name__ == "__main__":
    main()
