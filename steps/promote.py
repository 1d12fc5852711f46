"""promote: register a run's model as a new version of a registered model, and move the
`champion` alias to it only if the selection rule prefers it to the current champion
(docs/selection.md)."""

from __future__ import annotations

from typing import NoReturn

from mlflow.tracking import MlflowClient

from orchestration.cli import recorded_args, run_cli
from orchestration.lifecycle.runs import active_run
from orchestration.project.params import parse_params
from orchestration.registry.champion import candidate, ship


def main(argv: list[str] | None = None) -> NoReturn:
    def body() -> None:
        with active_run() as run:
            chosen = parse_params(recorded_args("promote", argv))
            source = candidate(MlflowClient(), chosen["run"], run.info.experiment_id)
            print(f"Promoting run {source.info.run_id} ({source.info.run_name})")
            promotion = ship(
                source, chosen["registered_model"], even_if_worse=chosen["even_if_worse"] == "true"
            )
        print(promotion.summary())

    run_cli(body)


if __name__ == "__main__":
    main()
