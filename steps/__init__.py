"""The entry points, one module each, named as in MLproject.

The steps `prepare`, `train` and `evaluate` share one contract: `run(params, hooks)` takes the
step's typed parameters (`orchestration.project.params`) and returns its outputs (name -> URI).
Its pure core takes data and returns data or a model; `run` reads the inputs and records the
results through `orchestration.record`, the only machinery a step imports besides the command
line (`orchestration.cli`), and a test checks it. What a pipeline or a search hands in besides
(`titanic.models.Hooks`) cannot change what a step computes, so a step's cache key covers what
does (docs/cache.md). The machinery reaches the steps only through what this package hands it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from orchestration.record.names import STEPS

# What a search's worker processes import before their first configuration.
MODULES = tuple(f"steps.{name}" for name in STEPS)

Step = Callable[..., dict[str, str]]


def step(name: str) -> Step:
    """The `run` of the step `name`, imported when it is first computed: a pipeline whose
    steps are all reused imports none of them."""
    run: Step = importlib.import_module(f"steps.{name}").run
    return run
