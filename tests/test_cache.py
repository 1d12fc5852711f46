"""How the step cache decides (orchestration/cache/): keys, code digests, what a reused step
carries."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from orchestration.cache import keys as cache
from orchestration.cache.reuse import carried
from orchestration.record import inputs
from orchestration.record.names import (
    METRICS,
    MISSING_PREFIX,
    OUTPUT_TAG,
    PIPELINE_METRICS,
    PROCESS_TAGS,
    TAG_APPLIED,
    TAG_FOLD_ACCURACY,
    TAG_FOLDS,
    TAG_REUSED_FROM,
)
from tests.support import QUICK, children, error_lines, parents, passengers, run_here, write


def test_cache_key_follows_params_data_and_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = write(passengers(40), tmp_path / "p.csv")
    params = {"data": str(data), "test_size": "0.25", "seed": "123"}

    def prepare_key(params: dict[str, str]) -> str:
        return cache.cache_key("prepare", params, cache.code_digest("prepare"))

    key = prepare_key(params)
    assert prepare_key(dict(params)) == key
    assert prepare_key({**params, "seed": "124"}) != key

    inputs._fetched.clear()
    write(passengers(39), data)  # same path, other content
    assert prepare_key(params) != key

    inputs._fetched.clear()
    write(passengers(40), data)
    assert prepare_key(params) == key
    code = tmp_path / "code"
    shutil.copytree(cache.PROJECT_DIR / "steps", code / "steps")
    shutil.copytree(cache.PROJECT_DIR / "titanic", code / "titanic")
    shutil.copytree(cache.PROJECT_DIR / "orchestration", code / "orchestration")
    monkeypatch.setattr(cache, "PROJECT_DIR", code)
    assert prepare_key(params) == key
    with open(code / "titanic" / "models.py", "a") as handle:
        handle.write("# edited: prepare does not run this file\n")
    assert prepare_key(params) == key
    with open(code / "titanic" / "passengers.py", "a") as handle:
        handle.write("# edited: prepare reads data through this file\n")
    assert prepare_key(params) != key


def test_code_digests_cover_the_model_code_and_its_records_not_the_machinery(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code = tmp_path / "code"
    for package in ("steps", "titanic", "orchestration"):
        shutil.copytree(cache.PROJECT_DIR / package, code / package)
    monkeypatch.setattr(cache, "PROJECT_DIR", code)
    before = {step: cache.code_digest(step) for step in ("prepare", "train", "evaluate")}
    for module in ("lifecycle/liveness", "cache/claims", "cache/keys", "cli", "lifecycle/runs"):
        machinery = code / "orchestration" / f"{module}.py"
        assert machinery.is_file()
        with open(machinery, "a") as handle:
            handle.write("# edited: machinery, not the work\n")
    assert {step: cache.code_digest(step) for step in before} == before
    # What a step records under which name is part of its work: a renamed artifact is new work.
    with open(code / "orchestration" / "record" / "names.py", "a") as handle:
        handle.write("# edited: the names a step records under\n")
    renamed = {step: cache.code_digest(step) for step in before}
    assert all(renamed[step] != before[step] for step in before)
    before = renamed
    with open(code / "titanic" / "features.py", "a") as handle:
        handle.write("# edited: a feature transformer\n")
    after = {step: cache.code_digest(step) for step in before}
    # evaluate runs the transformers inside the model it is given, an input counted by content.
    assert after == {**before, "train": after["train"]} and after["train"] != before["train"]


def test_each_step_logs_what_is_declared_and_a_reused_step_carries_all_of_it(store: str) -> None:
    """No silent list: each step logs exactly the metrics `record.names.METRICS` declares, the
    parent run shows every one of train's and evaluate's, and a run that stands for a step
    carries every metric and tag the step recorded but those of its own process."""
    assert run_here(*QUICK).returncode == 0
    first = children(parents()[-1])
    for step, run in first.items():
        logged = {k for k in run.data.metrics if not k.startswith(MISSING_PREFIX)}
        assert logged == set(METRICS[step]), f"{step} logs {sorted(logged ^ set(METRICS[step]))}"
    assert set(parents()[-1].data.metrics) == set(PIPELINE_METRICS)

    assert run_here(*QUICK).returncode == 0
    again = children(parents()[-1])
    for step, run in again.items():
        source = first[step]
        assert run.data.tags[TAG_REUSED_FROM] == source.info.run_id
        assert run.data.metrics == source.data.metrics, step
        dropped = {
            k for k in carried(source.data.tags) if run.data.tags.get(k) != source.data.tags[k]
        }
        assert not dropped, f"{step}: not carried {sorted(dropped)}"
        assert not set(carried(source.data.tags)) & set(PROCESS_TAGS)  # its own process's
    assert carried(first["train"].data.tags).keys() >= {
        TAG_APPLIED,
        TAG_FOLDS,
        TAG_FOLD_ACCURACY,
        f"{OUTPUT_TAG}model_uri",
    }


def test_a_step_whose_artifacts_are_gone_is_computed_again_and_says_why(
    store: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Artifacts removed from the store after a run (a clean-up, a lost disk): the cache never
    hands out what it can no longer deliver. The step is computed again, saying why in one
    line; what follows it, unchanged, is still reused; promote refuses a model gone."""
    assert run_here(*QUICK).returncode == 0
    first = children(parents()[-1])
    client = MlflowClient()
    prepared = Path(
        client.get_run(first["prepare"].info.run_id).info.artifact_uri.removeprefix("file://")
    )
    shutil.rmtree(prepared / "prepared")

    again = run_here(*QUICK)
    assert again.returncode == 0, again.stderr[-3000:]
    assert (
        f"prepare: run {first['prepare'].info.run_id}'s prepared/train.csv is gone from the "
        "artifact store: computing it again"
    ) in caplog.text  # the command's log line (its stderr, run by `mlflow run`)
    second = children(parents()[-1])
    assert TAG_REUSED_FROM not in second["prepare"].data.tags  # computed again
    for step in ("train", "evaluate"):  # the same prepared data: the same work, reused
        assert second[step].data.tags[TAG_REUSED_FROM] == first[step].info.run_id

    model_uri = first["train"].data.tags[f"{OUTPUT_TAG}model_uri"]
    model = client.get_logged_model(model_uri.removeprefix("models:/"))
    shutil.rmtree(model.artifact_location.removeprefix("file://"))
    third = run_here(*QUICK)
    assert third.returncode == 0, third.stderr[-3000:]
    assert f"train: run {first['train'].info.run_id}'s model {model_uri} is gone" in caplog.text
    assert TAG_REUSED_FROM not in children(parents()[-1])["train"].data.tags

    refused = run_here("-e", "promote", "-P", f"run={parents()[0].info.run_id}")
    assert refused.returncode != 0
    assert error_lines(refused) == [
        f"titanic: error: the model {model_uri} of run {parents()[0].info.run_id} is gone from "
        "the artifact store: run the pipeline again with -P force=train and promote the new run"
    ]
