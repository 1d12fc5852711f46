"""Sweep grids: comma-separated parameter values expanded into pipeline configurations, checked
before anything runs, and named after the values that vary."""

from __future__ import annotations

import itertools

from orchestration.project.params import PARSERS, applicable, recorded
from titanic.errors import InputError

LIST_SEPARATOR = ","


def values_of(name: str, raw: str) -> list[str]:
    """The values of one `-P name=a,b,c`, each checked as the parameter itself checks it."""
    values = [value.strip() for value in raw.split(LIST_SEPARATOR)]
    if not raw.strip() or any(not value for value in values):
        raise InputError(
            f"{name}={raw!r} holds an empty value: give one value or a "
            f"comma-separated list, e.g. -P {name}=0.1,1,10"
        )
    for value in values:
        try:
            PARSERS[name](name, value)
        except InputError as err:
            raise InputError(f"{name}={raw}: {err}") from None
    return list(dict.fromkeys(values))  # a value given twice is one configuration


def expand(chosen: dict[str, str], max_configs: int) -> list[dict[str, str]]:
    """Every combination of the lists, as `main` parameters; combinations that compute the same
    thing (a tree family under several logistic-regression values) are one configuration."""
    lists = {name: values_of(name, raw) for name, raw in chosen.items()}
    count = 1
    for values in lists.values():
        count *= len(values)
    if count > max_configs:
        sizes = " x ".join(f"{len(v)} {k}" for k, v in lists.items() if len(v) > 1)
        raise InputError(
            f"the grid has {count} configurations ({sizes}), more than "
            f"max_configs={max_configs}: shorten the lists, or pass "
            f"-P max_configs={count}"
        )
    configs: dict[str, dict[str, str]] = {}
    for combination in itertools.product(*lists.values()):
        config = dict(zip(lists, combination, strict=True))
        configs.setdefault(repr(sorted(recorded(applicable(config)).items())), config)
    return list(configs.values())


def varied(configs: list[dict[str, str]]) -> list[str]:
    """The parameters whose value differs between configurations, in parameter order."""
    return [name for name in configs[0] if len({c[name] for c in configs}) > 1]


def label(config: dict[str, str], names: list[str]) -> str:
    """A configuration's run name: the varied values that apply to it, e.g. `model=hgb`."""
    used = applicable(config)
    return " ".join(f"{name}={config[name]}" for name in names if name in used) or "default"
