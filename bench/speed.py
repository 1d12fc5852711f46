"""Where the time goes: one fit and score of the default pipeline, the pipeline at 1k to 1M rows
(seconds and peak memory), a cold `main` against a no-op `mlflow run` entry point, and `main`
on a million rows, side by side in one run.

    python bench/speed.py                          # about 8 minutes on 2 cores
    python bench/speed.py --repeats 3 --markdown bench/SPEED.md --scale bench/SCALE.md

Targets: one fit + score on the 668 training rows <= 30 ms; fit + predict on 1,000,000 rows
<= 15 s and <= 1.4 GB; a cold `main` <= 1.30x a no-op entry point that starts and ends one run,
the same `main` again (every step reused) <= 1.10x; `main` on 1,000,000 rows with the default
cross-validation <= 2 minutes. Rows beyond Kaggle's 891 are Kaggle's rows drawn
again with new PassengerIds (names and tickets repeat).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
SIZES = (1_000, 10_000, 100_000, 1_000_000)

# One pipeline at `rows` rows, in a process of its own so that its peak memory is its own.
AT_SCALE = """
import json, resource, sys, time
import numpy as np, pandas as pd
from threadpoolctl import threadpool_limits
from orchestration.project.params import entry_point_defaults
from orchestration.project.params import parse_params
from titanic.models import ModelSpec
from titanic.passengers import FEATURES, TARGET, read_passengers
rows = int(sys.argv[1])
kaggle = read_passengers(__import__("pathlib").Path("data/titanic/train.csv"), with_target=True,
                         source="train.csv")
data = kaggle.sample(rows, replace=rows > len(kaggle), random_state=0).reset_index(drop=True)
data["PassengerId"] = np.arange(1, rows + 1)
if len(sys.argv) > 2:  # only write the rows, as a CSV file
    data.to_csv(sys.argv[2], index=False)
    print(json.dumps({"rows": rows}))
    sys.exit()
