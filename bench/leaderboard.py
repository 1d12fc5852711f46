"""Time the leaderboard on a store with 1,000 pipeline runs (each with its three step runs and
its 15 fold scores) and a registered model with versions, side by side with the floor of any
command here. Whatever the limit, the leaderboard reads the best 1,000 runs, among which the
selection rule looks for ties.

    python bench/leaderboard.py                  # about a minute to build the store
    python bench/leaderboard.py --markdown bench/LEADERBOARD.md

Figures: the leaderboard's own work (its queries and the table) in a warm process, and the
whole command `titanic-leaderboard` against `python -c "import mlflow"` (what any
command that uses MLflow pays before it does anything).
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import redirect_stdout
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent

PIPELINES = 1000
VERSIONS = 50
REPEATS = 5


def build_store(uri: str) -> None:
    """Pipeline runs shaped like `main`'s: parameters, metrics and tags, and three children."""
    import mlflow
    import numpy as np
    from mlflow.entities import Metric, Param, RunTag
    from mlflow.tracking import MlflowClient

    from orchestration.project.params import entry_point_defaults
    from orchestration.record.folds import fold_tags
    from orchestration.record.names import STEPS, TAG_MODEL_URI, TAG_REUSED_STEPS

    mlflow.set_tracking_uri(uri)
    client = MlflowClient()
    default = client.get_experiment_by_name("Default")
    assert default is not None, f"{uri} has no Default experiment"
    experiment = default.experiment_id
    defaults = entry_point_defaults("main")
    now = int(time.time() * 1000)
    uris: list[str] = []
    noise = np.random.default_rng(0)
    for i in range(PIPELINES):
        mean = 0.7 + (i * 7919 % 1000) / 10000
        folds = fold_tags(5, 3, 123, "bench", mean + noise.normal(0, 0.035, 15))
        params = {
            **defaults,
            "C": str(round(0.01 * (1 + i % 300), 2)),
            "model": ("logreg", "hgb", "rf", "vote")[i % 4],
        }
        parent = client.create_run(experiment, run_name=f"run {i}")
        run_id = parent.info.run_id
        model = client.create_logged_model(experiment, name="model", source_run_id=run_id)
        uris.append(f"models:/{model.model_id}")
        client.log_batch(
            run_id,
            metrics=[
                Metric(name, mean, now, 0)
                for name in (
                    "cv_accuracy",
                    "cv_accuracy_std",
                    "cv_accuracy_se",
                    "val_accuracy",
                    "val_precision",
                    "val_recall",
                    "val_f1",
                    "val_roc_auc",
                    "val_log_loss",
                )
            ],
            params=[Param(k, v) for k, v in params.items()],
            tags=[
                RunTag(TAG_MODEL_URI, uris[-1]),
                RunTag(TAG_REUSED_STEPS, "prepare" if i % 2 else ""),
                *(RunTag(k, v) for k, v in folds.items()),
            ],
        )
        for step in STEPS:
            child = client.create_run(
                experiment, run_name=step, tags={"mlflow.parentRunId": run_id}
            )
            client.set_terminated(child.info.run_id)
        client.set_terminated(run_id)
    client.create_registered_model("titanic")
    for i in range(VERSIONS):
        source = uris[i * (PIPELINES // VERSIONS)]
        client.create_model_version(
            "titanic", source=source, model_id=source.removeprefix("models:/")
        )
    client.set_registered_model_alias("titanic", "champion", "1")


def warm_seconds(limit: int) -> list[float]:
    from orchestration.registry import leaderboard

    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        with redirect_stdout(io.StringIO()):
            leaderboard.main(["--limit", str(limit)])
        times.append(time.perf_counter() - started)
    return times


def command_seconds(command: list[str], env: dict[str, str]) -> list[float]:
    times = []
    for _ in range(REPEATS):
        started = time.perf_counter()
        subprocess.run(command, env=env, cwd=PROJECT, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="titanic-leaderboard-") as scratch:
        uri = f"sqlite:///{scratch}/mlflow.db"
        env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "MLFLOW_EXPERIMENT_NAME": "Default"}
        os.environ.update(env)
        started = time.perf_counter()
        build_store(uri)
        print(
            f"store of {PIPELINES} pipeline runs (+{3 * PIPELINES} step runs) built in "
            f"{time.perf_counter() - started:.0f} s",
            file=sys.stderr,
        )
        figures = {
            "leaderboard, warm process, top 10": warm_seconds(10),
            f"leaderboard, warm process, all {PIPELINES}": warm_seconds(PIPELINES),
            "`titanic-leaderboard` (whole command)": command_seconds(
                [sys.executable, "-m", "orchestration.registry.leaderboard"], env
            ),
            '`python -c "import mlflow"` (floor)': command_seconds(
                [sys.executable, "-c", "import mlflow"], env
            ),
        }
    rows = [
        f"| {name} | {statistics.median(t):.3f} | {min(t):.3f} | {max(t):.3f} |"
        for name, t in figures.items()
    ]
    table = "\n".join(["| measured | median s | min s | max s |", "|---|---|---|---|", *rows])
    print(table)
    if args.markdown:
        args.markdown.write_text(
            f"# Leaderboard timing\n\n`python bench/leaderboard.py` on {time.strftime('%Y-%m-%d')}"
            f": a sqlite store of {PIPELINES} pipeline runs (and {3 * PIPELINES} step runs), "
            f"{VERSIONS} registered versions; {REPEATS} repeats each.\n\n{table}\n"
        )


if __name__ == "__main__":
    main()
