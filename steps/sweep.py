"""sweep: a grid of pipeline configurations (every `main` parameter takes a comma-separated
list), one child run each, run by parallel workers sharing the step cache, ending with a
ranked table, a plot and the best model."""

from __future__ import annotations

import sys
from typing import NoReturn

from orchestration.search.executors import start_fork_server
from steps import MODULES, step

if __name__ == "__main__":  # first: the local workers' imports run beside this command's own
    start_fork_server(sys.argv, MODULES)

from orchestration.cli import recorded_args, run_cli
from orchestration.lifecycle.runs import active_run
from orchestration.project.naming import name_unless_named
from orchestration.project.params import SEARCH_SETTINGS, parse_params
from orchestration.search.driver import executor, search
from orchestration.search.grid import expand, label, varied
from orchestration.search.points import Grid, Point
from orchestration.search.report import finish


def main(argv: list[str] | None = None) -> NoReturn:
    def body() -> None:
        with active_run() as run:
            chosen = recorded_args("sweep", argv)
            settings = parse_params({k: v for k, v in chosen.items() if k in SEARCH_SETTINGS})
            grid = {k: v for k, v in chosen.items() if k not in SEARCH_SETTINGS}
            configs = expand(grid, settings["max_configs"])
            names = varied(configs)
            name_unless_named(
                run,
                "sweep " + (" ".join(f"{n}={grid[n]}" for n in names) or "of one configuration"),
            )
            points = Grid([Point(c, label(c, names)) for c in configs])
            where = executor(settings["cluster"], settings["jobs"], len(configs), MODULES)
            outcomes = search(run, points, where, step)
            finish(run, outcomes, names, settings)

    run_cli(body)


if __name__ == "__main__":
    main()