threadpool_limits(1)
spec = ModelSpec.of(parse_params(entry_point_defaults("main")))
started = time.perf_counter()
model = spec.pipeline()
model.fit(data[list(FEATURES)], data[TARGET])
fitted = time.perf_counter()
model.predict(data[list(FEATURES)])
done = time.perf_counter()
print(json.dumps({"fit": fitted - started, "predict": done - fitted,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

# One fit and score on the default split, the median of many, in one warm process.
ONE_FIT = """
import json, statistics, time
from pathlib import Path
from threadpoolctl import threadpool_limits
from orchestration.project.params import entry_point_defaults
from orchestration.project.params import parse_params
from steps.prepare import prepare
from titanic.models import ModelSpec
from titanic.passengers import FEATURES, TARGET, read_passengers
defaults = entry_point_defaults("main")
kaggle = read_passengers(Path(defaults["data"]), with_target=True, source="train.csv")
train, valid = prepare(kaggle, float(defaults["test_size"]), int(defaults["seed"]))
threadpool_limits(1)
model = ModelSpec.of(parse_params(defaults)).pipeline()
times = []
for _ in range(30):
    started = time.perf_counter()
    model.fit(train[list(FEATURES)], train[TARGET]).score(valid[list(FEATURES)], valid[TARGET])
    times.append(time.perf_counter() - started)
print(json.dumps({"rows": len(train), "ms": 1000 * statistics.median(times[5:])}))
"""


def python(code: str, *args: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=PROJECT,
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(PROJECT)},
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def noop_project(scratch: Path) -> Path:
    """A copy of the project (with its git history, which `mlflow run` reads) and one more entry
    point, which starts and ends one run: the floor of any entry point that logs to MLflow."""
    copy = scratch / "project"
    shutil.copytree(
        PROJECT,
        copy,
        ignore=shutil.ignore_patterns(".venv", "mlflow.db", "mlruns", "mlartifacts", "__pycache__"),
    )
    with open(copy / "MLproject", "a") as handle:
        handle.write(
            "\n  noop:\n    command: \"python -c 'import mlflow; mlflow.start_run(); "
            "mlflow.end_run()'\"\n"
        )
    return copy


def store(folder: Path) -> dict[str, str]:
    """The environment of a command on the sqlite store in `folder`: made and set up first as
    the README's `titanic-init-store` does (run there, so that its artifacts go beside it),
    unless the folder exists; only the work itself is then timed."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{folder / 'mlflow.db'}"}
    env.pop("MLFLOW_EXPERIMENT_NAME", None)
    if not folder.exists():
        folder.mkdir()
        subprocess.run(
            [sys.executable, "-m", "orchestration.init_store"],
            env=env,
            cwd=folder,
            check=True,
            capture_output=True,
        )
    return env


def mlflow_run(project: Path, folder: Path, *args: str) -> float:
    """Seconds of `mlflow run` on the store in `folder` (`store`)."""
    env = store(folder)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "mlflow", "run", str(project), "--env-manager", "local", *args],
        cwd=folder,
        env=env,
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2, help="rounds of cold main and the no-ops")
    parser.add_argument("--markdown", type=Path, help="also write the figures to this file")
    parser.add_argument("--scale", type=Path, help="also write the scaling table to this file")
    args = parser.parse_args()
    print("one fit + score ...", file=sys.stderr, flush=True)
    one = python(ONE_FIT)
    scale = {}
    for rows in SIZES:
        print(f"pipeline at {rows} rows ...", file=sys.stderr, flush=True)
        scale[rows] = python(AT_SCALE, str(rows))
    cold, floor, again = [], [], []
    with tempfile.TemporaryDirectory(prefix="titanic-speed-") as scratch:
        copy = noop_project(Path(scratch))
        for index in range(args.repeats):  # side by side: each pair on the machine as it is
            print(
                f"round {index + 1}/{args.repeats}: no-op, cold main, main again ...",
                file=sys.stderr,
                flush=True,
            )
            floor.append(mlflow_run(copy, Path(scratch) / f"noop-{index}", "-e", "noop"))
            cold.append(mlflow_run(PROJECT, Path(scratch) / f"main-{index}"))
            again.append(mlflow_run(PROJECT, Path(scratch) / f"main-{index}"))
        print("main on 1,000,000 rows ...", file=sys.stderr, flush=True)
        rows_csv = Path(scratch) / "million.csv"
        python(AT_SCALE, "1000000", str(rows_csv))
        at_scale = mlflow_run(PROJECT, Path(scratch) / "main-million", "-P", f"data={rows_csv}")
    million = scale[1_000_000]
    ratio = statistics.median(cold) / statistics.median(floor)
    reused = statistics.median(again) / statistics.median(floor)
    figures = "\n".join(
        [
            "| figure | measured | target |",
            "|---|---|---|",
            f"| one pipeline fit + score, {one['rows']:.0f} rows | {one['ms']:.0f} ms | ≤ 30 ms |",
            f"| fit + predict, 1,000,000 rows | {million['fit'] + million['predict']:.1f} s, "
            f"{million['peak_mb']:.0f} MB | ≤ 15 s, ≤ 1.4 GB |",
            f"| cold `main` / no-op `mlflow run` entry point (starts and ends one run) | "
            f"{ratio:.2f}× ({statistics.median(cold):.1f} s / {statistics.median(floor):.1f} s, "
            f"medians of {args.repeats} rounds) | ≤ 1.30× |",
            f"| `main` again, every step reused / the same no-op | {reused:.2f}× "
            f"({statistics.median(again):.1f} s / {statistics.median(floor):.1f} s) | ≤ 1.10× |",
            f"| `main` on 1,000,000 rows, default cross-validation | {at_scale:.0f} s | ≤ 120 s |",
        ]
    )
    table = "\n".join(
        [
            "| rows | fit s | predict s | peak MB | fit µs per row |",
            "|---:|---:|---:|---:|---:|",
            *(
                f"| {rows:,} | {r['fit']:.2f} | {r['predict']:.2f} | {r['peak_mb']:.0f} | "
                f"{r['fit'] / rows * 1e6:.1f} |"
                for rows, r in scale.items()
            ),
        ]
    )
    print(figures, table, sep="\n\n")
    stamp = f"on {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores"
    if args.markdown:
        args.markdown.write_text(
            f"# Speed\n\n`python bench/speed.py --repeats {args.repeats}` {stamp}.\n\n{figures}\n"
        )
    if args.scale:
        args.scale.write_text(
            f"# Scaling with rows\n\n`python bench/speed.py` {stamp}: the default pipeline "
            f"(engineered features, logreg) fitted and used on Kaggle's rows drawn again with "
            f"new PassengerIds, one thread, in a process of its own.\n\n{table}\n"
        )


if __name__ == "__main__":
    main()
