"""Time the `sweep` and `tune` entry points against the shell sweep and one cold `main`, side by
side on fresh scratch stores, and compare tuning's best score with the default grid's.

    python bench/search.py                  # one repeat: about 5 minutes on 2 cores
    python bench/search.py --repeats 2 --markdown bench/SEARCH.md

Targets: an 8-value `C` sweep through `-e sweep -P jobs=2` at most 0.3x the README's
`xargs -P 2` over eight `mlflow run`s and at most 2.5x one cold `main`; a 40-trial `tune`
within 2 minutes whose best trial scores at least the best configuration of the default grid.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
VALUES = ["0.01", "0.03", "0.1", "0.3", "1", "3", "10", "30"]
MLFLOW_RUN = [sys.executable, "-m", "mlflow", "run", str(PROJECT), "--env-manager", "local"]
DEFAULT_GRID = ["-P", "C=0.01,0.1,1,10", "-P", "model=logreg,hgb"]

SCENARIOS = {
    "shell: xargs -P 2 over 8 `mlflow run -P C=…`": "xargs",
    "`-e sweep` of the same 8 values, jobs=2": "sweep",
    "one cold `main`": "main",
    "`-e tune -P trials=40 -P jobs=2`": "tune",
    "`-e sweep` default grid (C=0.01,0.1,1,10 × model=logreg,hgb), jobs=2": "grid",
}


def command(kind: str) -> list[str]:
    if kind == "xargs":
        runs = " ".join(MLFLOW_RUN)
        return ["bash", "-c", f"printf '%s\\n' {' '.join(VALUES)} | "
                              f"xargs -P 2 -I{{}} {runs} -P C={{}}"]
    return {"sweep": [*MLFLOW_RUN, "-e", "sweep", "-P", f"C={','.join(VALUES)}", "-P", "jobs=2"],
            "main": MLFLOW_RUN,
            "tune": [*MLFLOW_RUN, "-e", "tune", "-P", "trials=40", "-P", "jobs=2"],
            "grid": [*MLFLOW_RUN, "-e", "sweep", *DEFAULT_GRID, "-P", "jobs=2"]}[kind]


def best_score(uri: str) -> float:
    """The best cv_accuracy of the store's pipeline runs."""
    code = ("import mlflow; r = mlflow.search_runs(search_all_experiments=True, "
            "filter_string=\"tags.`titanic.model_uri` LIKE 'models:/%'\", "
            "order_by=['metrics.cv_accuracy DESC'], max_results=1); "
            "print(r['metrics.cv_accuracy'][0])")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ,
                         "MLFLOW_TRACKING_URI": uri}, capture_output=True, text=True, check=True)
    return float(out.stdout.split()[-1])


def measure(kind: str, scratch: Path, index: int) -> tuple[float, float]:
    """Seconds of one scenario on a new store, and the best score it recorded."""
    folder = scratch / f"{kind}-{index}"
    folder.mkdir()
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri}
    env.pop("MLFLOW_EXPERIMENT_NAME", None)
    # The README's set-up for a new store, so that only the work itself is timed.
    subprocess.run([sys.executable, str(PROJECT / "tools" / "init_store.py")], env=env,
                   check=True, capture_output=True)
    started = time.perf_counter()
    subprocess.run(command(kind), env=env, cwd=folder, check=True, capture_output=True)
    return time.perf_counter() - started, best_score(uri)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args()
    seconds: dict[str, list[float]] = {kind: [] for kind in SCENARIOS.values()}
    scores: dict[str, list[float]] = {kind: [] for kind in SCENARIOS.values()}
    with tempfile.TemporaryDirectory(prefix="titanic-search-") as scratch:
        for index in range(args.repeats):
            for kind in SCENARIOS.values():  # every repeat measures every scenario in turn
                print(f"repeat {index + 1}/{args.repeats}: {kind} ...", file=sys.stderr,
                      flush=True)
                took, best = measure(kind, Path(scratch), index)
                seconds[kind].append(took)
                scores[kind].append(best)
    median = {kind: statistics.median(values) for kind, values in seconds.items()}
    top = {kind: max(values) for kind, values in scores.items()}
    rows = [f"| {name} | {median[kind]:.1f} | {top[kind]:.4f} |"
            for name, kind in SCENARIOS.items()]
    checks = [
        ("sweep / xargs", median["sweep"] / median["xargs"], "≤ 0.3"),
        ("sweep / cold main", median["sweep"] / median["main"], "≤ 2.5"),
    ]
    lines = ["| scenario | median s | best cv_accuracy |", "|---|---|---|", *rows, "",
             "| ratio | measured | target |", "|---|---|---|",
             *(f"| {name} | {value:.2f}× | {target} |" for name, value, target in checks),
             f"| tune, 40 trials | {median['tune']:.0f} s | ≤ 120 s |",
             f"| tune best − default grid best | {top['tune'] - top['grid']:+.4f} | ≥ 0 |"]
    table = "\n".join(lines)
    print(table)
    if args.markdown:
        args.markdown.write_text(
            f"# Sweep and tuning benchmark\n\n`python bench/search.py --repeats {args.repeats}` "
            f"on {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores; each scenario on a new "
            f"store after `tools/init_store.py`.\n\n{table}\n")


if __name__ == "__main__":
    main()
