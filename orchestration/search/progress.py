"""What a search says while it runs: a line as each configuration ends (how many of how many,
its score, the best so far, the time left), and a progress bar above them on a terminal."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, TextIO

from tqdm import tqdm

from orchestration.record.names import RANKING_METRIC

if TYPE_CHECKING:  # the driver that reports here defines it
    from orchestration.search.points import Outcome


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"


class Progress:
    """Counts the configurations of a search of `total` as they end."""

    def __init__(self, total: int, stream: TextIO = sys.stderr) -> None:
        self.total, self.done = total, 0
        self.best: Outcome | None = None
        self._stream = stream
        self._started = time.monotonic()
        self._bar = (
            tqdm(total=total, unit="config", file=stream, dynamic_ncols=True, leave=False)
            if stream.isatty()
            else None
        )

    def line(self, outcome: Outcome) -> str:
        """The line for `outcome`, the `done`-th configuration to end."""
        score = (
            f"{RANKING_METRIC} {outcome.score:.4f}"
            if outcome.score is not None
            else f"{outcome.status}" + (f": {outcome.error}" if outcome.error else "")
        )
        best = (
            f"best {self.best.score:.4f} ({self.best.label})"
            if self.best is not None
            else "no configuration finished yet"
        )
        left = self.total - self.done
        elapsed = time.monotonic() - self._started
        eta = f"about {_duration(elapsed / self.done * left)} left" if left else "done"
        return (
            f"[{self.done}/{self.total}] {outcome.label}: {score}; {best}; {eta} "
            f"({_duration(elapsed)} so far)"
        )

    def ended(self, outcome: Outcome) -> None:
        self.done += 1
        score, best = outcome.score, None if self.best is None else self.best.score
        if score is not None and (best is None or score > best):
            self.best = outcome
        text = self.line(outcome)
        if self._bar is None:
            print(text, file=self._stream, flush=True)
        else:
            self._bar.write(text, file=self._stream)
            self._bar.update()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
