"""Two versions of the project side by side: a cold `main` and a sweep, at a base revision and
at this checkout, alternating round by round so that machine noise falls on both alike.

    python bench/versions.py --base dcae4f7                     # 3 rounds, about 4 minutes
    python bench/versions.py --base dcae4f7 --repeats 5 --markdown bench/VERSIONS.md

The base runs from a git worktree in a scratch folder, with this environment's packages:
install what the base needs beside them first (before skops replaced it, the base needs
`pip install category-encoders==2.11.2`). A sweep configuration's time is its run's own
(start to end, as the store records it), the median over the sweep's 8 configurations.
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

from mlflow.tracking import MlflowClient
from speed import mlflow_run  # this folder's: a timed `mlflow run` on a new store

PROJECT = Path(__file__).resolve().parent.parent
SWEEP = ("-e", "sweep", "-P", "C=0.01,0.03,0.1,0.3,1,3,10,30", "-P", "jobs=2")


def configuration_seconds(uri: str) -> float:
    """The median of a sweep's configuration runs' own durations."""
    client = MlflowClient(uri)
    runs = client.search_runs(
        [e.experiment_id for e in client.search_experiments()],
        "tags.`mlflow.project.entryPoint` = 'main'",
    )
    return statistics.median((r.info.end_time - r.info.start_time) / 1000 for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the revision to compare with")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args()
    base = subprocess.run(
        ["git", "rev-parse", "--short", args.base],
        cwd=PROJECT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    figures: dict[str, dict[str, list[float]]] = {
        side: {"main": [], "sweep": [], "configuration": []} for side in ("base", "this")
    }
    with tempfile.TemporaryDirectory(prefix="titanic-versions-") as scratch:
        worktree = Path(scratch) / "base"
        subprocess.run(
            ["git", "worktree", "add", "--detach", str(worktree), base],
            cwd=PROJECT,
            check=True,
            capture_output=True,
        )
        try:
            for index in range(args.repeats):
                for side, checkout in (("base", worktree), ("this", PROJECT)):
                    print(
                        f"round {index + 1}/{args.repeats}: {side} ...", file=sys.stderr, flush=True
                    )
                    where = Path(scratch) / f"{side}-{index}"
                    where.mkdir()
                    figures[side]["main"].append(mlflow_run(checkout, where / "main"))
                    figures[side]["sweep"].append(mlflow_run(checkout, where / "sweep", *SWEEP))
                    figures[side]["configuration"].append(
                        configuration_seconds(f"sqlite:///{where / 'sweep' / 'mlflow.db'}")
                    )
        finally:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(worktree)],
                cwd=PROJECT,
                check=True,
                capture_output=True,
            )
    rows = ["| figure | base " + base + " | this checkout | this / base |", "|---|---|---|---|"]
    for name, label in (
        ("main", "cold `main`, s"),
        ("sweep", "sweep of 8 `C` values, 2 jobs, s"),
        ("configuration", "one sweep configuration's run, s"),
    ):
        before = statistics.median(figures["base"][name])
        after = statistics.median(figures["this"][name])
        rows.append(f"| {label} | {before:.2f} | {after:.2f} | {after / before:.2f}× |")
    table = "\n".join(rows)
    print(table)
    if args.markdown:
        args.markdown.write_text(
            f"# Two versions side by side\n\n`python bench/versions.py --base {args.base} "
            f"--repeats {args.repeats}` on {time.strftime('%Y-%m-%d')}, {os.cpu_count()} "
            f"cores; medians of {args.repeats} alternating rounds.\n\n{table}\n"
        )


if __name__ == "__main__":
    main()
