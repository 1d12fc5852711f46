"""The model registry: which run's model to register, what a version records about where it
came from, and the `champion` alias that moves only to a model the selection rule prefers."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass

import mlflow
from mlflow.entities import Run
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from orchestration.record.names import (
    OUT_MODEL,
    OUTPUT_TAG,
    RANKING_METRIC,
    TAG_BEST_RUN,
    TAG_MODEL_URI,
    TAG_PROMOTED,
)
from orchestration.record.store import again_if_raced, model_listed
from orchestration.registry.selection import POOL, Entry, Ranking, entry, prefers, rank
from orchestration.team.access import GRANT_COMMAND, PERMISSION_DENIED, refused, user
from titanic.errors import InputError

CHAMPION = "champion"
CHALLENGER = "challenger"

# Runs whose model can be promoted and ranked: finished pipeline runs (`main`, a sweep's
# configuration), which name their model in a tag.
PIPELINE_FILTER = f"tags.`{TAG_MODEL_URI}` LIKE 'models:/%' and attributes.status = 'FINISHED'"
# Best first: the ranking metric, then on a tie the run that reached it first (a rerun that
# reused it, or a later equal model, does not displace it), then the run id.
BEST_FIRST = [
    f"metrics.{RANKING_METRIC} DESC",
    "attributes.start_time ASC",
    "attributes.run_id ASC",
]


def model_uri_of(run: Run) -> str | None:
    """The model a pipeline run ended with, or the one a train run logged."""
    tags = run.data.tags
    return tags.get(TAG_MODEL_URI) or tags.get(OUTPUT_TAG + OUT_MODEL)


def best_runs(client: MlflowClient, experiment_id: str, limit: int, where: str = "") -> list[Run]:
    """The experiment's finished pipeline runs, best mean first: what the leaderboard and
    `promote -P run=best` apply the selection rule to."""
    return client.search_runs(
        [experiment_id],
        filter_string=PIPELINE_FILTER + (f" and {where}" if where else ""),
        order_by=BEST_FIRST,
        max_results=limit,
    )


def run_entry(run: Run) -> Entry | None:
    return entry(run.data.metrics, run.data.params, run.data.tags)


def choose(runs: list[Run]) -> Ranking:
    """The selection rule over `runs` (best mean first); a run without the ranking metric
    (none of this project's version) ranks after those with it."""
    scored = [(i, e) for i, run in enumerate(runs) if (e := run_entry(run)) is not None]
    ranking = rank([e for _, e in scored])
    positions = [i for i, _ in scored]
    marks = [""] * len(runs)
    for at, i in enumerate(positions):
        marks[i] = ranking.marks[at]
    unscored = sorted(set(range(len(runs))) - set(positions))
    return Ranking(
        [positions[i] for i in ranking.order] + unscored,
        marks,
        positions[ranking.chosen] if scored else -1,
    )


def best_run(client: MlflowClient, experiment_id: str) -> Run:
    """What the selection rule picks among the experiment's best POOL pipeline runs."""
    runs = best_runs(client, experiment_id, limit=POOL)
    if not runs:
        raise InputError(
            f"experiment {experiment_id} has no finished pipeline run to promote: "
            f"run `mlflow run .` first, or pass -P run=<run id> from another one"
        )
    return runs[max(choose(runs).chosen, 0)]


def candidate(client: MlflowClient, which: str, experiment_id: str) -> Run:
    """The run `-P run=` names (`best`: the experiment's best pipeline run), checked."""
    if which == "best":
        run = best_run(client, experiment_id)
    else:
        try:
            run = client.get_run(which)
        except MlflowException:
            raise InputError(
                f"no run {which!r} in this tracking store: pass a run id the "
                f"leaderboard lists (titanic-leaderboard), or run=best"
            ) from None
    if TAG_BEST_RUN in run.data.tags:  # a sweep or tuning run: its best configuration
        run = client.get_run(run.data.tags[TAG_BEST_RUN])
    run_id = run.info.run_id
    if run.info.status != "FINISHED":
        raise InputError(
            f"run {run_id} is {run.info.status}, not FINISHED: promote a finished "
            f"run (titanic-leaderboard lists them)"
        )
    if not (model_uri_of(run) or "").startswith("models:/"):
        raise InputError(
            f"run {run_id} has no model: pass a main, sweep configuration or train run"
        )
    if RANKING_METRIC not in run.data.metrics:
        raise InputError(
            f"run {run_id} has no {RANKING_METRIC} to rank it by: promote a run "
            f"of this version of the project"
        )
    return run


def training_run(client: MlflowClient, run: Run) -> Run:
    """The train run that logged the run's model."""
    model_uri = model_uri_of(run) or ""
    try:
        source = client.get_logged_model(model_uri.removeprefix("models:/")).source_run_id
        trained_by = client.get_run(source) if source else None
    except MlflowException:  # no such model (deleted), or its run deleted for good
        trained_by = None
    if trained_by is None:
        raise InputError(
            f"the model {model_uri} of run {run.info.run_id} is gone from the "
            f"store (deleted?): run the pipeline again and promote the new run"
        )
    if not model_listed(model_uri):
        raise InputError(
            f"the model {model_uri} of run {run.info.run_id} is gone from the artifact "
            f"store: run the pipeline again with -P force=train and promote the new run"
        )
    return trained_by


def current_champion(client: MlflowClient, name: str) -> tuple[ModelVersion | None, Entry | None]:
    """The champion version, if any, and how the rule sees it: from the train run that logged
    its model (its mean, folds and family); None for one registered by hand or whose run is
    gone."""
    try:
        version = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:  # no such model, or no champion yet
        return None, None
    try:
        return version, run_entry(client.get_run(version.run_id or ""))
    except MlflowException:
        return version, None


@dataclass(frozen=True)
class Promotion:
    name: str
    version: str
    alias: str
    score: float
    champion: ModelVersion | None  # the champion before this promotion
    champion_score: float | None  # its ranking metric; None if unscored
    created: bool  # False: the run's model already was this version
    evaluation: str | None  # the run holding MLflow's evaluation of the model (figures, SHAP)
    why: str = ""  # how the selection rule compared it with the champion

    def summary(self) -> str:
        was = self.champion
        head = (
            (
                f"MLflow's evaluation of the model (figures, SHAP): on run {self.evaluation}\n"
                if self.evaluation
                else ""
            )
            + f"{'Registered' if self.created else 'Already registered:'} {self.name} "
            f"version {self.version} ({RANKING_METRIC} {self.score:.4f})"
        )
        champion_score = self.champion_score
        if self.alias == CHALLENGER and was is not None and champion_score is not None:
            return (
                f"{head}; alias '{CHALLENGER}': the champion, version {was.version} "
                f"({RANKING_METRIC} {champion_score:.4f}), stays: this model is {self.why}; "
                f"-P even_if_worse=true makes it the champion anyway"
            )
        before = (
            " (first champion)"
            if was is None
            else " (was already the champion)"
            if str(was.version) == self.version
            else f" (was version {was.version}, {RANKING_METRIC} {champion_score:.4f}; "
            f"this model is {self.why})"
            if champion_score is not None
            else f" (was version {was.version}, unscored)"
        )
        return f"{head}; alias '{CHAMPION}'{before}\nUse it: models:/{self.name}@{CHAMPION}"


def ship(run: Run, name: str, even_if_worse: bool = False) -> Promotion:
    """What `promote`, `main -P promote=true` and a search's `-P promote=true` do: MLflow's
    whole evaluation of the run's model (made on the active run unless a finished run holds
    one; a model holding a type the project does not trust is refused), the model promoted,
    and the version it became and its alias recorded on the active run."""
    from orchestration.record.evaluation import explain  # scikit-learn, MLflow's evaluator

    client = MlflowClient()
    evaluation = explain(model_uri_of(run) or "", training_run(client, run).data.params["prepared"])
    try:
        promotion = promote(client, run, name, even_if_worse, evaluation)
    except MlflowException as err:
        if not refused(err, PERMISSION_DENIED):
            raise
        who = user() or "anonymous"
        raise InputError(
            f"{who} may not promote to the registered model {name!r}: that takes "
            f"EDIT on it, which its maintainers have; the run's work is kept, and "
            f"an admin can grant it ({GRANT_COMMAND} {who} maintainer)"
        ) from None
    mlflow.set_tag(
        TAG_PROMOTED, f"{promotion.name} version {promotion.version} ({promotion.alias})"
    )
    return promotion


def promote(
    client: MlflowClient, run: Run, name: str, even_if_worse: bool, evaluation: str | None = None
) -> Promotion:
    """Register the run's model (once: a model already registered under `name` keeps its
    version) and give it `champion` if the selection rule prefers it to the current one, else
    `challenger`."""
    model_uri = model_uri_of(run) or ""
    training_run(client, run)  # the model is still there
    score = run.data.metrics[RANKING_METRIC]
    champion, champion_entry = current_champion(client, name)
    existing = [v for v in client.search_model_versions(f"name='{name}'") if v.source == model_uri]
    version = existing[0] if existing else _register(client, name, model_uri)
    same = champion is not None and champion.version == version.version
    preferred, why = prefers(run_entry(run) or Entry(score, "", None), champion_entry)
    alias = CHAMPION if same or even_if_worse or preferred else CHALLENGER
    set_alias(client, name, alias, str(version.version))
    return Promotion(
        name,
        str(version.version),
        alias,
        score,
        champion,
        champion_entry.mean if champion_entry else None,
        created=not existing,
        evaluation=evaluation,
        why=why,
    )


def set_alias(client: MlflowClient, name: str, alias: str, version: str) -> None:
    """Point `alias` at `version`; a promotion racing to set it at the same moment is
    answered by moving the alias the other one made."""
    again_if_raced(lambda: client.set_registered_model_alias(name, alias, version))


def _register(client: MlflowClient, name: str, model_uri: str) -> ModelVersion:
    """A new version, linked to its logged model as `mlflow.register_model` links it (the
    model's page lists its versions; the version's reaches the model's metrics, parameters,
    datasets and evaluation); a registered model created for it is removed again if the
    version cannot be made, so a failure leaves nothing half-registered. Promotions of the same
    model racing from several machines end with one version: the lowest-numbered one stays."""
    created = False
    try:
        client.get_registered_model(name)
    except MlflowException:
        try:
            client.create_registered_model(
                name, description="Titanic survival models; `champion` is the best promoted one."
            )
            created = True
        except MlflowException as err:
            if err.error_code != "RESOURCE_ALREADY_EXISTS":  # else: another machine made it
                raise
    try:
        with contextlib.redirect_stderr(io.StringIO()):  # its notes of what it did
            version = mlflow.register_model(model_uri, name)
    except BaseException:
        if created:
            client.delete_registered_model(name)
        raise
    same = sorted(
        (v for v in client.search_model_versions(f"name='{name}'") if v.source == model_uri),
        key=lambda v: int(v.version),
    )
    if str(same[0].version) != str(version.version):
        client.delete_model_version(name, str(version.version))  # registered first elsewhere
        return same[0]
    return version
