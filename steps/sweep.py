"""sweep: a grid of pipeline configurations (every `main` parameter takes a comma-separated
list), one child run each, run by parallel workers sharing the step cache, ending with a
ranked table, a plot and the best model."""

from __future__ import annotations

from typing import NoReturn

from titanic.cli import parse_args, run_cli
from titanic.grid import expand, label, varied
from titanic.params import SEARCH_SETTINGS, parse_params
from titanic.pool import run_all
from titanic.runs import active_run, name_unless_named
from titanic.report import finish


def main(argv: list[str] | None = None) -> NoReturn:
    def body() -> None:
        with active_run() as sweep:
            chosen = parse_args("sweep", argv)
            settings = parse_params({k: v for k, v in chosen.items() if k in SEARCH_SETTINGS},
                                    "sweep")
            grid = {k: v for k, v in chosen.items() if k not in SEARCH_SETTINGS}
            configs = expand(grid, settings["max_configs"])
            names = varied(configs)
            name_unless_named(sweep, "sweep " + (" ".join(f"{n}={grid[n]}" for n in names)
                                                 or "of one configuration"))
            outcomes = run_all(sweep, [(c, label(c, names)) for c in configs],
                               settings["jobs"])
            finish(sweep, outcomes, names, settings)
    run_cli(body)


if __name__ == "__main__":
    main()
