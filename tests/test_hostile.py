"""Hostile input and faults through `mlflow run`: whatever comes in ends with one line that says
what is wrong and how to fix it (or a clean run that records what was odd), no run left
RUNNING, and nothing FINISHED for work that was interrupted."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from tests.support import (
    BIN,
    PROJECT,
    QUICK,
    all_runs,
    error_lines,
    finished,
    mlflow_run,
    mlflow_run_command,
    parents,
    run_env,
    run_here,
    started_mlflow_run,
)

pytestmark = pytest.mark.slow  # hostile input and faults through `mlflow run`

TRAIN_CSV = PROJECT / "data" / "titanic" / "train.csv"


def statuses() -> dict[str, str]:
    """Final status of each run, the parent named `main`, the steps by name."""
    return {
        ("main" if "mlflow.parentRunId" not in r.data.tags else r.info.run_name): r.info.status
        for r in all_runs()
    }


def edited(change: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / "passengers.csv"
        change(pd.read_csv(TRAIN_CSV)).to_csv(path, index=False)
        return path

    return make


def semicolons(folder: Path) -> Path:
    """Excel's export in many locales: `;` between fields, decimal commas."""
    path = folder / "passengers.csv"
    pd.read_csv(TRAIN_CSV).to_csv(path, index=False, sep=";", decimal=",")
    return path


def latin1(folder: Path) -> Path:
    path = folder / "passengers.csv"
    path.write_bytes(TRAIN_CSV.read_text().replace("Braund", "Bräund").encode("latin-1"))
    return path


def folder_itself(folder: Path) -> Path:
    (folder / "train.csv").write_bytes(TRAIN_CSV.read_bytes())
    return folder


def every_nth(column: str, value: object, step: int = 50) -> Callable[[Path], Path]:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame[column] = frame[column].astype(object)
        frame.loc[frame.index[3::step], column] = value
        return frame

    return edited(change)


