"""The pages' own commands, for the tests that run them. Every fenced shell block of README.md
and docs/ follows a mark: `<!-- run: KEY -->` (a test runs it, found by KEY, with only its
placeholders filled in) or `<!-- not run: REASON -->` (and the page says why). A page that
drifts from the code then fails the test that runs its block."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support import PROJECT, run_env

PAGES = (PROJECT / "README.md", *sorted((PROJECT / "docs").glob("*.md")))
SHELL = ("bash", "sh", "shell", "console")
FENCE = re.compile(
    r"^(?:<!-- (run|not run): (.+?) -->\n)?( *)```(\w*)\n(.*?)^\3```", re.MULTILINE | re.DOTALL
)


@dataclass(frozen=True)
class Block:
    page: Path
    line: int
    mark: str | None  # "run", "not run" or None
    key: str | None  # the run key, or the reason it is not run
    language: str
    text: str

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(PROJECT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    text = page.read_text()
    return [
        Block(page, text.count("\n", 0, m.start()) + 1, m[1], m[2], m[4], m[5])
        for m in FENCE.finditer(text)
    ]


def all_blocks() -> list[Block]:
    return [b for page in PAGES for b in blocks(page)]


def marked(key: str) -> list[Block]:
    return [b for b in all_blocks() if b.mark == "run" and b.key == key]


def output_after(key: str) -> str:
    """The unmarked block that follows the block marked `run: key` on its page: what the
    page says the commands print."""
    (first,) = marked(key)
    after = [b for b in blocks(first.page) if b.line > first.line]
    assert after and after[0].mark is None and after[0].language == "", key
    return after[0].text


def block(key: str, placeholders: dict[str, str] | None = None) -> str:
    """The text of the block marked `run: key`, with `placeholders` filled in (see `fill`)."""
    found = marked(key)
    assert len(found) == 1, f"{len(found)} blocks are marked 'run: {key}'"
    return fill(found[0].text, placeholders or {})


def fill(text: str, placeholders: dict[str, str]) -> str:
    """`text` with each placeholder replaced; one the text no longer holds fails the test, so
    a page that changed its example is noticed."""
    for old, new in placeholders.items():
        assert old in text, f"the page's block no longer holds {old!r}:\n{text}"
        text = text.replace(old, new)
    return text


def commands(text: str) -> list[str]:
    """The block's commands, one per logical line (a line ending in `\\` goes on)."""
    return [line for line in re.split(r"(?<!\\)\n", text) if line.strip()]


def bare(command: str) -> str:
    """`command` without its trailing comment (two spaces or more, then `#`)."""
    return re.sub(r"\s{2,}#[^'\"]*$", "", command)


def shell(
    script: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    timeout: float = 900,
) -> subprocess.CompletedProcess[str]:
    """`script` run by bash as a user's shell would, stopping at the first failing command."""
    return subprocess.run(
        ["bash", "-c", f"set -eo pipefail\n{script}"],
        cwd=cwd,
        env=env if env is not None else run_env(),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def ran(script: str, cwd: Path, **kwargs: object) -> str:
    """`shell(...)`'s standard output, after asserting that it succeeded."""
    done = shell(script, cwd, **kwargs)  # type: ignore[arg-type]
    assert done.returncode == 0, f"{script}\n---\n{done.stderr[-4000:]}"
    return done.stdout


@contextmanager
def started(
    script: str, cwd: Path, env: dict[str, str] | None = None, wrap: tuple[str, ...] = ()
) -> Iterator[subprocess.Popen[str]]:
    """A long-running command (a server, a worker) started by bash in a process group of its
    own (inside `wrap`, e.g. `ip netns exec NAME`), killed with its group when the test ends,
    also when it fails."""
    proc = subprocess.Popen(
        [*wrap, "bash", "-c", f"set -eo pipefail\n{script}"],
        cwd=cwd,
        env=env if env is not None else run_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
        else:  # the shell ended; what it started may not have
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def wait_for_http(
    url: str, proc: subprocess.Popen[Any], seconds: float = 120, **kwargs: Any
) -> None:
    """Wait until `url` answers, failing with the process's log if it ends first."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            urllib.request.urlopen(url, timeout=2, **kwargs)
            return
        except OSError:
            assert proc.poll() is None, proc.stderr.read()[-3000:] if proc.stderr else ""
            assert time.monotonic() < deadline, f"{url} did not answer in {seconds:.0f} s"
            time.sleep(0.5)
