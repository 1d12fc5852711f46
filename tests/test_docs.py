"""The pages' commands run as written: every shell block of README.md and docs/ is marked, and
each mark names a test that runs it (here, or beside the machinery it documents)."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from mlflow.tracking import MlflowClient

from tests.pages import (
    SHELL,
    all_blocks,
    bare,
    block,
    commands,
    fill,
    marked,
    ran,
    started,
    wait_for_http,
)
from tests.support import PROJECT, free_port, matched, run_env

TESTS = Path(__file__).parent


def keys_the_tests_run() -> set[str]:
    """Every KEY a test passes to `block(KEY, …)` or `marked(KEY)`."""
    keys = set()
    for module in TESTS.glob("test_*.py"):
        for node in ast.walk(ast.parse(module.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("block", "marked")
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                keys.add(str(node.args[0].value))
    return keys


def test_every_shell_block_is_marked_and_every_mark_is_run() -> None:
    found = all_blocks()
    unmarked = [b.where for b in found if b.language in SHELL and b.mark is None]
    assert not unmarked, (
        f"mark these blocks `<!-- run: KEY -->` or `<!-- not run: why -->`: {unmarked}"
    )
    run_keys = {b.key for b in found if b.mark == "run"}
    assert run_keys == keys_the_tests_run(), "each run mark is a block a test runs, and back"
    assert len(run_keys) >= 20
    for b in found:
        if b.mark == "not run":  # the reason is said on the page too, not only in the mark
            assert b.key and b.key in b.page.read_text().replace(f"<!-- not run: {b.key}", ""), (
                b.where
            )


def test_ci_runs_the_quick_starts_set_up_the_checks_and_the_readmes_test_command() -> None:
    """Those install into a new environment or check the whole tree: `.ci/run` runs them as
    written, in the README's order, on CI."""
    ci = (PROJECT / ".ci" / "run").read_text().splitlines()
    set_up = commands(block("quick-start"))[0]
    (checks,) = commands(block("ci-checks"))
    (test_command,) = commands(block("ci-tests"))
    assert ci.index(set_up) < ci.index(checks)
    assert ci[-1] == test_command