def duplicated_ids(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([frame, frame.iloc[[10, 20]]])


# case: (make the data file, extra -P, the error line expected or None for a clean success)
CASES: dict[str, tuple[Callable[[Path], Path], tuple[str, ...], str | None]] = {
    "Embarked empty in every row": (edited(lambda f: f.assign(Embarked=None)), (), None),
    "a few empty SibSp, Parch, Pclass": (
        edited(
            lambda f: f.assign(
                SibSp=f["SibSp"].where(f.index % 97 != 5),
                Parch=f["Parch"].where(f.index % 89 != 7),
                Pclass=f["Pclass"].where(f.index % 83 != 9),
            )
        ),
        (),
        None,
    ),
    "semicolons and decimal commas": (semicolons, (), None),
    "Latin-1 text": (latin1, (), None),
    "Fare of inf": (
        every_nth("Fare", np.inf, 1000),
        (),
        r"column Fare holds an infinite value on line\(s\) 5; correct",
    ),
    "Age 'twenty'": (
        every_nth("Age", "twenty"),
        (),
        r"column Age must be numeric: found 'twenty' on line\(s\) 5, 55, 105 and "
        r"15 more; correct those cells or leave them empty",
    ),
    "a folder as data": (
        folder_itself,
        (),
        r"data is a folder, not a file: .*: pass the CSV inside it, e\.g\. "
        r"-P data=.*train\.csv",
    ),
    "4 rows": (
        edited(lambda f: f.head(4)),
        (),
        r"test_size=0\.25 of 4 rows leaves 1 validation row\(s\); metrics need at least "
        r"20: raise test_size or use more rows",
    ),
    "test_size=1e-9": (
        edited(lambda f: f),
        ("-P", "test_size=1e-9"),
        r"leaves 1 validation row\(s\); metrics need at least 20",
    ),
    "duplicated PassengerId": (
        edited(duplicated_ids),
        (),
        r"repeats PassengerId 11, 21 \(lines 12, 22, 893 and 1 more\): a "
        r"passenger in both splits inflates the metrics; remove the "
        r"duplicate rows",
    ),
    "columns of another file": (
        edited(lambda f: f[["PassengerId", "Name"]]),
        (),
        r"lacks required column\(s\) Survived, Pclass, Sex.*the columns "
        r"read were: PassengerId, Name",
    ),
}


# A clean success and a refusal through `mlflow run`; the other cases take one of those two
# paths, in this process.
THROUGH_MLFLOW_RUN = ("semicolons and decimal commas", "Age 'twenty'")


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_data(store: str, tmp_path: Path, case: str) -> None:
    make, extra, says = CASES[case]
    launch = mlflow_run if case in THROUGH_MLFLOW_RUN else run_here
    result = launch("-P", f"data={make(tmp_path)}", *extra, *QUICK)
    if says is None:
        assert result.returncode == 0, result.stderr[-3000:]
        assert "Traceback" not in result.stderr
        assert statuses() == {
            "main": "FINISHED",
            "prepare": "FINISHED",
            "train": "FINISHED",
            "evaluate": "FINISHED",
        }
        (parent,) = parents()
        assert parent.data.metrics["cv_accuracy"] > 0.75
        return
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    (line,) = error_lines(result)
    assert re.search(f"step prepare failed: .*{says}", line), line
    assert statuses() == {"main": "FAILED", "prepare": "FAILED"}
    for run in all_runs():  # the reason is on each FAILED run, for the UI
        assert re.search(says, run.data.tags["titanic.error"]), run.data.tags
        assert run.data.tags["mlflow.note.content"].startswith("**Failed**: ")


def test_an_unknown_parameter_names_the_ones_that_exist(store: str) -> None:
    result = mlflow_run("-P", "foo=1")
    assert result.returncode != 0
    assert "usage:" not in result.stderr
    (line,) = error_lines(result)
    assert line.startswith(
        "titanic: error: unknown parameter(s) foo for main: it takes data, "
        "test_size, seed, model, features, C,"
    ), line
    assert statuses() == {"main": "FAILED"}
    assert "unknown parameter(s) foo" in all_runs()[0].data.tags["titanic.error"]


def test_solver_that_does_not_converge_is_recorded(store: str) -> None:
    result = run_here("-P", "features=tutorial", "-P", "solver=saga", "-P", "max_iter=20", *QUICK)
    assert result.returncode == 0, result.stderr[-3000:]
    train = next(r for r in all_runs() if r.info.run_name == "train")
    says = "the saga solver did not converge within max_iter=20 iterations: raise max_iter"
    assert says in train.data.tags["titanic.warning"]
    assert f"Warning (train): {says}" in result.stdout


def test_categories_never_seen_in_training_are_counted(store: str, tmp_path: Path) -> None:
    assert run_here(*QUICK).returncode == 0
    (parent,) = parents()
    test_data = tmp_path / "test.csv"
    odd = pd.read_csv(PROJECT / "data" / "titanic" / "test.csv")
    odd.loc[:2, "Sex"] = "other"
    odd.to_csv(test_data, index=False)
    prepare = next(r for r in all_runs() if r.info.run_name == "prepare")
    result = run_here(
        "-e",
        "evaluate",
        "-P",
        f"model_uri={parent.data.tags['titanic.model_uri']}",
        "-P",
        f"prepared={prepare.data.tags['titanic.output.prepared']}",
        "-P",
        f"test_data={test_data}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    evaluate = all_runs()[-1]
    assert evaluate.data.metrics["unseen_values_test"] == 3
    assert evaluate.data.metrics["unseen_values_valid"] == 0
    assert (
        "test rows hold values no training row has, scored as unknown: Sex='other' ×3"
        in evaluate.data.tags["titanic.warning"]
    )
    assert re.search(r"^  unseen_values_test +3\.0000$", result.stdout, re.M), result.stdout
    assert re.search(r"^  val_accuracy +0\.\d{4}$", result.stdout, re.M)  # metrics printed


# --- faults ---------------------------------------------------------------------------------


def start_main(*args: str, new_session: bool = True) -> subprocess.Popen[str]:
    return started_mlflow_run(
        mlflow_run_command("-P", "force=all", *args), start_new_session=new_session
    )


def running_step(proc: subprocess.Popen[str], name: str = "train") -> mlflow.entities.Run:
    """Wait until the step `name` is RUNNING and has recorded its process."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        for run in all_runs():
            if (
                run.info.run_name == name
                and run.info.status == "RUNNING"
                and "titanic.pid" in run.data.tags
            ):
                return run
        time.sleep(0.1)
    raise AssertionError(f"{name} was not seen running: {proc.communicate()[1][-2000:]}")


def settled(deadline_s: float = 60) -> dict[str, str]:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline and "RUNNING" in statuses().values():
        time.sleep(0.2)
    return statuses()


def test_kill_9_of_a_step_is_marked_failed_by_the_next_command(store: str) -> None:
    proc = start_main()
    train = running_step(proc)
    os.kill(int(train.data.tags["titanic.pid"]), signal.SIGKILL)
    finished(proc, timeout=120)
    assert statuses()["train"] == "RUNNING"  # nobody was left to end it

    later = run_here("-e", "prepare")  # the next command, whatever launched it
    assert later.returncode == 0, later.stderr[-3000:]
    dead = next(r for r in all_runs() if r.info.run_id == train.info.run_id)
    assert dead.info.status == "FAILED"
    assert re.search(
        r"marked FAILED by a later command: its process \d+ on .* is gone",
        dead.data.tags["titanic.error"],
    )
    assert "RUNNING" not in statuses().values()


@pytest.mark.parametrize(
    "how", ["SIGTERM to mlflow run alone", "timeout expiring", "store locked when the signal lands"]
)
def test_mlflow_run_terminated_alone_ends_the_runs_killed(store: str, how: str) -> None:
    """A scheduler or `timeout` signals `mlflow run` alone; the step process must not carry
    on and mark the work FINISHED after the caller has gone. The signal can land while the
    store refuses writes (here another process holds the sqlite write lock for longer than
    MLflow's busy timeout): the runs still end KILLED, once the store takes writes again."""
    if how == "timeout expiring":
        proc = started_mlflow_run(
            ["timeout", "600", *mlflow_run_command("-P", "force=all")], start_new_session=True
        )
    else:
        proc = start_main()
    train = running_step(proc)
    locked = None
    if how == "store locked when the signal lands":
        locked = sqlite3.connect(store.removeprefix("sqlite:///"), isolation_level=None)
        locked.execute("BEGIN IMMEDIATE")
    os.kill(proc.pid, signal.SIGTERM)  # `timeout` passes its TERM on to `mlflow run` only
    if locked is not None:
        time.sleep(22)  # past MLflow's 20 s busy wait in ending train: a retry ends it
        locked.execute("COMMIT")
        locked.close()
    _, err = finished(proc, timeout=240)
    final = settled()
    assert final["main"] == "KILLED" and final["train"] == "KILLED", (final, err[-3000:])
    assert "evaluate" not in final and "RUNNING" not in final.values()
    assert next(r for r in all_runs() if r.info.run_id == train.info.run_id).info.status == "KILLED"


def test_timeout_during_start_up_leaves_nothing_finished(store: str) -> None:
    """`timeout 3 mlflow run`: whenever the signal lands, no run is FINISHED. If it lands
    after MLflow created the run but before the entry point started, nothing of the project
    ran to end it: the next command marks it FAILED once the start-up grace has passed."""
    subprocess.run(
        ["timeout", "3", *mlflow_run_command()],
        cwd=PROJECT,
        env=run_env(),
        capture_output=True,
        timeout=120,
    )
    final = settled(deadline_s=15)  # a process that did start ends its run within that
    assert "FINISHED" not in final.values(), final
    never_started = [r for r in all_runs() if r.info.status == "RUNNING"]
    assert all("titanic.pid" not in r.data.tags for r in never_started)
    # Three minutes later (the store's clock moved back rather than waiting for it).
    with sqlite3.connect(store.removeprefix("sqlite:///")) as db:
        db.execute("UPDATE runs SET start_time = start_time - 180000 WHERE status = 'RUNNING'")
    later = run_here("-e", "prepare", "-P", "test_size=0.3")  # the next command
    assert later.returncode == 0, later.stderr[-3000:]
    for run in never_started:
        reaped = MlflowClient().get_run(run.info.run_id)
        assert reaped.info.status == "FAILED"
        assert "its entry point never started" in reaped.data.tags["titanic.error"]
    assert "RUNNING" not in statuses().values()


def test_init_store_explains_a_corrupt_and_an_impossible_store(tmp_path: Path) -> None:
    corrupt = tmp_path / "mlflow.db"
    corrupt.write_text("not a database")
    for uri, says in [
        (
            f"sqlite:///{corrupt}",
            r"^titanic: error: the tracking store .* is not a usable MLflow "
            r"database \(.*\): move it aside \(mv .*mlflow\.db .*\.broken\)",
        ),
        (
            f"sqlite:///{corrupt}/inner.db",
            r"^titanic: error: cannot open or create the tracking "
            r"store .*: check that its folder can be created",
        ),
    ]:
        result = subprocess.run(
            [f"{BIN}/titanic-init-store"],
            env=run_env(MLFLOW_TRACKING_URI=uri),
            capture_output=True,
            text=True,
            cwd=tmp_path,
            timeout=120,
        )
        assert result.returncode != 0
        lines = [line for line in result.stderr.splitlines() if "INFO" not in line]
        assert len(lines) == 1 and re.search(says, lines[0]), result.stderr


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real filesystem of 160 KB (tmpfs), unmounted after the test; skipped where this
    machine does not let the test mount one."""
    where = tmp_path / "small-disk"
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=160k", "tmpfs", str(where)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_a_full_artifact_store_ends_in_one_line_and_nothing_of_it_is_reused(
    store: str, small_disk: Path
) -> None:
    client = MlflowClient()
    experiment = client.create_experiment("on-a-small-disk", artifact_location=small_disk.as_uri())
    os.environ["MLFLOW_EXPERIMENT_NAME"] = "on-a-small-disk"  # restored by the store fixture
    result = run_here(*QUICK)
    assert result.returncode == 2
    (line,) = error_lines(result)
    assert re.fullmatch(
        rf"titanic: error: step \w+ failed: cannot write to the artifact store at "
        rf"{small_disk.as_uri()}/\S+ \(No space left on device\): free space there, or run in an "
        rf"experiment whose artifact location can take it .*",
        line,
    ), line
    assert "Traceback" not in result.stderr
    runs = client.search_runs([experiment])
    assert {r.info.status for r in runs} == {"FINISHED", "FAILED"} or {
        r.info.status for r in runs
    } == {"FAILED"}
    failed = [r for r in runs if r.info.status == "FAILED"]
    assert all("No space left on device" in r.data.tags["titanic.error"] for r in failed)

    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    again = run_here(*QUICK)
    assert again.returncode == 0, again.stderr[-3000:]
    latest = [
        r
        for r in client.search_runs([experiment])
        if r.info.run_id not in {x.info.run_id for x in runs}
    ]
    reused_from = {r.data.tags.get("titanic.reused_from") for r in latest}
    assert not reused_from & {r.info.run_id for r in failed}  # nothing half-written reused
