"""Running a step inside an MLflow run: cache keys, reuse, run status, signals, the CLI.

A step run started by `main` and one started alone with `mlflow run . -e <step>` go through
`execute_step`, so both record the same parameters, tags and cache key and can stand in for
each other.
"""

from __future__ import annotations

import argparse
import atexit
import fcntl
import functools
import gc
import hashlib
import importlib
import json
import logging
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Callable, Iterator, NoReturn

import mlflow
from mlflow.entities import Metric, Run, RunTag
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from steps.common import (INPUT_PARAMS, PROJECT_DIR, InputError, entry_point_defaults,
                          local_file, log, parse_params, recorded, sha256_files)

TAG_STEP = "titanic.step"
TAG_CACHE_KEY = "titanic.cache_key"
TAG_CODE_DIGEST = "titanic.code_digest"
TAG_REUSED_FROM = "titanic.reused_from"
TAG_MODEL_URI = "titanic.model_uri"  # on a main run: the model it ended with
OUTPUT_TAG = "titanic.output."
NOTE_TAG = "mlflow.note.content"

# Package versions that change what a step computes.
PACKAGES = ("mlflow", "scikit-learn", "pandas", "numpy", "category-encoders", "cloudpickle",
            "matplotlib")
# Besides its own file, the code every step runs.
SHARED_CODE = ("common.py", "tracking.py")
# Tags `mlflow run` puts on a project run; a step run inside `main` takes them from the parent.
PROJECT_TAGS = ("mlflow.user", "mlflow.source.name", "mlflow.source.type",
                "mlflow.source.git.commit", "mlflow.source.git.branch",
                "mlflow.source.git.repoURL", "mlflow.gitRepoURL", "mlflow.project.env",
                "mlflow.project.backend")
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived; raised so that open runs end as KILLED."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


_received: list[int] = []


def _interrupt(signum: int, _frame: object) -> None:
    # Later signals must not cut short the clean-up that the first one started.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _received.append(signum)
    raise Interrupted(signum)


def raise_if_interrupted() -> None:
    """Raise a signal's Interrupted again where it is safe: raised inside a weakref callback
    or __del__ (as during garbage collection), Python prints it and drops it."""
    if _received:
        raise Interrupted(_received[0])


# --- inputs and cache keys ------------------------------------------------------------------

_fetched: dict[str, Path] = {}
_downloads = tempfile.TemporaryDirectory(prefix="titanic-inputs-")  # removed at exit


def fetch(value: str, param: str) -> Path:
    """A local copy of an input: a file path as it is, a URI downloaded once per process."""
    if value not in _fetched:
        if _URI.match(value) and not Path(value).exists():
            try:
                _fetched[value] = Path(mlflow.artifacts.download_artifacts(
                    artifact_uri=value, dst_path=tempfile.mkdtemp(dir=_downloads.name)))
            except (MlflowException, OSError) as err:
                raise InputError(f"{param} {value!r} cannot be read ({str(err).splitlines()[0]}): "
                                 f"pass the URI that the previous step printed") from None
        else:
            _fetched[value] = local_file(value, param)
    return _fetched[value]


def code_digest(step: str) -> str:
    """Digest of the source a step runs, read from disk: edited files count, committed or not."""
    digest = hashlib.sha256()
    for name in (f"{step}.py", *SHARED_CODE):
        digest.update(name.encode() + (PROJECT_DIR / "steps" / name).read_bytes())
    return digest.hexdigest()


@functools.cache
def package_versions() -> dict[str, str]:
    return {name: version(name) for name in PACKAGES}


