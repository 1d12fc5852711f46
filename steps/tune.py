"""tune: Optuna (seeded TPE) searches the model families, their hyperparameters and the feature
sets for the best ranking metric; each trial is a child run like a sweep configuration, and a
pruner stops trials whose first folds show they cannot win. Several `tune` commands given the
same `storage` and `study` share one study."""

from __future__ import annotations

import sys
from typing import NoReturn

from orchestration.search.executors import start_fork_server
from steps import MODULES, step

if __name__ == "__main__":  # first: the local workers' imports run beside this command's own
    start_fork_server(sys.argv, MODULES)

import mlflow

from orchestration.cli import recorded_args, run_cli
from orchestration.lifecycle.runs import active_run
from orchestration.project.naming import name_unless_named
from orchestration.project.params import SEARCH_SETTINGS, entry_point_defaults, parse_params
from orchestration.record.names import TAG_PRUNER, TAG_STUDY
from orchestration.search.driver import executor, search
from orchestration.search.report import finish
from orchestration.search.study import SPACE, Study, open_study, storage_url


def main(argv: list[str] | None = None) -> NoReturn:
    def body() -> None:
        with active_run() as run:
            chosen = recorded_args("tune", argv)
            settings = parse_params(chosen)
            base = {
                **entry_point_defaults("main"),
                **{k: v for k, v in chosen.items() if k not in SEARCH_SETTINGS},
            }
            url = storage_url(settings["storage"])
            study, pruner = open_study(url, settings["study"], settings["seed"], settings["pruner"])
            name_unless_named(run, f"tune {settings['study']}: {settings['trials']} trials")
            mlflow.set_tags({TAG_STUDY: f"{settings['study']} in {url}", TAG_PRUNER: pruner})
            points = Study(study, url, settings["trials"], base, pruner)
            where = executor(settings["cluster"], settings["jobs"], settings["trials"], MODULES)
            outcomes = search(run, points, where, step)
            finish(
                run,
                outcomes,
                [name for name in SPACE if len({o.config.get(name) for o in outcomes}) > 1],
                settings,
            )

    run_cli(body)


if __name__ == "__main__":
    main()
