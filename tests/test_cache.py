"""How the step cache decides (orchestration/cache/): keys and code digests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from orchestration.cache import keys as cache
from orchestration.record import inputs
from tests.support import passengers, write


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