def cache_key(step: str, params: dict[str, str], code: str) -> str:
    """Identity of a step's inputs: parameters, code (its `code_digest`), input data and
    package versions."""
    payload = {
        "step": step,
        "params": recorded(params),
        "code": code,
        "inputs": {name: sha256_files(fetch(value, name))
                   for name, value in params.items() if name in INPUT_PARAMS},
        "packages": package_versions(),
        "python": platform.python_version(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def find_reusable(experiment_id: str, key: str) -> Run | None:
    """The first FINISHED run with this cache key, one search on an indexed tag. The first,
    so that later equal runs (forced, or alone) do not change what downstream keys see."""
    client = MlflowClient()
    runs = client.search_runs(
        [experiment_id],
        filter_string=f"tags.`{TAG_CACHE_KEY}` = '{key}' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time ASC"],
        max_results=1,
    )
    if not runs:
        return None
    origin = runs[0].data.tags.get(TAG_REUSED_FROM)
    return runs[0] if origin is None or _is_active(client, origin) else None


def _is_active(client: MlflowClient, run_id: str) -> bool:
    """False for a run deleted since (its artifacts may be gone with it)."""
    try:
        return client.get_run(run_id).info.lifecycle_stage == "active"
    except MlflowException:
        return False


@contextmanager
def step_lock(key: str) -> Iterator[None]:
    """Serialise look-up and computation of one key on this machine, so that parallel sweeps
    compute a shared step once and reuse it; the OS drops the lock if the process dies."""
    scope = f"{mlflow.get_tracking_uri()}|{key}"
    folder = Path(tempfile.gettempdir()) / "titanic-mlflow-locks"
    folder.mkdir(exist_ok=True)
    with open(folder / f"{hashlib.sha256(scope.encode()).hexdigest()[:32]}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


# --- runs -------------------------------------------------------------------------------------

@contextmanager
def active_run(**start_kwargs: object) -> Iterator[Run]:
    """Start (or resume) a run and end it FINISHED, FAILED, or KILLED on SIGINT/SIGTERM."""
    run = mlflow.start_run(**start_kwargs)
    status = "FAILED"
    try:
        yield run
        raise_if_interrupted()
        status = "FINISHED"
    except Interrupted:
        status = "KILLED"
        raise
    finally:
        mlflow.end_run(status)


def log_batch(run_id: str, metrics: dict[str, float], tags: dict[str, str]) -> None:
    """Metrics and tags in one call to the store."""
    now = int(time.time() * 1000)
    MlflowClient().log_batch(run_id, metrics=[Metric(k, v, now, 0) for k, v in metrics.items()],
                             tags=[RunTag(k, v) for k, v in tags.items()])


def outputs_of(run: Run) -> dict[str, str]:
    return {k[len(OUTPUT_TAG):]: v for k, v in run.data.tags.items() if k.startswith(OUTPUT_TAG)}


def execute_step(step: str, params: dict[str, str], *, cache: ExitStack | None) -> dict[str, str]:
    """Run a step in the active run or, given a `cache` stack, adopt the outputs of a finished
    run with the same key. The step's lock goes on that stack: the caller releases it after
    ending the run, so a parallel run waiting for the key finds this one FINISHED."""
    run = mlflow.active_run()
    typed = parse_params(params)  # values first: a bad one fails before any input is read
    code = code_digest(step)
    key = cache_key(step, params, code)
    identity = {TAG_STEP: step, TAG_CACHE_KEY: key, TAG_CODE_DIGEST: code}
    source = None
    if cache is not None:
        cache.enter_context(step_lock(key))
        source = find_reusable(run.info.experiment_id, key)
    raise_if_interrupted()
    if source is None:
        mlflow.set_tags(identity)
        return _compute(step, typed)
    origin = source.data.tags.get(TAG_REUSED_FROM, source.info.run_id)
    outputs = outputs_of(source)
    tags = {**identity, TAG_REUSED_FROM: origin, **{OUTPUT_TAG + k: v for k, v in outputs.items()},
            NOTE_TAG: f"Reused: inputs identical to run `{origin}`, whose outputs this run "
                      f"stands for: {json.dumps(outputs)}"}
    log_batch(run.info.run_id, source.data.metrics, tags)
    log.info("%s: inputs unchanged, reusing run %s", step, origin)
    return outputs


def _compute(step: str, typed: dict[str, object]) -> dict[str, str]:
    log.info("%s: computing", step)
    module = importlib.import_module(f"steps.{step}")
    outputs = module.run(**typed)
    mlflow.set_tags({OUTPUT_TAG + k: v for k, v in outputs.items()})
    return outputs


# --- command line -----------------------------------------------------------------------------

def parse_args(entry_point: str, argv: list[str] | None) -> dict[str, str]:
    """The entry point's parameters from `--name value` arguments; defaults come from MLproject."""
    parser = argparse.ArgumentParser(prog=f"python -m steps.{entry_point}")
    for name, default in entry_point_defaults(entry_point).items():
        parser.add_argument(f"--{name}", default=default, required=default is None)
    return vars(parser.parse_args(argv))


def run_cli(body: Callable[[], None]) -> NoReturn:
    """Run a command body and exit; bad input becomes one line on stderr and a non-zero exit."""
    exit_now(_run_body(body))


def _run_body(body: Callable[[], None]) -> int:
    # What the imports made lives until exit: keep it out of every garbage collection.
    gc.freeze()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    launched_as = os.environ.get("MLFLOW_RUN_ID")  # set by `mlflow run` for the run it made
    try:
        body()
    except InputError as err:
        print(f"titanic: error: {err}", file=sys.stderr)
        return 2
    except Interrupted as stop:
        print(f"titanic: stopped by {stop}; the run is marked KILLED", file=sys.stderr)
        launcher = _mlflow_run_pid()
        if launched_as and launcher:
            subprocess.Popen([sys.executable, "-m", "steps.tracking", launched_as, str(launcher)],
                             cwd=PROJECT_DIR, start_new_session=True, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL)
        return 128 + stop.signum
    return 0


def exit_now(code: int) -> NoReturn:
    """Exit without tearing the interpreter down: every run is ended and every file closed by
    now, exit handlers still run, and unloading the many modules MLflow imports would cost
    about half a second per command."""
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _mlflow_run_pid() -> int | None:
    """The `mlflow run` process above this one (Linux: read from /proc), if there is one."""
    pid = os.getppid()
    for _ in range(3):  # mlflow run -> [bash ->] python
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if b"run" in argv and any(arg.endswith(b"mlflow") for arg in argv):
                return pid
            pid = int(_proc_stat(pid)[1])
        except (OSError, ValueError, IndexError):
            return None
    return None


def keep_killed(run_id: str, launcher: int, timeout: float = 120.0) -> None:
    """Restore KILLED once `mlflow run` has exited: after an interrupt it marks its run FAILED
    even when the entry point already ended it (its terminal-status check compares the status
    string with numeric codes, so it never sees one)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _running(launcher):
        time.sleep(0.1)
    MlflowClient().set_terminated(run_id, "KILLED")


def _proc_stat(pid: int) -> list[str]:
    """State, parent pid, ... of a process (the fields after its name in /proc/<pid>/stat)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _running(pid: int) -> bool:
    try:
        state = _proc_stat(pid)[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")  # an exited process not yet reaped by its parent


def step_main(step: str, argv: list[str] | None = None) -> NoReturn:
    """`python -m steps.<step>`: the step alone, in the run `mlflow run` made (or a new one)."""
    params = parse_args(step, argv)

    def body() -> None:
        with active_run():
            outputs = execute_step(step, params, cache=None)
        for name, uri in outputs.items():
            print(f"{name}: {uri}")
    run_cli(body)


if __name__ == "__main__":
    keep_killed(sys.argv[1], int(sys.argv[2]))
