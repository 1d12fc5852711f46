"""Time the `sweep` and `tune` entry points against the shell sweep and one cold `main`, side by
side on fresh scratch stores, and compare tuning's best score with the default grid's.

    python bench/search.py                  # one repeat: about 7 minutes on 2 cores
    python bench/search.py --repeats 2 --markdown bench/SEARCH.md
    python bench/search.py --only tune tune-median tune-halving tune-unpruned --repeats 2

Targets: an 8-value `C` sweep through `-e sweep -P jobs=2` at most 0.3x the README's
`xargs -P 2` over eight `mlflow run`s and at most 2.5x one cold `main`; a 40-trial `tune`
(the default pruner: Wilcoxon on a new study) within 60 s whose best trial scores at least
the best configuration of the default grid. The same `tune` with the median pruner, with
successive halving and without a pruner, run beside it.
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

from speed import store  # this folder's: a new sqlite store

PROJECT = Path(__file__).resolve().parent.parent
VALUES = ["0.01", "0.03", "0.1", "0.3", "1", "3", "10", "30"]
MLFLOW_RUN = [sys.executable, "-m", "mlflow", "run", str(PROJECT), "--env-manager", "local"]
DEFAULT_GRID = ["-P", "C=0.01,0.1,1,10", "-P", "model=logreg,hgb"]
TUNE = [*MLFLOW_RUN, "-e", "tune", "-P", "trials=40", "-P", "jobs=2"]  # the default pruner

SCENARIOS = {
    "shell: xargs -P 2 over 8 `mlflow run -P C=…`": "xargs",
    "`-e sweep` of the same 8 values, jobs=2": "sweep",
    "one cold `main`": "main",
    "`-e tune -P trials=40 -P jobs=2` (default pruner: wilcoxon)": "tune",
    "the same with `-P pruner=median`": "tune-median",
    "the same with `-P pruner=halving`": "tune-halving",
    "the same with `-P pruner=none`": "tune-unpruned",
    "`-e sweep` default grid (C=0.01,0.1,1,10 × model=logreg,hgb), jobs=2": "grid",
}


def command(kind: str) -> list[str]:
    if kind == "xargs":
        runs = " ".join(MLFLOW_RUN)
        return [
            "bash",
            "-c",
            f"printf '%s\\n' {' '.join(VALUES)} | xargs -P 2 -I{{}} {runs} -P C={{}}",
        ]
    return {
        "sweep": [*MLFLOW_RUN, "-e", "sweep", "-P", f"C={','.join(VALUES)}", "-P", "jobs=2"],
        "main": MLFLOW_RUN,
        "tune": TUNE,
        "tune-median": [*TUNE, "-P", "pruner=median"],
        "tune-halving": [*TUNE, "-P", "pruner=halving"],
        "tune-unpruned": [*TUNE, "-P", "pruner=none"],
        "grid": [*MLFLOW_RUN, "-e", "sweep", *DEFAULT_GRID, "-P", "jobs=2"],
    }[kind]


def best_score(uri: str) -> float:
    """The best cv_accuracy of the store's pipeline runs."""
    code = (
        "import mlflow; r = mlflow.search_runs(search_all_experiments=True, "
        "filter_string=\"tags.`titanic.model_uri` LIKE 'models:/%'\", "
        "order_by=['metrics.cv_accuracy DESC'], max_results=1); "
        "print(r['metrics.cv_accuracy'][0])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "MLFLOW_TRACKING_URI": uri},
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.split()[-1])


def pruned_runs(uri: str) -> int:
    """Trials of the store that a pruner stopped (not counting their train steps)."""
    code = (
        "import mlflow; print(len(mlflow.search_runs(search_all_experiments=True, "
        "filter_string=\"tags.`titanic.pruned` LIKE '%' and "
        "tags.`mlflow.project.entryPoint` = 'main'\")))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "MLFLOW_TRACKING_URI": uri},
        capture_output=True,
        text=True,
        check=True,
    )
    return int(out.stdout.split()[-1])


def measure(kind: str, scratch: Path, index: int) -> tuple[float, float, int]:
    """Seconds of one scenario on a new store, the best score it recorded and how many of its
    configurations were pruned."""
    folder = scratch / f"{kind}-{index}"
    env = store(folder)
    uri = env["MLFLOW_TRACKING_URI"]
    started = time.perf_counter()
    done = subprocess.run(command(kind), env=env, cwd=folder, capture_output=True, text=True)
    took = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{kind} failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    return took, best_score(uri), pruned_runs(uri)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    parser.add_argument(
        "--only", nargs="+", choices=SCENARIOS.values(), help="measure only these scenarios"
    )
    args = parser.parse_args()
    kinds = [kind for kind in SCENARIOS.values() if not args.only or kind in args.only]
    seconds: dict[str, list[float]] = {kind: [] for kind in kinds}
    scores: dict[str, list[float]] = {kind: [] for kind in kinds}
    pruned: dict[str, list[int]] = {kind: [] for kind in kinds}
    with tempfile.TemporaryDirectory(prefix="titanic-search-") as scratch:
        for index in range(args.repeats):
            for kind in kinds:  # every repeat measures every scenario in turn
                print(f"repeat {index + 1}/{args.repeats}: {kind} ...", file=sys.stderr, flush=True)
                took, best, stopped = measure(kind, Path(scratch), index)
                seconds[kind].append(took)
                scores[kind].append(best)
                pruned[kind].append(stopped)
    median = {kind: statistics.median(values) for kind, values in seconds.items()}
    top = {kind: max(values) for kind, values in scores.items()}
    rows = [
        f"| {name} | {median[kind]:.1f} | {top[kind]:.4f} | {'/'.join(map(str, pruned[kind]))} |"
        for name, kind in SCENARIOS.items()
        if kind in kinds
    ]
    checks = [
        (name, median[a] / median[b], target)
        for name, a, b, target in (
            ("sweep / xargs", "sweep", "xargs", "≤ 0.3"),
            ("sweep / cold main", "sweep", "main", "≤ 2.5"),
            ("tune / tune without pruner", "tune", "tune-unpruned", ""),
            ("tune median / tune without pruner", "tune-median", "tune-unpruned", ""),
            ("tune halving / tune without pruner", "tune-halving", "tune-unpruned", ""),
        )
        if a in kinds and b in kinds
    ]
    lines = [
        "| scenario | median s | best cv_accuracy | pruned |",
        "|---|---|---|---|",
        *rows,
        "",
        "| figure | measured | target |",
        "|---|---|---|",
        *(f"| {name} | {value:.2f}× | {target} |" for name, value, target in checks),
    ]
    if "tune" in kinds:
        lines.append(f"| tune, 40 trials | {median['tune']:.0f} s | ≤ 60 s |")
        if "grid" in kinds:
            lines.append(
                f"| tune best − default grid best | {top['tune'] - top['grid']:+.4f} | ≥ 0 |"
            )
    table = "\n".join(lines)
    print(table)
    if args.markdown:
        args.markdown.write_text(
            f"# Sweep and tuning benchmark\n\n`python bench/search.py --repeats {args.repeats}` "
            f"on {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores; each scenario on a new "
            f"store after `titanic-init-store`.\n\n{table}\n"
        )


if __name__ == "__main__":
    main()
