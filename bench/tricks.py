"""What each process or private-API trick buys: a figure a user sees, with the project as shipped
and with a copy that has the trick taken out, side by side in alternating rounds.

    python bench/tricks.py                                   # 3 rounds, about 3 minutes
    python bench/tricks.py --repeats 5 --markdown bench/TRICKS.md

A trick stays where it buys at least 10 % of its figure (docs/design.md lists what stays;
bench/TRICKS.md also holds the figures of the tricks that bought less and were taken out).
`main` on more rows uses Kaggle's rows drawn again (bench/speed.py's way), default settings.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from speed import mlflow_run  # this folder's: a timed `mlflow run` on a new store

PROJECT = Path(__file__).resolve().parent.parent
ROWS = 100_000

# name -> (file, the shipped text, the text without the trick, the figure it is measured on)
TRICKS = {
    "PandasDataset.schema inferred from a few rows": (
        "orchestration/record/datasets.py",
        "    logged.schema = from_pandas(schema_rows(passengers), targets=TARGET).schema\n",
        "",
        "rows",
    ),
    "SHAP's numba loops left uncompiled (NUMBA_DISABLE_JIT)": (
        "orchestration/record/evaluation.py",
        'os.environ.setdefault("NUMBA_DISABLE_JIT", "1")\n',
        "",
        "explain",
    ),
}
FIGURES = {
    "rows": f"`main` on {ROWS:,} rows, s",
    "explain": "`main -P model=wcg -P explain=true` (permutation SHAP), s",
}


def copy_without(scratch: Path, name: str) -> Path:
    """A copy of the project (with its git history, which `mlflow run` reads) without `name`."""
    file, shipped, without, _ = TRICKS[name]
    copy = scratch / f"without-{list(TRICKS).index(name)}"
    shutil.copytree(
        PROJECT,
        copy,
        ignore=shutil.ignore_patterns(".venv", "mlflow.db", "mlruns", "mlartifacts", "__pycache__"),
    )
    source = (copy / file).read_text()
    if source.count(shipped) != 1:
        raise SystemExit(f"{file} no longer holds the trick '{name}': update bench/tricks.py")
    (copy / file).write_text(source.replace(shipped, without))
    return copy


def rows_file(scratch: Path) -> Path:
    path = scratch / "rows.csv"
    subprocess.run([sys.executable, "-c", _ROWS, str(ROWS), str(path)], cwd=PROJECT, check=True)
    return path


_ROWS = """
import sys, numpy as np
from pathlib import Path
from titanic.passengers import read_passengers
rows = int(sys.argv[1])
kaggle = read_passengers(Path("data/titanic/train.csv"), with_target=True, source="train.csv")
data = kaggle.sample(rows, replace=True, random_state=0).reset_index(drop=True)
data["PassengerId"] = np.arange(1, rows + 1)
data.to_csv(sys.argv[2], index=False)
"""


def timed(project: Path, folder: Path, figure: str, data: Path) -> float:
    if figure == "explain":
        return mlflow_run(project, folder, "-P", "model=wcg", "-P", "explain=true")
    return mlflow_run(project, folder, "-P", f"data={data}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--markdown", type=Path, help="also write the table to this file")
    args = parser.parse_args()
    shipped: dict[str, list[float]] = {figure: [] for figure in FIGURES}
    without: dict[str, list[float]] = {name: [] for name in TRICKS}
    with tempfile.TemporaryDirectory(prefix="titanic-tricks-") as scratch_name:
        scratch = Path(scratch_name)
        copies = {name: copy_without(scratch, name) for name in TRICKS}
        data = rows_file(scratch)
        for index in range(args.repeats):
            for figure in FIGURES:
                print(f"round {index + 1}/{args.repeats}: {figure} ...", file=sys.stderr)
                where = scratch / f"{figure}-{index}"
                where.mkdir()
                shipped[figure].append(timed(PROJECT, where / "shipped", figure, data))
                for name, (_, _, _, measured_on) in TRICKS.items():
                    if measured_on == figure:
                        folder = where / f"without-{list(TRICKS).index(name)}"
                        without[name].append(timed(copies[name], folder, figure, data))
    rows = [
        "| trick | figure | shipped | without it | it buys |",
        "|---|---|---:|---:|---:|",
    ]
    for name, (_, _, _, figure) in TRICKS.items():
        with_it = statistics.median(shipped[figure])
        without_it = statistics.median(without[name])
        rows.append(
            f"| {name} | {FIGURES[figure]} | {with_it:.2f} | {without_it:.2f} | "
            f"{(without_it - with_it) / without_it:.0%} |"
        )
    table = "\n".join(rows)
    print(table)
    if args.markdown:
        args.markdown.write_text(
            f"# What each trick buys\n\n`python bench/tricks.py --repeats {args.repeats}` on "
            f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores; medians of {args.repeats} "
            f"alternating rounds. A trick stays where it buys at least 10 % of its figure.\n\n"
            f"{table}\n"
        )


if __name__ == "__main__":
    main()
