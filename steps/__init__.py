"""The entry points, one module each, named as in MLproject.

The steps `prepare`, `train` and `evaluate` share one contract: `run(**parameters, hooks)`
returns the step's outputs (name -> URI). Its pure core takes data and returns data or a model;
`run` reads the inputs and records the results through `orchestration.record`, the only
orchestration a step imports besides the command line (`orchestration.cli`), and a test checks
it. What else a step needs is handed in as `hooks` by the pipeline or a search, so that the
machinery around a step cannot change what it computes, and a step's cache key covers what
does (docs/cache.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from titanic.models import KeptFolds


@dataclass(frozen=True)
class Hooks:
    """What the pipeline or a search hands a step besides its parameters; nothing for a step
    run alone or by `main`."""

    # Hears of each cross-validation fold as it ends: (scores so far, folds in all). A tuning
    # trial's pruner, which may stop the step by raising.
    after_fold: Callable[[list[float], int], None] | None = None
    # A search worker's fold features for (feature set, rows, folds, repeats, seed), kept from
    # the configurations it ran before.
    kept_folds: Callable[[str, pd.DataFrame, int, int, int], KeptFolds] | None = None
