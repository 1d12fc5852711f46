"""Which process this is, and whether another one is still alive, through psutil: a pid with
its start time names one process, whatever reuses the pid later, on any operating system."""

from __future__ import annotations

import os
import socket

import psutil

# Start and boot times as recorded in tags: to the millisecond, so that a round trip through
# a string compares equal.
_PRECISION = 3


def _stamp(seconds: float) -> str:
    return f"{seconds:.{_PRECISION}f}"


def boot_time() -> str:
    return _stamp(psutil.boot_time())


def this_process() -> dict[str, str]:
    """Where this process runs and which one it is: host, boot time, pid and start time."""
    process = psutil.Process(os.getpid())
    return {
        "host": socket.gethostname(),
        "boot": boot_time(),
        "pid": str(process.pid),
        "started": _stamp(process.create_time()),
    }


def on_this_machine(host: str, boot: str) -> bool:
    """Recorded here, since this machine last booted: then its pid can be looked up."""
    return host == socket.gethostname() and boot == boot_time()


def alive(pid: int, started: str | None = None) -> bool:
    """The process `pid` (started at `started`, if given) exists and has not exited."""
    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and (
            started is None or _stamp(process.create_time()) == started
        )
    except psutil.Error:  # gone, or not ours to look at
        return False


def mlflow_run_above() -> int | None:
    """The `mlflow run` process above this one (mlflow run -> [bash ->] python), if any."""
    try:
        for process in psutil.Process().parents()[:3]:
            argv = process.cmdline()
            if "run" in argv and any(arg.endswith("mlflow") for arg in argv):
                return process.pid
    except psutil.Error:
        return None
    return None
