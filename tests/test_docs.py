"""The pages' code runs as written: docs/tutorial.md, every block, on a scratch store."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from conftest import PROJECT, run_env

pytestmark = pytest.mark.slow

FENCED = re.compile(r"^```(\w+)\n(.*?)^```", re.MULTILINE | re.DOTALL)


def blocks(page: Path, language: str) -> list[str]:
    return [code for lang, code in FENCED.findall(page.read_text()) if lang == language]


def test_the_tutorial_runs_as_written(store: str, tmp_path: Path) -> None:
    page = PROJECT / "docs" / "tutorial.md"
    # Made here first only so that its artifacts stay in the scratch folder.
    MlflowClient().create_experiment("titanic-tutorial",
                                     artifact_location=(tmp_path / "tutorial").as_uri())
    # A user's shell, with the scratch store: no experiment chosen beforehand.
    env = {k: v for k, v in run_env().items() if k != "MLFLOW_EXPERIMENT_NAME"}
    commands = [line for code in blocks(page, "bash") for line in code.splitlines()
                if line.strip()]
    assert len(commands) == 4
    for command in commands:
        done = subprocess.run(["bash", "-c", command], cwd=PROJECT, env=env,
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, (command, done.stderr[-3000:])
    board = done.stdout  # the leaderboard, last

    script = "\n".join(blocks(page, "python"))
    ran = subprocess.run([sys.executable, "-c", script], cwd=PROJECT, env=env,
                         capture_output=True, text=True, timeout=600)
    assert ran.returncode == 0, ran.stderr[-3000:]
    out = ran.stdout
    assert "logreg 1.5\n0.8353\n0.8744\n" in out  # the README's figures for the defaults
    assert ("Pipeline ['title', 'family', 'ticket', 'cabin', 'age', 'group', 'encode', "
            "'classify']") in out
    assert "['PassengerId', 'Survived', 'probability']" in out
    assert "shap_summary_plot.png" in out and "roc_curve_plot.png" in out
    # The comparison: three pipeline runs, best cv_accuracy first.
    ranked = [line.strip().rsplit(maxsplit=3) for line in out.splitlines()
              if line.strip().startswith(("logreg C=", "rf n_trees"))]
    assert sorted(name for name, *_ in ranked) == ["logreg C=0.3", "logreg C=1.5",
                                                   "rf n_trees=100"]
    scores = [float(cv) for _, cv, _, _ in ranked]
    assert scores == sorted(scores, reverse=True)
    # The leaderboard lists the same three.
    assert sum(name in board for name in ("logreg C=0.3", "logreg C=1.5", "rf n_trees=100")) == 3
