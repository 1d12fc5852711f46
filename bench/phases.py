"""Where the time of a command goes, phase by phase, on a new store: the command's own process
as `mlflow run` starts it (without the launcher's seconds in front), with the project's
functions timed where they run.

    python bench/phases.py                                  # about a minute
    python bench/phases.py --markdown bench/PHASES.md

A cold `main`; the same `main` again (every step reused); and one configuration as a search's
worker runs it, after an earlier one in the same process (imports done, `prepare` reused): a
sweep's (another `C`) and a tuning trial's (the vote family TPE settles on).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from speed import store  # this folder's: a new sqlite store

PROJECT = Path(__file__).resolve().parent.parent

# In the measured process: the imports timed one by one, then each `main` of the arguments
# (separated by `then`) with the project's phases timed; the last one's phases are printed.
TIMED = """
import importlib, json, runpy, sys, time
started = time.perf_counter()
spent = {}
for name in ("mlflow", "sklearn.pipeline", "skops.io", "orchestration.record.evaluation"):
    t = time.perf_counter(); importlib.import_module(name)
    spent["import " + name] = time.perf_counter() - t

def timed(name, module, attribute):
    owner = importlib.import_module(module)
    inner = getattr(owner, attribute)
    def wrapper(*args, **kwargs):
        t = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            spent[name] = spent.get(name, 0.0) + time.perf_counter() - t
    setattr(owner, attribute, wrapper)

timed("store calls", "orchestration.stores", "ride_through")
timed("cross-validation", "titanic.models", "fold_accuracies")
timed("model logged (skops, MLmodel, requirements)", "orchestration.record.models", "log_model")
timed("model read back", "orchestration.record.models", "trusted_model")
timed("cache keys (code digests, input digests)", "orchestration.cache.reuse", "cache_key")
timed("datasets", "orchestration.record.datasets", "dataset")
commands = [[]]
for word in sys.argv[1:]:
    commands.append([]) if word == "then" else commands[-1].append(word)
for argv in commands:
    if argv is not commands[0]:
        spent = {}
    t = time.perf_counter()
    sys.argv = ["steps.main", *argv]
    try:
        runpy.run_module("steps.main", run_name="__main__")
    except SystemExit as ended:
        assert not ended.code, ended.code
    spent["the command"] = time.perf_counter() - t
spent["the whole process"] = time.perf_counter() - started
print(json.dumps(spent))
"""

MEASURED = {
    "cold `main`": [],
    "`main` again, every step reused": [],
    "a sweep's configuration": ["--C", "0.5", "then", "--C", "0.3"],
    "a tuning trial's configuration": [
        *("--model", "vote", "--n_trees", "100", "then"),
        *("--model", "vote", "--n_trees", "120", "--learning_rate", "0.05"),
    ],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="titanic-phases-") as scratch:
        env = store(Path(scratch) / "store")
        for label, argv in MEASURED.items():
            print(f"{label} ...", file=sys.stderr, flush=True)
            done = subprocess.run(
                [sys.executable, "-c", TIMED, *argv],
                cwd=PROJECT,
                env=env,
                check=True,
                capture_output=True,
                text=True,
            )
            results[label] = json.loads(done.stdout.strip().splitlines()[-1])
    phases = sorted({name for spent in results.values() for name in spent}, key=_order)
    rows = ["| phase, s | " + " | ".join(results) + " |", "|---|" + "---:|" * len(results)]
    for name in phases:
        cells = [f"{spent[name]:.2f}" if name in spent else "" for spent in results.values()]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    table = "\n".join(rows)
    print(table)
    if args.markdown:
        args.markdown.write_text(
            f"# Where the time goes\n\n`python bench/phases.py` on {time.strftime('%Y-%m-%d')}, "
            f"{os.cpu_count()} cores, one new sqlite store. Each column is one process as "
            f"`mlflow run` starts an entry point (its start-up, about 2.7 s, comes on top); a "
            f"configuration's columns time the second `main` of a process that ran one "
            f"before, as a search's worker runs its configurations after the first. An "
            f"import row is the time to import that package after the ones above it; the "
            f"phases below overlap where one calls another (store calls are inside every "
            f"other).\n\n{table}\n"
        )


def _order(name: str) -> tuple[int, str]:
    return (0 if name.startswith("import") else 2 if name.startswith("the ") else 1, name)


if __name__ == "__main__":
    main()