@pytest.mark.slow
def test_the_tutorial_runs_as_written(store: str, tmp_path: Path) -> None:
    tutorial = marked("tutorial")
    # Made here first only so that its artifacts stay in the scratch folder.
    MlflowClient().create_experiment(
        "titanic-tutorial", artifact_location=(tmp_path / "tutorial").as_uri()
    )
    # A user's shell, with the scratch store: no experiment chosen beforehand.
    env = {k: v for k, v in run_env().items() if k != "MLFLOW_EXPERIMENT_NAME"}
    script = "\n".join(b.text for b in tutorial if b.language == "bash")
    assert len(commands(script)) == 4
    board = ran(script, PROJECT, env=env)  # the leaderboard, last

    python = "\n".join(b.text for b in tutorial if b.language == "python")
    done = subprocess.run(
        [sys.executable, "-c", python],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "logreg 1.5\n0.8353\n0.8744\n" in out  # the README's figures for the defaults
    assert (
        "Pipeline ['title', 'family', 'ticket', 'cabin', 'age', 'group', 'encode', 'classify']"
    ) in out
    assert "['PassengerId', 'Survived', 'probability']" in out
    assert "shap_summary_plot.png" in out and "roc_curve_plot.png" in out
    # The comparison: three pipeline runs, best cv_accuracy first.
    ranked = [
        line.strip().rsplit(maxsplit=3)
        for line in out.splitlines()
        if line.strip().startswith(("logreg C=", "rf n_trees"))
    ]
    assert sorted(name for name, *_ in ranked) == ["logreg C=0.3", "logreg C=1.5", "rf n_trees=100"]
    scores = [float(cv) for _, cv, _, _ in ranked]
    assert scores == sorted(scores, reverse=True)
    # The leaderboard lists the same three.
    assert sum(name in board for name in ("logreg C=0.3", "logreg C=1.5", "rf n_trees=100")) == 3


def post(port: int, records: list[dict[str, object]]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/invocations",
        headers={"Content-Type": "application/json"},
        data=json.dumps({"dataframe_records": records}).encode(),
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


@pytest.mark.slow
def test_the_readme_tour_and_the_results_page_as_written(project_copy: Path) -> None:
    """README's main commands, then docs/results.md's, in a fresh copy of the project with
    its own `mlflow.db` and no tracking settings: a new user's folder."""
    here = project_copy
    env = {
        k: v
        for k, v in run_env().items()
        if k not in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME")
    }
    ran("titanic-init-store", here, env=env)  # the quick start's set-up, last part

    tour = commands(block("readme-tour"))
    *batch, serve = tour
    # docs/searches.md's sweep and tune are the README's, word for word.
    assert {bare(c) for c in commands(block("sweep")) + commands(block("tune"))} <= {
        bare(c) for c in tour
    }
    out = ran("\n".join(batch), here, env=env)
    assert out.count("configurations under run") == 2  # the sweep's and tune's reports
    assert "Registered titanic version 1" in out
    board = ran(block("leaderboard"), here, env=env)
    table, markdown = board.split("\n|", 1)  # the table, then hgb's runs in markdown
    assert table.startswith("when ") and "cv_accuracy" in table
    assert re.search(r"^\|[-:| ]+\|$", markdown, re.MULTILINE) and "model=hgb" in markdown

    rows = json.loads(ran("titanic-leaderboard --format json --limit 100", here, env=env))
    # The selection rule's choice heads the board and is what promote run=best registered;
    # every other row is marked against the best mean, with its standard error.
    (champion,) = [r for r in rows if r["alias"] == "champion"]
    assert rows[0] == champion and champion["selection"] == "chosen"
    assert {r["selection"] for r in rows[1:]} <= {"best mean", "tied", "worse"}
    assert any(r["selection"] == "tied" for r in rows) and all(r["cv_accuracy_se"] for r in rows)
    # The baselines ran as the tour writes them: gender below the rest, the published
    # woman-child-group rule as good as the fitted models as far as the folds can tell.
    baselines = {r["model"]: r for r in rows if r.get("model") in ("gender", "wcg")}
    assert set(baselines) == {"gender", "wcg"}
    assert baselines["gender"]["selection"] == "worse"
    assert baselines["wcg"]["selection"] in ("chosen", "tied")
    # The family built on that rule is on the board too (from main, and maybe from tune's
    # trials), and at its best scores above it.
    plus = [float(r["cv_accuracy"]) for r in rows if r.get("model") == "wcgplus"]
    assert plus and max(plus) > float(baselines["wcg"]["cv_accuracy"])
    worse = baselines["gender"]
    promoted = ran(block("promote", {"<run_id>": worse["run_id"]}), here, env=env)
    assert "stays: this model is worse on the same folds (p = 0." in promoted
    assert "champion anyway" in promoted

    # The champion, used as the page shows it: from this folder's store, then served.
    use = commands(block("champion"))
    assert bare(use[-1]) == bare(serve)  # the README serves it the same way
    ran("\n".join(use[:-1]), here, env=env)
    predictions = json.loads((here / "predictions.json").read_text())["predictions"]
    assert len(predictions) == 418
    assert set(predictions[0]) == {"PassengerId", "Survived", "probability"}
    port = str(free_port())
    with started(
        f"{use[0]}\n{fill(serve, {'--port 5001': f'--port {port}'})}", here, env=env
    ) as proc:
        wait_for_http(f"http://127.0.0.1:{port}/health", proc)
        curl = block("curl", {"127.0.0.1:5001": f"127.0.0.1:{port}"})
        answer = json.loads(ran(curl, here, env=env))["predictions"]
        assert [p["PassengerId"] for p in answer] == [892, 893]
        assert all(p["Survived"] in (0, 1) and 0 <= p["probability"] <= 1 for p in answer)
        # The refusals the page describes, and the server stays up.
        row = json.loads(matched(r"-d '(.*)'", curl, re.DOTALL)[1])["dataframe_records"][0]
        status, body = post(int(port), [{k: v for k, v in row.items() if k != "Sex"}])
        # (MLflow's server puts the rows it was sent before the model's reason.)
        assert status == 400 and "Error: input lacks required column(s) Sex:" in body["message"]
        status, body = post(int(port), [{**row, "Age": "abc"}])
        assert status == 400 and (
            "Error: input column Age must be numeric: found 'abc' on row(s) 1;" in body["message"]
        )
        assert post(int(port), [row])[0] == 200
        # One passenger as a CSV: its ticket of digits and empty cabin read as numbers.
        one = urllib.request.Request(
            f"http://127.0.0.1:{port}/invocations",
            headers={"Content-Type": "text/csv"},
            data="".join((here / "data" / "titanic" / "test.csv").open().readlines()[:2]).encode(),
        )
        with urllib.request.urlopen(one, timeout=60) as answer:
            assert [p["PassengerId"] for p in json.loads(answer.read())["predictions"]] == [892]

    # The page's Python, by the champion's model id.
    model_id = champion["model_uri"].removeprefix("models:/")
    python = "\n".join(
        [
            block(
                "load-pyfunc",
                {"/home/you/titanic/mlflow.db": str(here / "mlflow.db"), "m-4d8e…": model_id},
            ),
            block("load-sklearn", {"m-4d8e…": model_id}),
        ]
    )
    loaded = subprocess.run(
        [sys.executable, "-c", python],
        cwd=here,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert loaded.returncode == 0, loaded.stderr[-3000:]

    # `mlflow ui` on this folder's store, on a free port (MLflow reads MLFLOW_PORT).
    port = str(free_port())
    with started(block("ui"), here, env={**env, "MLFLOW_PORT": port}) as proc:
        wait_for_http(f"http://127.0.0.1:{port}/health", proc)
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/api/2.0/mlflow/registered-models/alias"
            f"?name=titanic&alias=champion",
            timeout=30,
        ) as answer:
            assert json.loads(answer.read())["model_version"]["version"]
