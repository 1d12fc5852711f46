"""MLproject and docs/parameters.md's table, written from the parameter table
(`orchestration.project.params`): the files MLflow and a reader read, never edited by hand.

    python -m orchestration.project.mlproject        # after changing a parameter

tests/test_project_files.py fails when either file differs from what this writes.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import yaml

from orchestration.project.params import ENTRY_POINTS, PARAMETERS

PROJECT_DIR = Path(__file__).resolve().parents[2]
MLPROJECT = PROJECT_DIR / "MLproject"
PARAMETERS_PAGE = PROJECT_DIR / "docs" / "parameters.md"
TABLE_START, TABLE_END = "<!-- parameters table: start -->", "<!-- parameters table: end -->"

WHAT = {
    "prepare": "Check the raw passenger file and split it into training and validation rows.",
    "train": "Fit a model family on a feature set; cross-validate it; log the model.",
    "evaluate": "Score the model on the validation rows; write the Kaggle submission.",
    "main": "prepare -> train -> evaluate as nested runs, reusing unchanged steps.",
    "promote": "Register a run's model; make it the champion if the selection rule prefers it.",
    "sweep": "A grid: every main parameter takes a comma-separated list; a child run each.",
    "tune": "Optuna searches families, hyperparameters and feature sets; a child run a trial.",
}


def _scalar(value: str, kind: str) -> str:
    """A default as YAML writes it: numbers bare, text quoted where YAML would misread it."""
    if kind in ("int", "float"):
        return value
    return yaml.safe_dump(value, default_style=None).removesuffix("\n...\n").strip()


def mlproject_text() -> str:
    lines = [
        "# Written by `python -m orchestration.project.mlproject` from the parameter table in",
        "# orchestration/project/params.py: edit that, not this (a test fails when they differ).",
        "# MLflow does not check `int`/`float` values: the steps do, and stop with one line.",
        "name: titanic",
        "",
        "python_env: python_env.yaml",
        "",
        "entry_points:",
    ]
    for entry_point in ENTRY_POINTS:
        declared = {p.name: p for p in PARAMETERS if entry_point in p.entry_points}
        # Each `--name {name}` pair kept on one line: `\xa0` holds it together while wrapping.
        words = [f"python -m steps.{entry_point}", *(f"--{n}\xa0{{{n}}}" for n in declared)]
        lines += [f"  # {WHAT[entry_point]}", f"  {entry_point}:", "    parameters:"]
        for name, p in declared.items():
            default = "" if p.default is None else f", default: {_scalar(p.default, p.type)}"
            lines.append(f"      {name}: {{type: {p.type}{default}}}")
        wrapped = textwrap.wrap(" ".join(words), width=92, break_on_hyphens=False)
        lines += ["    command: >-", *(f"      {line.replace(chr(160), ' ')}" for line in wrapped)]
        lines.append("")
    return "\n".join(lines)


def parameters_table() -> str:
    rows = [
        "| parameter | entry points | type | default | meaning |",
        "|---|---|---|---|---|",
    ]
    for p in PARAMETERS:
        default = "required" if p.default is None else f"`{p.default}`"
        where = ", ".join(f"`{e}`" for e in p.entry_points)
        rows.append(f"| `{p.name}` | {where} | {p.type} | {default} | {p.meaning} |")
    return "\n".join([TABLE_START, *rows, TABLE_END])


def parameters_page(page: str) -> str:
    """`page` with its table replaced by the one the parameter table gives."""
    found = re.compile(f"{re.escape(TABLE_START)}.*?{re.escape(TABLE_END)}", re.S)
    return found.sub(lambda _: parameters_table(), page, count=1)


def command_arguments(entry_point: str) -> dict[str, str]:
    """The `--name {placeholder}` pairs MLproject's command for an entry point passes: MLflow
    fills only the placeholders a command names, so a declared parameter missing there would
    be dropped."""
    spec = yaml.safe_load(MLPROJECT.read_text())["entry_points"][entry_point]
    return dict(re.findall(r"--(\w+) \{(\w+)\}", spec["command"]))


def main() -> None:
    MLPROJECT.write_text(mlproject_text())
    PARAMETERS_PAGE.write_text(parameters_page(PARAMETERS_PAGE.read_text()))
    print(f"wrote {MLPROJECT} and the table of {PARAMETERS_PAGE}")


if __name__ == "__main__":
    main()
