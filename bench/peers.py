"""The project's searches against what a user would run instead, side by side in alternating
rounds, each as a whole command on a new store, with the same pipeline, folds and space:

- `mlflow run . -e sweep` of 8 `C` values (jobs=2) against `GridSearchCV(n_jobs=2)` with
  `mlflow.sklearn.autolog()` (every configuration a child run, as the sweep makes), and against
  the same `GridSearchCV` untracked (the compute floor);
- `mlflow run . -e tune` of 40 trials (jobs=2) against an Optuna TPE study (`n_jobs=2`) with
  optuna-integration's `MLflowCallback`, and the best `cv_accuracy` each found.

    python bench/peers.py                                   # 3 rounds, about 12 minutes
    python bench/peers.py --repeats 3 --markdown bench/PEERS.md

The peers run as a script would (`python -c`), on the training split `prepare` makes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlflow.tracking import MlflowClient
from speed import mlflow_run, store  # this folder's: a timed `mlflow run`, a new store

PROJECT = Path(__file__).resolve().parent.parent
C_VALUES = ("0.01", "0.03", "0.1", "0.3", "1", "3", "10", "30")
TRIALS = 40
SWEEP = ("-e", "sweep", "-P", f"C={','.join(C_VALUES)}", "-P", "jobs=2")
TUNE = ("-e", "tune", "-P", f"trials={TRIALS}", "-P", "jobs=2")

# What every peer starts from: the default training split and folds, the default pipeline.
SETUP = """
import json, sys, time
import numpy as np
from sklearn.model_selection import RepeatedStratifiedKFold
from orchestration.project.params import entry_point_defaults, parse_params
from steps.prepare import prepare
from titanic.models import ModelSpec
from titanic.passengers import FEATURES, TARGET, read_passengers
from pathlib import Path
d = parse_params(entry_point_defaults("main"))
rows, _ = prepare(read_passengers(Path(d["data"]), with_target=True, source="data"),
                  d["test_size"], d["seed"])
X, y = rows[list(FEATURES)], rows[TARGET]
folds = RepeatedStratifiedKFold(n_splits=d["cv_folds"], n_repeats=d["cv_repeats"],
                                random_state=d["seed"])
"""

GRID = (
    SETUP
    + """
import mlflow
from sklearn.model_selection import GridSearchCV
if sys.argv[1] == "autolog":
    mlflow.sklearn.autolog(max_tuning_runs=None)
grid = {"classify__C": [float(c) for c in sys.argv[2:]]}
search = GridSearchCV(ModelSpec.of(d).pipeline(), grid, cv=folds, n_jobs=2)
if sys.argv[1] == "autolog":
    with mlflow.start_run():
        search.fit(X, y)
else:
    search.fit(X, y)
print(json.dumps({"best": float(search.best_score_)}))
"""
)

OPTUNA = (
    SETUP
    + """
import mlflow, optuna
from optuna_integration.mlflow import MLflowCallback
from sklearn.model_selection import cross_val_score
from orchestration.search.study import suggest
optuna.logging.set_verbosity(optuna.logging.WARNING)

def objective(trial):
    point = parse_params({**entry_point_defaults("main"), **suggest(trial)})
    return cross_val_score(ModelSpec.of(point).pipeline(), X, y, cv=folds).mean()

sampler = optuna.samplers.TPESampler(seed=d["seed"])
study = optuna.create_study(direction="maximize", sampler=sampler)
study.optimize(objective, n_trials=int(sys.argv[1]), n_jobs=2,
               callbacks=[MLflowCallback(metric_name="cv_accuracy")])
print(json.dumps({"best": study.best_value}))
"""
)


def peer(code: str, folder: Path, *args: str) -> tuple[float, float]:
    """Seconds of a peer script on a new store in `folder`, and the best score it found."""
    env = store(folder)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=PROJECT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    return seconds, float(json.loads(done.stdout.strip().splitlines()[-1])["best"])


def best_of_search(folder: Path) -> float:
    """The best `cv_accuracy` among a search's configurations on the store in `folder`."""
    client = MlflowClient(f"sqlite:///{folder / 'mlflow.db'}")
    runs = client.search_runs(
        [e.experiment_id for e in client.search_experiments()],
        "tags.`mlflow.project.entryPoint` = 'main' and attributes.status = 'FINISHED'",
        order_by=["metrics.cv_accuracy DESC"],
        max_results=1,
    )
    return runs[0].data.metrics["cv_accuracy"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--markdown", type=Path, help="also write the tables to this file")
    args = parser.parse_args()
    seconds: dict[str, list[float]] = {
        k: [] for k in ("sweep", "autolog", "untracked", "tune", "optuna")
    }
    best: dict[str, list[float]] = {"tune": [], "optuna": []}
    with tempfile.TemporaryDirectory(prefix="titanic-peers-") as scratch:
        for index in range(args.repeats):
            print(f"round {index + 1}/{args.repeats} ...", file=sys.stderr, flush=True)
            where = Path(scratch) / str(index)
            where.mkdir()
            seconds["sweep"].append(mlflow_run(PROJECT, where / "sweep", *SWEEP))
            seconds["autolog"].append(peer(GRID, where / "autolog", "autolog", *C_VALUES)[0])
            seconds["untracked"].append(peer(GRID, where / "untracked", "none", *C_VALUES)[0])
            seconds["tune"].append(mlflow_run(PROJECT, where / "tune", *TUNE))
            best["tune"].append(best_of_search(where / "tune"))
            took, found = peer(OPTUNA, where / "optuna", str(TRIALS))
            seconds["optuna"].append(took)
            best["optuna"].append(found)
    m = {k: statistics.median(v) for k, v in seconds.items()}
    b = {k: statistics.median(v) for k, v in best.items()}
    rows = [
        "| figure | this project | peer | ratio | target |",
        "|---|---:|---:|---:|---|",
        f"| `-e sweep` of 8 C, jobs=2 / GridSearchCV(n_jobs=2) + `mlflow.sklearn.autolog()` | "
        f"{m['sweep']:.1f} s | {m['autolog']:.1f} s | {m['sweep'] / m['autolog']:.2f} | ≤ 0.60 |",
        f"| the same sweep / untracked GridSearchCV | {m['sweep']:.1f} s | "
        f"{m['untracked']:.1f} s | {m['sweep'] / m['untracked']:.2f} | ≤ 2.0 |",
        f"| `-e tune` {TRIALS} trials, jobs=2 / Optuna TPE (n_jobs=2) + MLflowCallback | "
        f"{m['tune']:.1f} s | {m['optuna']:.1f} s | {m['tune'] / m['optuna']:.2f} | ≤ 0.35 |",
        f"| best `cv_accuracy` found, tune / Optuna | {b['tune']:.4f} | {b['optuna']:.4f} | "
        f"{b['tune'] - b['optuna']:+.4f} | ≥ 0 |",
    ]
    table = "\n".join(rows)
    print(table)
    if args.markdown:
        args.markdown.write_text(
            f"# Against the peers\n\n`python bench/peers.py --repeats {args.repeats}` on "
            f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores; medians of {args.repeats} "
            f"alternating rounds, each command whole (interpreter, imports, a new sqlite "
            f"store), on the default training split, pipeline and 5×3 folds.\n\n{table}\n"
        )


if __name__ == "__main__":
    main()
